"""Billing records and the privacy engines (issue 4, "Privacy"; DOMAIN.md §5).

Invoices, credit notes and payments are kept 6 years from the end of the provider's
financial year: an erasure request keeps them and says why, and the retention sweep
removes them (with their PDFs) once those years are over — on PostgreSQL too, where
triggers refuse every other deletion of an issued document.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.storage import default_storage
from django.db import DatabaseError, connection, transaction

from accounts import roles
from billing.models import Invoice, InvoiceLine, Payment, PaymentAllocation
from billing.payments import record_payment
from billing.pdf import store_invoice_pdf
from privacy.services.erasure import erasure_notice, erasure_plan, execute_erasure
from privacy.services.retention import sweep
from tests.accounts.factories import MembershipFactory, StaffFactory
from tests.billing.factories import issued_invoice

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _financial_year_ends_31_march(settings):
    settings.PORTAL_FINANCIAL_YEAR_END = (3, 31)


def _paid_invoice(customer, issued_on: dt.date) -> Invoice:
    invoice = issued_invoice(customer, issued_on=issued_on)
    record_payment(customer, amount=invoice.total_gross, received_on=issued_on, method=Payment.Method.BANK_TRANSFER)
    return store_invoice_pdf(invoice)


def test_erasure_keeps_invoices_and_payments_as_issued_and_says_why(customer, provider):
    contact = MembershipFactory(customer=customer, role=roles.Role.OWNER).user
    invoice = _paid_invoice(customer, dt.date(2026, 3, 10))
    before = Invoice.objects.values().get(pk=invoice.pk)

    run = execute_erasure(customer=customer, actor=StaffFactory())

    assert Invoice.objects.values().get(pk=invoice.pk) == before
    assert invoice.buyer["registered_name"] == customer.registered_name and invoice.buyer["address"]
    assert Payment.objects.filter(customer=customer).count() == 1
    contact.refresh_from_db()
    assert contact.email == f"erased-{contact.pk}@invalid"  # the person goes; the VAT record stays
    kept = erasure_notice(run).split("What we kept, and why")[1]
    assert "VAT invoices and credit notes must be kept for 6 years" in kept
    assert "on or after 31 March 2032" in kept  # issued in the year ending 31 March 2026


def test_the_erasure_plan_keeps_each_billing_record_until_its_six_years_end(customer, provider):
    _paid_invoice(customer, dt.date(2026, 4, 1))  # the year ending 31 March 2027

    plan = {item["model"]: item for item in erasure_plan(customer=customer)}

    assert plan["billing.Invoice"]["action"] == "keep" and plan["billing.Invoice"]["keep_until"] == "2033-03-31"
    assert plan["billing.Payment"]["action"] == "keep" and plan["billing.Payment"]["keep_until"] == "2033-03-31"


def test_the_sweep_removes_documents_whose_six_years_are_over_with_their_pdfs(
    customer, provider, django_capture_on_commit_callbacks
):
    old = _paid_invoice(customer, dt.date(2018, 6, 1))  # year ending 31 March 2019: kept until 31 March 2025
    recent = _paid_invoice(customer, dt.date(2019, 6, 1))  # year ending 31 March 2020: until 31 March 2026
    pdf = old.pdf.name
    assert default_storage.exists(pdf)

    with django_capture_on_commit_callbacks(execute=True):
        report = sweep(dry_run=False, today=dt.date(2025, 3, 31))

    done = {entry.model: entry.done for entry in report.models}
    assert done["billing.Invoice"] == 1 and done["billing.Payment"] == 1
    assert not Invoice.objects.filter(pk=old.pk).exists()
    assert not InvoiceLine.objects.filter(invoice_id=old.pk).exists()
    assert not PaymentAllocation.objects.filter(invoice_id=old.pk).exists()
    assert not default_storage.exists(pdf)
    recent.refresh_from_db()
    assert recent.status == Invoice.Status.PAID and default_storage.exists(recent.pdf.name)
    assert recent.allocations.count() == 1


def test_outside_the_sweep_an_expired_issued_invoice_still_cannot_be_deleted(customer, provider):
    if connection.vendor != "postgresql":
        pytest.skip("the database-level refusal is PostgreSQL's (migration 0012)")
    old = _paid_invoice(customer, dt.date(2018, 6, 1))

    refused = pytest.raises(DatabaseError, match="issued documents are immutable")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM billing_invoiceline WHERE invoice_id = %s", [old.pk])

    assert Invoice.objects.get(pk=old.pk).lines.count() == 1
