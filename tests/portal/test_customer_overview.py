"""The customer overview in the admin: one page with everything about a customer that the
member of staff may see, each section bounded, with the actions taken from there."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts import overview, roles
from accounts.models import Service
from billing.models import Invoice, Payment
from tests import large_customer
from tests.accounts.factories import CustomerFactory, StaffFactory, enable_totp
from tests.billing.factories import issued_invoice
from tests.portal.conftest import staff_client

pytestmark = pytest.mark.django_db


def overview_url(customer) -> str:
    return reverse("admin:accounts_customer_overview", args=[customer.pk])


def section_ids(page: str) -> list[str]:
    return re.findall(r'<section class="module overview-section" id="([^"]+)"', page)


def test_a_superuser_sees_every_section_with_its_actions(busy_customer):
    page = staff_client(superuser=True).get(overview_url(busy_customer)).content.decode()
    assert section_ids(page) == [
        "details", "contacts", "services", "balance", "documents", "payments", "correspondence",
        "privacy-requests", "legal-holds", "audit",
    ]  # fmt: skip
    assert "Acme Widgets Ltd" in page and "SW1A 1AA" in page
    assert "Olive Owner" in page and "owner@acme.example" in page and "Owner" in page
    assert "web-01" in page and "192.0.2.8/29" in page
    assert "Owes £" in page and "Overdue" in page
    assert "BACS ACME" in page and "Server down?" in page and "Dispute over invoice" in page
    assert "Phone number corrected" in page
    pk = busy_customer.pk
    # The actions lead to the existing admin pages, started for this customer.
    for url in (
        reverse("admin:billing_payment_add") + f"?customer={pk}",
        reverse("admin:billing_invoice_add") + f"?customer={pk}&amp;kind=invoice&amp;currency=GBP",
        reverse("admin:privacy_datasubjectrequest_add") + f"?customer={pk}",
        reverse("admin:privacy_legalhold_add") + f"?customer={pk}",
        reverse("admin:accounts_invitation_add") + f"?customer={pk}",
    ):
        assert f'href="{url}"' in page, url
    message = busy_customer.messages.get()
    assert reverse("admin:accounts_message_reply", args=[message.pk]) in page
    # Suspending a service posts the service list's own action, which asks for a reason first.
    assert f'action="{reverse("admin:accounts_service_changelist")}"' in page
    assert 'name="action" value="suspend"' in page


def test_each_group_sees_only_its_sections(busy_customer):
    support = staff_client(roles.SUPPORT_GROUP).get(overview_url(busy_customer)).content.decode()
    assert section_ids(support) == ["details", "contacts", "services", "correspondence", "privacy-requests", "audit"]
    assert "Dispute over invoice" not in support and "Legal holds" not in support
    assert "Owes £" not in support and "Record a payment" not in support

    billing = staff_client(roles.BILLING_GROUP).get(overview_url(busy_customer)).content.decode()
    assert section_ids(billing) == ["details", "contacts", "services", "balance", "documents", "payments",
                                    "correspondence", "audit"]  # fmt: skip
    assert "192.0.2.8/29" not in billing  # billing may see services, not their addresses
    assert "Services and IP addresses" not in billing
    assert "Suspend" not in billing  # nor change their state
    assert "Record a payment" in billing and "New invoice draft" in billing

    abuse = staff_client(roles.ABUSE_GROUP).get(overview_url(busy_customer)).content.decode()
    assert section_ids(abuse) == ["details", "services", "correspondence", "audit"]
    assert "Suspend…" in abuse and "192.0.2.8/29" in abuse

    privacy = staff_client(roles.PRIVACY_GROUP).get(overview_url(busy_customer)).content.decode()
    assert section_ids(privacy) == ["details", "contacts", "services", "correspondence", "privacy-requests",
                                    "legal-holds", "audit"]  # fmt: skip
    assert "Dispute over invoice" in privacy and "Place a hold" in privacy
    assert "Reply" not in privacy  # the privacy officer reads mail, answers through requests


def test_staff_without_the_customer_permission_are_refused_and_customers_never_get_in(busy_customer, client):
    accountant = staff_client(roles.ACCOUNTANT_GROUP)
    assert accountant.get(overview_url(busy_customer)).status_code in (302, 403)
    assert client.get(overview_url(busy_customer)).status_code == 302  # to the admin login
    assert (
        staff_client(superuser=True).get(reverse("admin:accounts_customer_overview", args=[999999])).status_code == 404
    )


def test_each_section_links_to_its_full_list_filtered_to_the_customer(busy_customer):
    admin = staff_client(superuser=True)
    other = CustomerFactory(registered_name="Someone Else Ltd")
    issued_invoice(other)
    invoices = admin.get(reverse("admin:billing_invoice_changelist") + f"?customer={busy_customer.pk}").content.decode()
    assert "Acme Widgets Ltd" in invoices and "Someone Else Ltd" not in invoices
    documents = Invoice.objects.filter(customer=busy_customer)
    assert f"{documents.count()} invoice" in invoices
    services = admin.get(reverse("admin:accounts_service_changelist") + f"?customer={busy_customer.pk}")
    assert services.status_code == 200 and "web-01" in services.content.decode()
    for name in ("billing_payment", "accounts_message", "privacy_datasubjectrequest", "privacy_legalhold"):
        response = admin.get(reverse(f"admin:{name}_changelist") + f"?customer={busy_customer.pk}")
        assert response.status_code == 200, name
        assert "Acme Widgets Ltd" in response.content.decode(), name
    # An id that is no customer's shows nothing, not everything.
    nobody = admin.get(reverse("admin:billing_invoice_changelist") + "?customer=999999").content.decode()
    assert "Someone Else Ltd" not in nobody and "0 invoices" in nobody


def test_a_section_shows_the_latest_few_and_says_how_many_there_are(busy_customer):
    start = dt.date(2020, 1, 1)
    Payment.objects.bulk_create(
        Payment(customer=busy_customer, method="bank_transfer", amount=1, received_on=start + dt.timedelta(days=d),
                reference=f"OLD-{d}")
        for d in range(20)
    )  # fmt: skip
    page = staff_client(roles.BILLING_GROUP).get(overview_url(busy_customer)).content.decode()
    assert "BACS ACME" in page  # the newest
    assert "OLD-0" not in page  # the oldest is only in the full list
    assert f"All {busy_customer.payments.count()}" in page
    assert page.count("OLD-") == overview.SHOWN - 1


def test_the_change_page_and_the_list_lead_to_the_overview(busy_customer):
    admin = staff_client(roles.SUPPORT_GROUP)
    change = admin.get(reverse("admin:accounts_customer_change", args=[busy_customer.pk])).content.decode()
    assert f'href="{overview_url(busy_customer)}"' in change and "Customer overview" in change
    listing = admin.get(reverse("admin:accounts_customer_changelist")).content.decode()
    assert overview_url(busy_customer) in listing


def test_the_home_page_finds_a_customer_and_opens_their_overview(busy_customer):
    CustomerFactory(registered_name="Acme Gadgets Ltd")
    admin = staff_client(roles.SUPPORT_GROUP)
    home = admin.get(reverse("admin:index")).content.decode()
    assert f'action="{reverse("admin:accounts_customer_find")}"' in home and "Find a customer" in home
    find = reverse("admin:accounts_customer_find")
    one = admin.get(find, {"q": "owner@acme.example"})
    assert one.status_code == 302 and one["Location"] == overview_url(busy_customer)
    several = admin.get(find, {"q": "Acme"})
    assert several["Location"] == reverse("admin:accounts_customer_changelist") + "?q=Acme"
    assert admin.get(find, {"q": ""})["Location"] == reverse("admin:accounts_customer_changelist")
    assert "Find a customer" in staff_client(roles.ABUSE_GROUP).get(reverse("admin:index")).content.decode()


def test_suspend_from_the_overview_opens_the_actions_own_page(busy_customer):
    service = busy_customer.services.get()
    admin = staff_client(roles.SUPPORT_GROUP)
    step = admin.post(
        reverse("admin:accounts_service_changelist"), {"action": "suspend", "_selected_action": [service.pk]}
    )
    assert step.status_code == 200 and "Suspend" in step.content.decode() and "reason" in step.content.decode()
    service.refresh_from_db()
    assert service.status == Service.Status.ACTIVE  # nothing happens before the reason is given
    form = {
        "action": "suspend",
        "_selected_action": [service.pk],
        "apply": "Suspend",
        "reason": "Spam",
        "source": "staff",
    }
    done = admin.post(reverse("admin:accounts_service_changelist"), form, follow=True)
    assert "Web-01: suspended; the customer has been emailed." in done.content.decode()  # the admin's capfirst
    service.refresh_from_db()
    assert service.status == Service.Status.SUSPENDED
    page = admin.get(overview_url(busy_customer)).content.decode()
    assert 'name="action" value="restore"' in page


def test_the_add_forms_start_with_the_customer_chosen(busy_customer):
    admin = staff_client(superuser=True)
    for name in ("billing_payment", "billing_invoice", "privacy_datasubjectrequest", "privacy_legalhold",
                 "billing_billingrun", "accounts_invitation"):  # fmt: skip
        page = admin.get(reverse(f"admin:{name}_add"), {"customer": busy_customer.pk}).content.decode()
        assert re.search(rf'<option value="{busy_customer.pk}" selected>', page), name


def test_the_query_count_does_not_grow_with_the_customers_history(provider):
    admin = StaffFactory(is_superuser=True)
    enable_totp(admin)
    client = Client()
    client.force_login(admin)

    def measure(customer) -> int:
        url = overview_url(customer)
        client.get(url)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200
        return len(queries)

    medium = large_customer.build(scale=0.2)
    large = large_customer.build()
    queries_medium, queries_large = measure(medium.customer), measure(large.customer)
    assert queries_large == queries_medium, (queries_medium, queries_large)
    assert queries_large <= 34  # ten sections, the session and the permissions
    page = client.get(overview_url(large.customer)).content.decode()
    assert f"All {large.documents}" in page and f"All {large.messages}" in page
    assert len(page) < 96 * 1024
