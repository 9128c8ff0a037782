"""Billing records and the privacy engines (retention, export, erasure).

Invoices, credit notes, payments and refunds are kept 6 years from the end of the
provider's financial year each belongs to, with the records they settle: an erasure
request keeps them and says why, and the retention sweep removes them (with their PDFs)
once those years are over — on PostgreSQL too, where triggers refuse every other deletion
of an issued document. Together, so that no payment outlives the invoice it settled and
turns back into credit; money still on an open account stays while it is open.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.files.storage import default_storage
from django.db import DatabaseError, connection, transaction

from accounts import roles
from accounts.audit import System
from accounts.correspondence.models import MessageAttachment
from billing.delivery.pdf import store_invoice_pdf
from billing.models import Invoice, InvoiceLine, Payment, PaymentAllocation
from billing.tasks import render_and_send_invoice
from billing.workflows.settlement import receive_payment
from privacy.services.erasure import (
    collect_deletion,
    delete_collected,
    erasure_notice,
    erasure_plan,
    execute_erasure,
)
from privacy.services.retention import _retention_has_ended, sweep
from tests.accounts.factories import MembershipFactory, StaffFactory
from tests.billing.factories import issued_invoice

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _financial_year_ends_31_march(settings):
    settings.PORTAL_FINANCIAL_YEAR_END = (3, 31)


def _paid_invoice(customer, issued_on: dt.date) -> Invoice:
    invoice = issued_invoice(customer, issued_on=issued_on)
    receive_payment(
        customer,
        amount=invoice.total_gross,
        received_on=issued_on,
        method=Payment.Method.BANK_TRANSFER,
        actor=System("tests"),
    )
    return store_invoice_pdf(invoice)


def _close(customer, on: dt.date) -> None:
    from django.utils import timezone

    closed_at = timezone.make_aware(dt.datetime.combine(on, dt.time(12)))
    type(customer).objects.filter(pk=customer.pk).update(status="closed", closed_at=closed_at)


def test_erasure_keeps_invoices_and_payments_as_issued_and_says_why(customer, provider):
    contact = MembershipFactory(customer=customer, role=roles.Role.OWNER).user
    invoice = _paid_invoice(customer, dt.date(2026, 3, 10))
    _close(customer, dt.date(2026, 5, 20))  # in the year ending 31 March 2027
    before = Invoice.objects.values().get(pk=invoice.pk)

    run = execute_erasure(customer=customer, actor=StaffFactory())

    assert Invoice.objects.values().get(pk=invoice.pk) == before
    assert invoice.buyer["registered_name"] == customer.registered_name and invoice.buyer["address"]
    assert Payment.objects.filter(customer=customer).count() == 1
    contact.refresh_from_db()
    assert contact.email == f"erased-{contact.pk}@invalid"  # the person goes; the VAT record stays
    kept = erasure_notice(run).split("What we kept, and why")[1]
    assert "VAT invoices and credit notes must be kept for 6 years" in kept
    assert "on or after 31 March 2032" in kept  # 6 years from its own year (to 31 March 2026)


def test_an_open_accounts_settled_records_are_kept_6_years_from_their_own_year(customer, provider):
    _paid_invoice(customer, dt.date(2018, 4, 1))  # year ending 31 March 2019

    plan = {item["model"]: item for item in erasure_plan(customer=customer)}

    for model in ("billing.Invoice", "billing.Payment"):
        assert plan[model]["action"] == "keep" and plan[model]["keep_until"] == "2025-03-31"
    sweep(dry_run=False, today=dt.date(2025, 3, 30))
    assert Invoice.objects.filter(customer=customer).count() == 1 and Payment.objects.count() == 1
    sweep(dry_run=False, today=dt.date(2025, 3, 31))
    assert not Invoice.objects.filter(customer=customer).exists() and not Payment.objects.exists()
    customer.refresh_from_db()
    assert customer.closed_at is None


def test_the_sweep_removes_a_closed_accounts_money_records_together_with_their_pdfs(
    customer, provider, django_capture_on_commit_callbacks
):
    from billing.receivables.payments import unallocated_credit

    old = _paid_invoice(customer, dt.date(2018, 6, 1))
    # Numbers follow dates: the other customer's invoice of the same day is issued next.
    # Still due on an open account: kept while it is open.
    still_open = store_invoice_pdf(
        issued_invoice(MembershipFactory(role=roles.Role.OWNER).customer, issued_on=dt.date(2018, 6, 1))
    )
    later = issued_invoice(customer, issued_on=dt.date(2018, 8, 1))
    receive_payment(
        customer,
        amount="30.00",
        received_on=dt.date(2018, 8, 2),
        method=Payment.Method.BANK_TRANSFER,
        actor=System("tests"),
    )
    _close(customer, dt.date(2018, 9, 1))  # year ending 31 March 2019: kept until 31 March 2025
    pdf = old.pdf.name
    assert unallocated_credit(customer) == Decimal("18.00")

    day_before = sweep(dry_run=False, today=dt.date(2025, 3, 30))
    assert {e.model: e.done for e in day_before.models}["billing.Invoice"] == 0
    with django_capture_on_commit_callbacks(execute=True):
        report = sweep(dry_run=False, today=dt.date(2025, 3, 31))

    done = {entry.model: entry.done for entry in report.models}
    assert done["billing.Invoice"] == 2 and done["billing.Payment"] == 2
    assert not Invoice.objects.filter(customer=customer).exists()
    assert not Payment.objects.filter(customer=customer).exists()
    assert not InvoiceLine.objects.filter(invoice_id__in=[old.pk, later.pk]).exists()
    assert not PaymentAllocation.objects.filter(payment__customer=customer).exists()
    assert not default_storage.exists(pdf)
    still_open.refresh_from_db()
    assert still_open.status == Invoice.Status.ISSUED and default_storage.exists(still_open.pdf.name)


def test_outside_the_sweep_an_expired_issued_invoice_still_cannot_be_deleted(customer, provider):
    if connection.vendor != "postgresql":
        pytest.skip("the database-level refusal is PostgreSQL's (migration 0012)")
    # Issued in date order, as numbers must follow dates.
    gone = MembershipFactory(role=roles.Role.OWNER).customer
    _paid_invoice(gone, dt.date(2017, 6, 1))
    _close(gone, dt.date(2017, 9, 1))  # until 31 March 2024
    old = _paid_invoice(customer, dt.date(2018, 6, 1))
    _close(customer, dt.date(2018, 9, 1))  # kept until 31 March 2025
    # A real sweep in this same (test) transaction deletes the other account's documents:
    # the setting that lets it through must not outlive its deletes.
    report = sweep(dry_run=False, today=dt.date(2025, 3, 30))
    assert {e.model: e.done for e in report.models}["billing.Invoice"] == 1

    refused = pytest.raises(DatabaseError, match="issued documents are immutable")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM billing_invoiceline WHERE invoice_id = %s", [old.pk])

    assert Invoice.objects.get(pk=old.pk).lines.count() == 1


def _emailed_invoice(customer, capture) -> tuple[Invoice, MessageAttachment]:
    """An issued invoice, its PDF stored and emailed to a billing contact by the background task."""
    MembershipFactory(customer=customer, role=roles.Role.BILLING)
    invoice = issued_invoice(customer, issued_on=dt.date(2018, 6, 1))
    with capture(execute=True):
        render_and_send_invoice(invoice.pk)
    invoice.refresh_from_db()
    return invoice, MessageAttachment.objects.get(message__idempotency_key=f"invoice:{invoice.pk}")


def test_an_invoices_email_attaches_its_stored_pdf_which_outlives_the_emails_records(
    customer, provider, django_capture_on_commit_callbacks
):
    invoice, attachment = _emailed_invoice(customer, django_capture_on_commit_callbacks)
    # One stored file, not a copy: what the customer was sent is what every download returns.
    assert (attachment.file.name, attachment.sha256) == (invoice.pdf.name, invoice.pdf_sha256)

    with django_capture_on_commit_callbacks(execute=True):
        delete_collected(collect_deletion(MessageAttachment.objects.filter(pk=attachment.pk)))

    assert not MessageAttachment.objects.filter(pk=attachment.pk).exists()
    assert default_storage.exists(invoice.pdf.name)  # the invoice still needs it


def test_an_invoice_deleted_leaves_the_pdf_its_email_still_attaches(
    customer, provider, django_capture_on_commit_callbacks
):
    # Invoices are kept at least as long as correspondence, but the file goes only when no
    # row points at it, whichever row goes first.
    invoice, attachment = _emailed_invoice(customer, django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic(), _retention_has_ended():
        delete_collected(collect_deletion(Invoice.objects.filter(pk=invoice.pk)))

    assert not Invoice.objects.filter(pk=invoice.pk).exists()
    attachment.refresh_from_db()
    assert attachment.file.name == invoice.pdf.name and default_storage.exists(invoice.pdf.name)
