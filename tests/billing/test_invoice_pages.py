"""The portal's invoice pages: list, detail and PDF download, for billing contacts and owners only."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

from accounts import roles
from accounts.audit import System
from billing.models import BillingSettings, Invoice, Payment, PaymentAllocation
from tests.accounts.factories import MembershipFactory
from tests.billing.factories import issued_invoice

ISSUED = dt.date(2026, 3, 2)


@pytest.fixture
def invoice(customer, provider):
    return issued_invoice(customer, lines=[("VPS hosting", 1, "50.00")], issued_on=ISSUED)


def client_for(customer, role) -> Client:
    client = Client()
    client.force_login(MembershipFactory(customer=customer, role=role).user)
    return client


def test_list_shows_documents_with_balance_due(owner_client, customer, invoice):
    payment = Payment.objects.create(
        customer=customer, method=Payment.Method.BANK_TRANSFER, amount=Decimal("20.00"), received_on=ISSUED
    )
    PaymentAllocation.objects.create(payment=payment, invoice=invoice, amount=Decimal("20.00"))

    response = owner_client.get(reverse("billing:invoices"))

    assert response.status_code == 200
    content = response.content.decode()
    assert invoice.number in content
    assert "£60.00" in content  # total
    assert "£40.00" in content  # balance due after the £20 part-payment
    assert reverse("billing:invoice_pdf", args=[invoice.pk]) in content


def test_billing_contact_sees_the_list(customer, invoice):
    response = client_for(customer, roles.Role.BILLING).get(reverse("billing:invoices"))
    assert response.status_code == 200
    assert invoice.number in response.content.decode()


def test_list_query_count_does_not_grow_with_invoices(owner_client, customer, provider, django_assert_max_num_queries):
    for month in range(1, 11):
        issued_invoice(customer, issued_on=dt.date(2026, month, 1), period_start=dt.date(2026, month, 1))
    # Session, user, membership, switcher; the years, the count with what is due, the page;
    # a notice of suspension and debts with an agency.
    with django_assert_max_num_queries(11):
        response = owner_client.get(reverse("billing:invoices"))
    assert response.status_code == 200
    assert response.content.decode().count("/pdf/") == 10


def test_detail_shows_lines_and_totals(owner_client, invoice):
    response = owner_client.get(reverse("billing:invoice_detail", args=[invoice.pk]))
    assert response.status_code == 200
    content = response.content.decode()
    assert "VPS hosting" in content and invoice.number in content and "60.00" in content


def test_pdf_download_returns_exactly_the_stored_file(owner_client, invoice):
    first = owner_client.get(reverse("billing:invoice_pdf", args=[invoice.pk]))
    invoice.refresh_from_db()
    with default_storage.open(invoice.pdf.name, "rb") as handle:
        stored = handle.read()

    second = owner_client.get(reverse("billing:invoice_pdf", args=[invoice.pk]))

    assert first.status_code == 200
    assert first["Content-Type"] == "application/pdf"
    assert first["Content-Disposition"] == f'attachment; filename="{invoice.number}.pdf"'
    assert first.content == stored == second.content
    assert Invoice.objects.get(pk=invoice.pk).pdf.name == invoice.pdf.name


def test_another_customers_invoice_and_pdf_answer_404(other_customer_client, invoice):
    for name in ("billing:invoice_detail", "billing:invoice_pdf"):
        assert other_customer_client.get(reverse(name, args=[invoice.pk])).status_code == 404
    assert invoice.number not in other_customer_client.get(reverse("billing:invoices")).content.decode()


def test_technical_contact_is_refused_billing(customer, invoice):
    client = client_for(customer, roles.Role.TECHNICAL)
    for url in (
        reverse("billing:invoices"),
        reverse("billing:invoice_detail", args=[invoice.pk]),
        reverse("billing:invoice_pdf", args=[invoice.pk]),
    ):
        assert client.get(url).status_code == 403


def test_drafts_are_not_shown(owner_client, customer, provider):
    from tests.billing.factories import InvoiceFactory

    draft = InvoiceFactory(customer=customer)
    assert owner_client.get(reverse("billing:invoice_detail", args=[draft.pk])).status_code == 404


def test_unpaid_invoices_past_their_due_date_show_as_overdue(owner_client, customer, provider):
    from django.utils import timezone

    from billing.workflows.settlement import receive_payment

    today = timezone.localdate()
    # Issued in date order, as numbers must follow dates.
    paid_late = issued_invoice(
        customer, issued_on=today - dt.timedelta(days=BillingSettings.current().payment_terms_days + 5)
    )
    late = issued_invoice(
        customer, issued_on=today - dt.timedelta(days=BillingSettings.current().payment_terms_days + 1)
    )
    current = issued_invoice(customer, issued_on=today)
    receive_payment(customer, amount=paid_late.total_gross, received_on=today, method="card",
                   allocate_to=[(paid_late, paid_late.total_gross)], actor=System("tests"))  # fmt: skip

    page = owner_client.get(reverse("billing:invoices")).content.decode()

    rows = {inv.number: page.split(inv.number, 1)[1].split("</tr>")[0] for inv in (late, current, paid_late)}
    assert "Overdue (issued)" in rows[late.number] and "status-overdue" in rows[late.number]
    assert "Overdue" not in rows[current.number] and "Overdue" not in rows[paid_late.number]
    assert list(Invoice.objects.overdue()) == [late]


def _amounts(text: str) -> set[str]:
    """Every amount of money in ``text``, as printed: "£1,234.50", "€20.00"."""
    import re

    return set(re.findall(r"(?:£|€|US\$)-?\d[\d,]*\.\d{2}", text))


def _main(response) -> str:
    page = response.content.decode()
    return page.split("<main", 1)[1].split("</main>", 1)[0]


@pytest.mark.parametrize("currency", ["GBP", "EUR"])
def test_every_amount_on_the_page_equals_the_pdfs(owner_client, customer, provider, currency):
    from billing.delivery.pdf import render_invoice_pdf
    from billing.issuing import add_line, issue_invoice
    from billing.workflows.settlement import credit_invoice, receive_payment
    from tests.billing.factories import InvoiceFactory
    from tests.billing.test_pdf import pdf_text

    customer.currency = currency
    customer.save()
    rate = {"gbp_rate": Decimal("0.853100"), "gbp_rate_source": "HMRC", "gbp_rate_date": ISSUED}
    draft = InvoiceFactory(customer=customer, currency=currency, **(rate if currency != "GBP" else {}))
    add_line(draft, description="VPS hosting", quantity=3, unit_price="9.99")
    add_line(draft, description="Backups", quantity=1, unit_price="4.17", vat_category="reduced")
    add_line(draft, description="Printed manual", quantity=2, unit_price="12.50", vat_category="zero")
    invoice = issue_invoice(draft, issued_on=ISSUED, actor=System("tests"))
    receive_payment(customer, amount="10.00", received_on=ISSUED, method="card", reference="CARD-1",
                    allocate_to=[(invoice, "10.00")], actor=System("tests"))  # fmt: skip
    note = credit_invoice(
        invoice, reason="Backups not run", lines=[{"description": "Backups", "quantity": 1,
                                                   "unit_price": "4.17", "vat_category": "reduced"}],
        actor=System("tests"),
    )  # fmt: skip

    for document in (Invoice.objects.get(pk=invoice.pk), note):
        page = _amounts(_main(owner_client.get(reverse("billing:invoice_detail", args=[document.pk]))))
        pdf = _amounts(pdf_text(render_invoice_pdf(document)))
        assert len(pdf) >= 3
        assert page == pdf, f"{document}: only on the page {page - pdf}, only in the PDF {pdf - page}"


def test_a_technical_contact_refused_billing_is_told_which_roles_may_see_it(customer, invoice):
    client = client_for(customer, roles.Role.TECHNICAL)

    for url in (reverse("billing:invoices"), reverse("billing:invoice_detail", args=[invoice.pk])):
        page = " ".join(client.get(url).content.decode().split())
        assert "only owners and billing contacts may see invoices, payments and statements" in page
        assert "only an owner may" not in page


def _rows(response) -> int:
    return response.content.decode().count("/pdf/")


def test_list_is_paginated_newest_first_with_the_total(owner_client, customer, provider):
    for day in range(1, 31):
        issued_invoice(customer, issued_on=dt.date(2025, 6, day), period_start=dt.date(2025, 6, day))
    first = owner_client.get(reverse("billing:invoices"))
    content = first.content.decode()
    assert _rows(first) == 25
    assert "1–25 of 30 documents" in content
    newest = Invoice.objects.get(customer=customer, issued_on=dt.date(2025, 6, 30))
    assert newest.number in content
    second = owner_client.get(reverse("billing:invoices"), {"page": 2})
    assert _rows(second) == 5 and "26–30 of 30 documents" in second.content.decode()
    # A page past the end shows the last; nonsense shows the first.
    assert _rows(owner_client.get(reverse("billing:invoices"), {"page": 99})) == 5
    assert _rows(owner_client.get(reverse("billing:invoices"), {"page": "x"})) == 25


def test_filters_by_year_and_unpaid_and_keep_the_filter_in_page_links(owner_client, customer, provider):
    for month in range(1, 13):
        issued_invoice(customer, issued_on=dt.date(2024, month, 1), period_start=dt.date(2024, month, 1))
    for day in range(1, 28):
        issued_invoice(customer, issued_on=dt.date(2025, 1, day), period_start=dt.date(2025, 1, day))
    paid = Invoice.objects.get(customer=customer, issued_on=dt.date(2024, 3, 1))
    payment = Payment.objects.create(
        customer=customer, method=Payment.Method.BANK_TRANSFER, amount=paid.total_gross, received_on=dt.date(2024, 3, 5)
    )
    PaymentAllocation.objects.create(payment=payment, invoice=paid, amount=paid.total_gross)
    Invoice.objects.filter(pk=paid.pk).update(status=Invoice.Status.PAID)

    year = owner_client.get(reverse("billing:invoices"), {"year": 2024})
    assert _rows(year) == 12 and "12 documents" in year.content.decode()
    unpaid = owner_client.get(reverse("billing:invoices"), {"year": 2024, "show": "unpaid"})
    content = unpaid.content.decode()
    assert _rows(unpaid) == 11 and paid.number not in content
    assert "Due on these documents: <strong>£132.00</strong>" in content  # 11 × £12
    paged = owner_client.get(reverse("billing:invoices"), {"year": 2025}).content.decode()
    assert "?year=2025&amp;page=2" in paged
    assert '<option value="2024">2024</option>' in paged  # the years offered are the customer's
    # A year not offered or a show value that does not exist is ignored: the whole list.
    assert _rows(owner_client.get(reverse("billing:invoices"), {"year": 1999, "show": "nonsense"})) == 25


def test_credit_notes_and_overdue_filters(owner_client, customer, provider):
    from billing.workflows.settlement import credit_invoice

    old = issued_invoice(customer, issued_on=dt.date(2020, 1, 1), period_start=dt.date(2020, 1, 1))
    credited = issued_invoice(customer, issued_on=dt.date(2020, 2, 1), period_start=dt.date(2020, 2, 1))
    note = credit_invoice(credited, reason="Duplicate", issued_on=dt.date(2020, 2, 2), actor=System("tests"))
    notes = owner_client.get(reverse("billing:invoices"), {"show": "credit_notes"}).content.decode()
    assert note.number in notes and old.number not in notes
    overdue = owner_client.get(reverse("billing:invoices"), {"show": "overdue"}).content.decode()
    assert old.number in overdue and credited.number not in overdue and note.number not in overdue
    none = owner_client.get(reverse("billing:invoices"), {"show": "overdue", "year": 2020, "page": 3})
    assert none.status_code == 200
