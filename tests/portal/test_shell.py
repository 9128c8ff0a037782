from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from accounts import roles
from accounts.middleware import SESSION_CUSTOMER_KEY
from accounts.models import Service
from tests.accounts.factories import (
    CustomerFactory,
    IPAssignmentFactory,
    MembershipFactory,
    ServiceFactory,
    UserFactory,
    enable_totp,
)

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("portal:dashboard")


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _accountant():
    person = UserFactory()
    person.groups.add(Group.objects.get(name=roles.ACCOUNTANT_GROUP))
    enable_totp(person)
    return person


def _assert_disclosures(html: str) -> None:
    for text in (
        "Example Hosting Ltd",
        "is registered in England and Wales",
        "company number 01234567",
        "registered office: 1 Example Street, Exampletown, EX1 1AA",
        "VAT number GB980780684",
        "support@hosting.example",
        "billing@hosting.example",
        "abuse@hosting.example",
        "privacy@hosting.example",
    ):
        assert text in html, f"footer lacks {text!r}"


def test_dashboard_shows_the_customers_name_services_and_contacts(owner_client, owner, customer):
    ServiceFactory(customer=customer, name="web-01")
    ServiceFactory(customer=customer, name="db-01", status=Service.Status.SUSPENDED)
    ServiceFactory(name="someone-elses-server")

    response = owner_client.get(DASHBOARD)

    assert response.status_code == 200
    html = response.content.decode()
    assert customer.display_name in html
    assert "web-01" in html and "db-01" in html and "Suspended" in html
    assert "someone-elses-server" not in html
    assert owner.email in html
    assert "Active" in html  # account status


def test_pages_need_a_login(client):
    response = client.get(DASHBOARD)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_a_person_without_customers_is_told_why_the_portal_is_empty(provider, user):
    response = _client_for(user).get(DASHBOARD)

    assert response.status_code == 200
    assert "not linked to a customer account" in response.content.decode()


def test_an_accountant_without_customers_is_sent_to_the_accounting_area(provider):
    response = _client_for(_accountant()).get(DASHBOARD)

    assert response.status_code == 302
    assert response["Location"] == reverse("accounting:home")


def test_switcher_changes_the_customer_the_person_acts_for(owner_client, owner, customer):
    second = CustomerFactory(registered_name="Zebra Hosting Ltd")
    MembershipFactory(user=owner, customer=second, role=roles.Role.TECHNICAL)
    ServiceFactory(customer=second, name="zebra-01")

    before = owner_client.get(DASHBOARD).content.decode()
    assert 'name="customer"' in before  # the switcher is shown to a person with two customers
    assert "zebra-01" not in before

    response = owner_client.post(reverse("portal:switch_customer"), {"customer": second.pk})

    assert response.status_code == 302
    assert owner_client.session[SESSION_CUSTOMER_KEY] == second.pk
    after = owner_client.get(DASHBOARD).content.decode()
    assert "zebra-01" in after
    assert "Technical contact" in after


def test_switcher_refuses_a_customer_the_person_does_not_belong_to(owner_client, customer):
    foreign = CustomerFactory()

    response = owner_client.post(reverse("portal:switch_customer"), {"customer": foreign.pk})

    assert response.status_code == 404
    assert owner_client.session.get(SESSION_CUSTOMER_KEY) != foreign.pk
    assert customer.display_name in owner_client.get(DASHBOARD).content.decode()


def test_switcher_is_post_only(owner_client, customer):
    assert owner_client.get(reverse("portal:switch_customer"), {"customer": customer.pk}).status_code == 405


def test_no_switcher_for_a_person_with_one_customer(owner_client):
    assert 'name="customer"' not in owner_client.get(DASHBOARD).content.decode()


def test_navigation_follows_the_role(provider, customer):
    technical = MembershipFactory(customer=customer, role=roles.Role.TECHNICAL).user

    html = _client_for(technical).get(DASHBOARD).content.decode()

    assert reverse("accounts:services") in html
    assert reverse("accounts:contacts") in html
    assert "Manage contacts" not in html


