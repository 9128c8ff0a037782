"""What a customer is shown of collections on a document's page and the invoices list:
days overdue, reminders sent, charges accrued and claimed, letters, disputes and, once a
debt is passed on, who holds it and how to pay them. Never a legal hold."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from billing.collections.charges import accrued
from billing.collections.models import Dispute, Handoff, LatePaymentCharge, Letter, ReminderSent, SuspensionNotice
from billing.models import Invoice
from billing.money import format_money


def document_collections(invoice: Invoice, *, today: dt.date | None = None) -> dict:
    today = today or timezone.localdate()
    money = lambda amount: format_money(amount, invoice.currency)  # noqa: E731
    overdue = invoice.is_overdue
    found = accrued(invoice, today=today) if overdue and invoice.kind == Invoice.Kind.INVOICE else None
    disputes = list(Dispute.objects.filter(invoice=invoice).select_related("credit_note").prefetch_related("lines"))
    handoff = Handoff.objects.filter(invoices=invoice).select_related("agency").prefetch_related("events").first()
    claims = LatePaymentCharge.objects.filter(debt=invoice).select_related("claim").order_by("created_at")
    return {
        "days_overdue": (today - invoice.due_on).days if overdue else 0,
        "reminders": list(
            ReminderSent.objects.filter(invoice=invoice, skipped=False).select_related("step").order_by("sent_at")
        ),
        "interest_accrued": money(found.interest.amount) if found and found.interest else "",
        "interest_rate": found.interest.annual_rate if found and found.interest else None,
        "compensation": found.compensation_text() if found and found.compensation else "",
        "charges_note": found.why_not if found and found.why_not and invoice.customer.is_business else "",
        "claims": [
            {
                "claim": c.claim,
                "interest": money(c.interest),
                "compensation": money(c.compensation) if c.compensation else "",
                "interest_from": c.interest_from,
                "interest_to": c.interest_to,
            }
            for c in claims
        ],
        "letters": list(Letter.objects.filter(invoices=invoice).order_by("dated")),
        "disputes": disputes,
        "can_dispute": (
            invoice.kind in Invoice.DEBIT_KINDS
            and invoice.status in (Invoice.Status.ISSUED, Invoice.Status.PART_PAID)
            and not any(d.status == Dispute.Status.OPEN for d in disputes)
            and (handoff is None or handoff.status != Handoff.Status.ACTIVE)
        ),
        "handoff": handoff,
    }


def account_collections(customer) -> dict:
    """What the invoices list shows above the documents: a running notice of suspension
    or a suspension for non-payment, and debts with an agency."""
    return {
        "suspension_notice": SuspensionNotice.objects.filter(
            customer=customer, cancelled_at__isnull=True, restored_at__isnull=True
        ).first(),
        "handoffs": list(
            Handoff.objects.filter(customer=customer, status=Handoff.Status.ACTIVE).select_related("agency")
        ),
    }
