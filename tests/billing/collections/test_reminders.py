"""The reminder run: each step once per document, never for settled, disputed or paused
documents, never before a step's day; charges for business customers only."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from accounts.audit import System
from accounts.models import LegalForm
from billing.collections.charges import accrued, charge_late_payment
from billing.collections.models import CollectionsPause, DunningStep, LatePaymentCharge, ReminderSent
from billing.collections.reminders import run_reminders
from billing.delivery.pdf import stored_pdf_bytes
from billing.models import Invoice
from billing.workflows.settlement import receive_payment
from tests.accounts.factories import StaffFactory
from tests.billing.collections.helpers import charges_on, customer, invoice_due, mails, pdftotext

D = dt.date
pytestmark = pytest.mark.django_db


def steps_sent(invoice):
    return list(
        ReminderSent.objects.filter(invoice=invoice, skipped=False).values_list("step__days_after_due", flat=True)
    )


def test_each_step_is_sent_once_on_its_day_and_running_twice_sends_nothing_twice(provider):
    buyer = customer()
    invoice = invoice_due(buyer, D(2026, 3, 10))

    assert run_reminders(D(2026, 3, 6), actor=System("tests")).emails == 0  # 4 days before: no step yet
    assert run_reminders(D(2026, 3, 7), actor=System("tests")).emails == 1  # 3 days before
    assert run_reminders(D(2026, 3, 7), actor=System("tests")).emails == 0  # again the same day
    assert run_reminders(D(2026, 3, 9), actor=System("tests")).emails == 0
    assert run_reminders(D(2026, 3, 10), actor=System("tests")).emails == 1  # due date
    for day in range(11, 32):
        run_reminders(D(2026, 3, day), actor=System("tests"))
        run_reminders(D(2026, 3, day), actor=System("tests"))

    assert steps_sent(invoice) == [-3, 0, 7, 14, 21]
    sent = mails(buyer, "collections_reminder")
    assert len(sent) == 5
    assert "Final notice" in sent[-1].subject and "FINAL NOTICE" in sent[-1].body_text
    body = sent[2].body_text
    assert invoice.number in body and "£120.00" in body and "7 days overdue" in body
    assert "Sort code: 12-34-56" in body and "Dispute this invoice" in body


def test_the_database_refuses_a_second_reminder_for_the_same_document_and_step(provider):
    invoice = invoice_due(customer(), D(2026, 3, 10))
    step = DunningStep.objects.get(days_after_due=7)
    ReminderSent.objects.create(invoice=invoice, step=step)

    with pytest.raises(IntegrityError):
        ReminderSent.objects.create(invoice=invoice, step=step)


def test_a_late_run_sends_only_the_latest_step_and_never_the_missed_ones(provider):
    buyer = customer()
    invoice = invoice_due(buyer, D(2026, 3, 10))

    run_reminders(D(2026, 3, 25), actor=System("tests"))  # the run was down: 15 days overdue
    run_reminders(D(2026, 3, 26), actor=System("tests"))

    assert steps_sent(invoice) == [14]
    assert len(mails(buyer, "collections_reminder")) == 1


def test_paid_credited_and_paused_customers_get_no_reminder(provider):
    paid, credited, paused = customer(), customer(), customer()
    paid_invoice = invoice_due(paid, D(2026, 3, 10))
    receive_payment(
        paid, amount=paid_invoice.total_gross, received_on=D(2026, 3, 12), method="bank_transfer", actor=System("tests")
    )
    credited_invoice = invoice_due(credited, D(2026, 3, 10))
    from billing.workflows.settlement import credit_invoice

    credit_invoice(credited_invoice, reason="Billed in error", actor=System("tests"))
    invoice_due(paused, D(2026, 3, 10))
    CollectionsPause.objects.create(customer=paused, reason="Agreed a payment plan", created_by=StaffFactory())

    run_reminders(D(2026, 3, 17), actor=System("tests"))

    assert mails(paid, "collections_reminder") == []
    assert mails(credited, "collections_reminder") == []
    assert mails(paused, "collections_reminder") == []


def test_consumers_are_never_charged_even_with_charges_on(provider):
    charges_on()
    person = customer(legal_form=LegalForm.INDIVIDUAL, company_number="")
    invoice = invoice_due(person, D(2025, 7, 1))

    found = accrued(invoice, today=D(2025, 9, 1))

    assert found.total == 0 and "business customers only" in found.why_not
    with pytest.raises(ValidationError):
        charge_late_payment(person, actor=StaffFactory(), today=D(2025, 9, 1))


def test_no_charges_until_the_provider_turns_them_on(provider):
    invoice = invoice_due(customer(), D(2025, 7, 1))

    assert accrued(invoice, today=D(2025, 9, 1)).total == 0


def test_charging_issues_a_late_payment_claim_in_its_own_series_without_vat(
    provider, django_capture_on_commit_callbacks
):
    charges_on()
    buyer = customer()
    invoice = invoice_due(buyer, D(2025, 7, 1), amount="1000.00")  # £1,200 with VAT

    with (
        time_machine.travel(dt.datetime(2025, 7, 31, 10, tzinfo=dt.UTC), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        found = accrued(invoice)
        claim = charge_late_payment(buyer, actor=StaffFactory())

    # 2–31 July = 30 days × 1200 × 12.25% / 365 = 12.082 → 12.08; compensation £70 (£1,000 to £9,999.99)
    assert found.interest.amount == Decimal("12.08") and found.compensation == Decimal("70.00")
    assert claim.kind == Invoice.Kind.LATE_PAYMENT_CLAIM and claim.number.startswith("LPC-")
    assert claim.total_vat == 0 and claim.total_gross == Decimal("82.08")
    assert "outside the scope of VAT" in claim.vat_wording
    # Interest from the day after the charge only; the compensation never twice.
    later = accrued(invoice, today=D(2025, 8, 30))
    assert later.interest.start == D(2025, 8, 1) and later.compensation == 0
    assert LatePaymentCharge.objects.get(claim=claim).compensation == Decimal("70.00")
    # The claim is emailed with its PDF like any document, and says what it is.
    assert mails(buyer, "invoice")[-1].related_id == str(claim.pk)
    claim.refresh_from_db()
    text = pdftotext(stored_pdf_bytes(claim))
    for element in (
        "Late-payment claim",
        "This is not a VAT invoice",
        f"Claim number {claim.number}",
        "outside the scope of VAT",
        f"Statutory interest on {invoice.number}",
        f"Fixed-sum compensation on {invoice.number}",
        "£82.08",
    ):
        assert element in text, element
    assert "Tax point" not in text