def test_accounting_home_shows_the_provider_and_the_accountants_own_login(provider):
    accountant = _accountant()

    response = _client_for(accountant).get(reverse("accounting:home"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Example Hosting Ltd" in html
    assert accountant.email in html
    assert accountant.full_name in html
    assert "Authenticator App" in html or "TOTP" in html


def test_accounting_home_is_not_found_for_customers(owner_client):
    assert owner_client.get(reverse("accounting:home")).status_code == 404


def test_accountants_reach_nothing_else(provider, customer):
    accountant = _accountant()
    MembershipFactory(user=accountant, customer=customer)

    response = _client_for(accountant).get(reverse("accounts:services"))

    assert response.status_code == 302
    assert response["Location"] == reverse("accounting:home")


def test_footer_disclosures_on_the_dashboard(owner_client):
    _assert_disclosures(owner_client.get(DASHBOARD).content.decode())


def test_footer_disclosures_on_the_login_page(client, provider):
    response = client.get(reverse("account_login"))

    assert response.status_code == 200
    _assert_disclosures(response.content.decode())
    assert "sign up" not in response.content.decode().lower()  # there is no open registration


def test_footer_disclosures_on_the_accounting_page(provider):
    _assert_disclosures(_client_for(_accountant()).get(reverse("accounting:home")).content.decode())


def test_footer_disclosures_on_mfa_pages(owner_client):
    _assert_disclosures(owner_client.get(reverse("mfa_index")).content.decode())


def test_pages_render_without_provider_details(customer, owner):
    response = _client_for(owner).get(DASHBOARD)

    assert response.status_code == 200
    assert "is registered in" not in response.content.decode()


def test_dashboard_query_count_does_not_grow_with_services(owner_client, customer, django_assert_max_num_queries):
    for _ in range(15):
        IPAssignmentFactory(service=ServiceFactory(customer=customer))
        MembershipFactory(customer=customer, role=roles.Role.TECHNICAL)

    # 9 before the billing summary, +4 for account_balance (invoices, credit notes, payments, refunds),
    # +1 for this month's bandwidth (subscriptions with usage terms: none here, so no samples read).
    with django_assert_max_num_queries(14):
        response = owner_client.get(DASHBOARD)

    assert response.status_code == 200


def test_navigation_links_every_section_once_with_clean_markup(owner_client):
    page = owner_client.get(reverse("portal:dashboard")).content.decode()
    nav = page[page.index('<nav class="main-nav"') : page.index("</nav>", page.index('<nav class="main-nav"'))]
    for label in ("Dashboard", "Services", "Contacts", "Correspondence", "Customer details", "Privacy"):
        assert nav.count(f">{label}</a>") == 1, label
    assert "</li>>" not in page and "&gt;Customer" not in page


def test_dashboard_lists_a_page_of_current_services_and_of_contacts_each_turned_on_its_own(
    owner_client, owner, customer
):
    for i in range(12):
        ServiceFactory(customer=customer, name=f"web-{i:02d}")
    ServiceFactory(customer=customer, name="aa-old", status=Service.Status.ENDED)
    for i in range(11):
        MembershipFactory(customer=customer, role=roles.Role.TECHNICAL, user=UserFactory(email=f"z{i:02d}@example.com"))

    first = owner_client.get(DASHBOARD).content.decode()
    both_turned = owner_client.get(DASHBOARD, {"services": 2, "contacts": 2}).content.decode()

    assert "1–10 of 12 current services" in first and "web-09" in first and "web-10" not in first
    assert "aa-old" not in first and "1 ended service is listed" in first
    assert "1–10 of 12 contacts" in first and "z08@example.com" in first and "z09@example.com" not in first
    assert 'href="?services=2" rel="next"' in first and 'href="?contacts=2" rel="next"' in first
    assert "11–12 of 12 current services" in both_turned and "web-11" in both_turned and "web-09" not in both_turned
    assert "11–12 of 12 contacts" in both_turned and "z10@example.com" in both_turned
    # Turning one list's page keeps the other's.
    assert 'href="?services=1&amp;contacts=2" rel="prev"' in both_turned


def test_dashboard_next_invoice_counts_services_on_every_page(owner_client, customer):
    from billing.models import Subscription
    from tests.billing.factories import SubscriptionFactory

    for i in range(12):
        SubscriptionFactory(service=ServiceFactory(customer=customer, name=f"web-{i:02d}"))
    Subscription.objects.update(started_on="2026-01-01", billed_until="2026-11-30")
    last = Subscription.objects.get(service__name="web-11")  # on the dashboard's second page
    last.billed_until = "2026-10-31"
    last.save()

    assert "For the period from 1 November 2026" in owner_client.get(DASHBOARD).content.decode()


def test_footer_reads_the_provider_once_and_sees_a_saved_change_at_once(owner_client, provider):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    owner_client.get(DASHBOARD)
    with CaptureQueriesContext(connection) as queries:
        owner_client.get(DASHBOARD)
    assert not [q for q in queries.captured_queries if "accounts_providerdetails" in q["sql"]]

    provider.support_email = "help@hosting.example"
    provider.save()
    assert "help@hosting.example" in owner_client.get(DASHBOARD).content.decode()
    provider.delete()
    assert "is registered in" not in owner_client.get(DASHBOARD).content.decode()
