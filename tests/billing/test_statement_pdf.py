"""The statement of account as a PDF: what the customer would check on it (opening
balance, each document and payment, closing balance, how to pay), who may download it,
and a wrong period answered with 400 and the reason."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import BytesIO

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from accounts import roles
from accounts.audit import System
from billing.delivery.pdf import render_statement_pdf
from billing.documents.periods import current_financial_year
from billing.models import Payment
from billing.receivables.statements import Statement, StatementEntry
from billing.workflows.settlement import credit_invoice, receive_payment
from tests.accounts.factories import CustomerFactory, MembershipFactory, ProviderDetailsFactory
from tests.billing.factories import BillingSettingsFactory, issued_invoice

MARCH = {"start": "2026-03-01", "end": "2026-03-31"}


def pdf_text(content: bytes) -> str:
    text = "\n".join(page.extract_text() for page in PdfReader(BytesIO(content)).pages)
    return " ".join(text.split())


def client_for(customer, role) -> Client:
    client = Client()
    client.force_login(MembershipFactory(customer=customer, role=role).user)
    return client


@pytest.fixture
def provider(db):
    BillingSettingsFactory(
        bank_account_name="Example Hosting Ltd",
        bank_sort_code="12-34-56",
        bank_account_number="12345678",
    )
    return ProviderDetailsFactory()


@pytest.fixture
def customer(db):
    return CustomerFactory(
        registered_name="Acme Widgets Ltd",
        trading_name="Acme",
        address_line1="10 Downing Lane",
        town="Leeds",
        postcode="LS1 4AP",
    )


@pytest.fixture
def billing_client(customer, provider) -> Client:
    return client_for(customer, roles.Role.BILLING)


@pytest.fixture
def march_account(customer, provider):
    """£120.00 owed on 1 March; in March an invoice of £1,200.00, a credit note of £60.00
    against it and a payment of £120.00; a payment in April, after the period."""
    issued_invoice(customer, lines=[("VPS hosting, February", 1, "100.00")], issued_on=dt.date(2026, 2, 2))
    invoice = issued_invoice(customer, lines=[("Dedicated server, March", 1, "1000.00")], issued_on=dt.date(2026, 3, 2))
    note = credit_invoice(
        invoice,
        lines=[
            {
                "description": "Outage credit",
                "quantity": Decimal("1"),
                "unit_price": Decimal("50.00"),
                "vat_rate": Decimal("20"),
            }
        ],
        reason="Outage on 5 March",
        issued_on=dt.date(2026, 3, 10),
        actor=System("tests"),
    )
    receive_payment(
        customer,
        amount="120.00",
        received_on=dt.date(2026, 3, 15),
        method=Payment.Method.BANK_TRANSFER,
        reference="BACS-0042",
        actor=System("tests"),
    )
    receive_payment(
        customer,
        amount="999.00",
        received_on=dt.date(2026, 4, 5),
        method=Payment.Method.BANK_TRANSFER,
        reference="BACS-APRIL",
        actor=System("tests"),
    )
    return invoice, note


def test_billing_contact_downloads_the_statement_with_every_document_and_payment(billing_client, march_account):
    invoice, note = march_account

    response = billing_client.get(reverse("billing:statement_pdf"), MARCH)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="statement-2026-03-01-2026-03-31.pdf"'
    text = pdf_text(response.content)
    assert "Statement of account" in text
    assert "Period 1 Mar 2026 – 31 Mar 2026" in text
    # Seller with its trading disclosures; the customer by its legal name and address.
    assert "Example Hosting Ltd" in text
    assert "registered in England and Wales, company number 01234567" in text
    assert "Acme Widgets Ltd" in text and "Trading as Acme" in text
    assert "10 Downing Lane" in text and "LS1 4AP" in text
    # Opening balance, each entry with its running balance, totals and the closing balance.
    assert "Opening balance £120.00" in text
    assert f"2 Mar 2026 {invoice.number} Invoice £1,200.00 £1,320.00" in text
    assert f"10 Mar 2026 {note.number} Credit note for {invoice.number} £60.00 £1,260.00" in text
    assert "15 Mar 2026 BACS-0042 Payment by bank transfer £120.00 £1,140.00" in text
    assert "Total debits £1,200.00" in text and "Total credits £180.00" in text
    assert "Amount due on 31 March 2026 £1,140.00" in text
    assert "BACS-APRIL" not in text
    # Something is due, so how to pay it.
    assert "Please pay £1,140.00" in text
    assert "12-34-56" in text and "12345678" in text


def test_owner_downloads_it_too(owner_client, march_account):
    assert owner_client.get(reverse("billing:statement_pdf"), MARCH).status_code == 200


def test_statement_in_credit_says_so_and_asks_for_nothing(billing_client, customer, provider):
    receive_payment(
        customer,
        amount="50.00",
        received_on=dt.date(2026, 3, 3),
        method=Payment.Method.BANK_TRANSFER,
        actor=System("tests"),
    )

    text = pdf_text(billing_client.get(reverse("billing:statement_pdf"), MARCH).content)

    assert "In credit on 31 March 2026 £50.00" in text
    assert "How to pay" not in text and "12345678" not in text


def test_statement_is_rendered_on_each_request_not_stored(billing_client, march_account, settings):
    billing_client.get(reverse("billing:statement_pdf"), MARCH)

    stored = [path for path in settings.PRIVATE_STORAGE_DIR.rglob("*") if path.is_file()]
    assert stored == []


def test_new_kinds_of_entry_are_shown_by_their_description(customer, provider):
    """A kind the template has never heard of (a refund, say) is just a row with a debit."""
    entries = [
        StatementEntry(
            dt.date(2026, 3, 20),
            "refund",
            "RF-7",
            "Refund to card",
            Decimal("25.00"),
            Decimal("0.00"),
            Decimal("-15.00"),
        ),
    ]
    stmt = Statement(customer, dt.date(2026, 3, 1), dt.date(2026, 3, 31), Decimal("-40.00"), Decimal("-15.00"), entries)

    text = pdf_text(render_statement_pdf(stmt))

    assert "20 Mar 2026 RF-7 Refund to card £25.00 -£15.00" in text
    assert "In credit on 31 March 2026 £15.00" in text


def test_query_count_does_not_grow_with_entries(billing_client, customer, march_account, django_assert_max_num_queries):
    for day in range(16, 31):
        receive_payment(
            customer,
            amount="1.00",
            received_on=dt.date(2026, 3, day),
            method=Payment.Method.BANK_TRANSFER,
            actor=System("tests"),
        )
    # Constant: session, user, membership, provider details and billing settings, the account.
    with django_assert_max_num_queries(13):
        response = billing_client.get(reverse("billing:statement_pdf"), MARCH)
    assert response.status_code == 200


def test_technical_contact_is_refused(customer, march_account):
    client = client_for(customer, roles.Role.TECHNICAL)
    assert client.get(reverse("billing:statement_pdf"), MARCH).status_code == 403


@pytest.mark.parametrize(
    ("period", "problem"),
    [
        ({"start": "2026-03-31", "end": "2026-03-01"}, "The end date must be on or after the start date."),
        ({"start": "yesterday", "end": "2026-03-31"}, "From: Enter a valid date."),
        ({"start": "2026-03-01", "end": "2026-02-30"}, "To: Enter a valid date."),
        ({"start": "2026-03-01"}, "To: This field is required."),
        ({"start": "0001-01-01", "end": "2026-03-31"}, "From: Enter a start date after 1 January 0001."),
    ],
)
def test_a_wrong_period_is_refused_naming_the_problem(billing_client, provider, period, problem):
    response = billing_client.get(reverse("billing:statement_pdf"), period)

    assert response.status_code == 400
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert problem in response.content.decode()


def test_statement_page_links_to_the_pdf_for_the_period_shown(billing_client, march_account):
    response = billing_client.get(reverse("billing:statement"), MARCH)

    assert response.status_code == 200
    link = f'href="{reverse("billing:statement_pdf")}?start=2026-03-01&amp;end=2026-03-31"'
    assert link in response.content.decode()
    assert "Download as PDF" in response.content.decode()


def test_without_a_period_both_show_the_current_financial_year(billing_client, provider):
    start, end = current_financial_year(timezone.localdate())

    page = billing_client.get(reverse("billing:statement")).content.decode()
    download = billing_client.get(reverse("billing:statement_pdf"))

    assert f"?start={start.isoformat()}&amp;end={end.isoformat()}" in page
    assert download.status_code == 200
    assert download["Content-Disposition"] == f'attachment; filename="statement-{start}-{end}.pdf"'
