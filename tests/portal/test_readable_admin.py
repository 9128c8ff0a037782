"""The admin reads as records, not database rows: labels in plain words, View on pages that
edit nothing, customers chosen by search, one Accounts section, and privacy requests
listed by who asked and the days left."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import roles
from billing.models import Invoice
from privacy.models import DataSubjectRequest
from tests.accounts.factories import StaffFactory, enable_totp
from tests.billing.factories import InvoiceFactory, InvoiceLineFactory
from tests.portal.conftest import staff_client

pytestmark = pytest.mark.django_db

# Labels Django makes from a field's name when nobody gave it one.
FIELD_NAME_LABELS = re.compile(
    r">(Vat \w+|Gbp \w+|Total vat[^<]*|Pdf[^<]*|[^<]*sha256|Ip address|Source ip|Total net gbp):?<"
)


def _editable_inputs(page: str) -> list[str]:
    form = page[page.find('<div id="content-main">') :]
    return [
        attrs
        for _, attrs in re.findall(r"<(input|select|textarea)\b([^>]*)>", form)
        if 'type="hidden"' not in attrs and 'type="submit"' not in attrs
    ]


def test_an_issued_invoice_reads_in_plain_words(busy_customer):
    invoice = Invoice.objects.filter(customer=busy_customer).exclude(status=Invoice.Status.DRAFT).get()
    page = staff_client(roles.BILLING_GROUP).get(reverse("admin:billing_invoice_change", args=[invoice.pk]))
    html = page.content.decode()
    assert "VAT rule" in html and "UK rates (customer in the UK VAT area)" in html
    assert ">uk_rate<" not in html
    for label in ("Sterling rate", "Total VAT", "SHA-256 of the PDF", "VAT wording"):
        assert label in html, label
    assert FIELD_NAME_LABELS.findall(html) == []
    assert "<h1>View invoice</h1>" in html


def test_every_page_that_edits_nothing_says_view_and_offers_no_save(busy_customer):
    """Every admin page of a record, as a superuser sees it: where nothing on it can be
    edited, it is a view page (its changes are the list's actions or pages of their own)."""
    client = staff_client(superuser=True)
    checked = []
    for model in admin.site._registry:
        obj = model._default_manager.order_by("-pk").first()
        if obj is None:
            continue
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[obj.pk])
        page = client.get(url).content.decode()
        title = re.search(r"<h1>(.*?)</h1>", page, re.S).group(1).strip()
        if not _editable_inputs(page):
            checked.append(model._meta.label)
            assert title.startswith("View "), (model._meta.label, title)
            assert 'name="_save"' not in page, model._meta.label
    assert {"accounts.Message", "billing.Payment", "accounts.AuditEvent"} <= set(checked)


def test_a_draft_credit_note_has_its_issue_button_and_an_issued_document_none(busy_customer):
    client = staff_client(roles.BILLING_GROUP)
    original = Invoice.objects.filter(customer=busy_customer).exclude(status=Invoice.Status.DRAFT).get()
    note = InvoiceFactory(customer=busy_customer, kind=Invoice.Kind.CREDIT_NOTE, corrects=original, reason="Downtime")
    InvoiceLineFactory(invoice=note)
    draft_page = client.get(reverse("admin:billing_invoice_change", args=[note.pk])).content.decode()
    assert 'name="_issue"' in draft_page and "Save and issue" in draft_page
    issued_page = client.get(reverse("admin:billing_invoice_change", args=[original.pk])).content.decode()
    assert 'name="_issue"' not in issued_page
    # Staff who may only view documents get no button and cannot post one.
    person = StaffFactory()
    person.user_permissions.add(Permission.objects.get(codename="view_invoice"))
    enable_totp(person)
    viewer = Client()
    viewer.force_login(person)
    viewer_page = viewer.get(reverse("admin:billing_invoice_change", args=[note.pk])).content.decode()
    assert 'name="_issue"' not in viewer_page
    refused = viewer.post(reverse("admin:billing_invoice_change", args=[note.pk]), {"_issue": "Save and issue"})
    assert refused.status_code == 403
    note.refresh_from_db()
    assert note.status == Invoice.Status.DRAFT


def test_customers_are_chosen_by_search_on_every_admin_form(busy_customer):
    client = staff_client(superuser=True)
    message = busy_customer.messages.get()
    forms = [
        reverse(f"admin:{name}_add")
        for name in (
            "billing_payment", "billing_refund", "billing_invoice", "billing_oneoffcharge", "billing_billingrun",
            "billing_collectionspause", "billing_letter", "billing_handoff", "billing_suspensionnotice",
            "billing_latepaymentcharge", "privacy_legalhold", "privacy_datasubjectrequest", "accounts_invitation",
            "accounts_service",
        )
    ]  # fmt: skip
    forms += [reverse("admin:accounts_message_assign", args=[message.pk]), reverse("admin:privacy_dataexport_start")]
    for url in forms:
        page = client.get(url).content.decode()
        customer_field = re.search(r'<select[^>]*name="customer"[^>]*>', page)
        assert customer_field, url
        assert "admin-autocomplete" in customer_field.group(0), (url, customer_field.group(0))
        assert "autocomplete.js" in page, url  # the widget's script is on the page
    subscription = client.get(reverse("admin:billing_subscription_add")).content.decode()
    assert "admin-autocomplete" in re.search(r'<select[^>]*name="service"[^>]*>', subscription).group(0)


def test_the_admin_index_has_one_accounts_section(busy_customer):
    page = staff_client(superuser=True).get(reverse("admin:index")).content.decode()
    captions = re.findall(r'<caption>\s*<a[^>]*class="section"[^>]*>([^<]+)</a>', page)
    assert captions.count("Accounts") == 1, captions
    assert "Login email addresses" in captions


def test_the_privacy_request_list_shows_who_asked_and_the_days_left(busy_customer):
    DataSubjectRequest.objects.create(
        kind=DataSubjectRequest.Kind.ERASURE, channel=DataSubjectRequest.Channel.STAFF, requester_name="Pat Public",
        requester_email="pat@example.org", status=DataSubjectRequest.Status.OPEN,
        received_at=timezone.now() - dt.timedelta(days=40), due_on=timezone.localdate() - dt.timedelta(days=3),
    )  # fmt: skip
    page = staff_client(roles.PRIVACY_GROUP).get(reverse("admin:privacy_datasubjectrequest_changelist"))
    html = page.content.decode()
    header = html.split("<thead>")[1].split("</thead>")[0]
    assert "Requester" in header and "Days left" in header and "Channel" not in header
    assert "Acme Widgets Ltd" in html and "Pat Public" in html
    assert '<strong class="days-left overdue">3 overdue</strong>' in html
    assert 'style="' not in html.split('id="result_list"')[1].split("</table>")[0]  # the CSP allows no inline style
    assert "privacy/admin.css" in html
