"""Statements of account: what a customer owed at the start of a period, what happened in
it (invoices, credit notes, payments, in date order) and what they owed at the end.

Read-only; the balance rules are ``billing.receivables.payments.account_balance``'s: invoices and
refunds add, credit notes and payments subtract, drafts and payment requests are not on
the account.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from billing.models import Invoice, Payment, Refund
from billing.receivables.payments import account_balance


@dataclass(frozen=True)
class StatementEntry:
    on: dt.date
    kind: str  # "invoice" | "credit_note" | "payment" | "refund"
    reference: str
    description: str
    debit: Decimal  # adds to what is owed
    credit: Decimal  # takes off what is owed
    balance: Decimal  # running balance after this entry


@dataclass(frozen=True)
class Statement:
    customer: object
    start: dt.date
    end: dt.date
    opening_balance: Decimal
    closing_balance: Decimal
    entries: list[StatementEntry] = field(default_factory=list)

    @property
    def total_debits(self) -> Decimal:
        return sum((e.debit for e in self.entries), Decimal("0.00"))

    @property
    def total_credits(self) -> Decimal:
        return sum((e.credit for e in self.entries), Decimal("0.00"))


def statement(customer, start: dt.date, end: dt.date) -> Statement:
    """The statement of account of ``customer`` from ``start`` to ``end``, both included."""
    if end < start:
        raise ValueError("A statement ends on or after the day it starts.")
    opening = account_balance(customer, on=start - dt.timedelta(days=1))
    rows: list[tuple[dt.date, int, int, str, str, str, Decimal, Decimal]] = []
    documents = (
        Invoice.objects.posted()
        .filter(
            customer=customer,
            kind__in=(*Invoice.DEBIT_KINDS, Invoice.Kind.CREDIT_NOTE),
            issued_on__range=(start, end),
        )
        .select_related("corrects")
    )
    for doc in documents:
        gross = abs(doc.total_gross)
        if doc.kind in Invoice.DEBIT_KINDS:
            rows.append(
                (
                    doc.issued_on,
                    0,
                    doc.pk,
                    doc.kind,
                    doc.number,
                    "Invoice" if doc.kind == Invoice.Kind.INVOICE else doc.get_kind_display(),
                    gross,
                    Decimal("0.00"),
                )
            )
        else:
            about = f"Credit note for {doc.corrects.number}" if doc.corrects_id else "Credit note"
            rows.append((doc.issued_on, 1, doc.pk, doc.kind, doc.number, about, Decimal("0.00"), gross))
    for payment in Payment.objects.filter(customer=customer, received_on__range=(start, end)):
        rows.append(
            (
                payment.received_on,
                2,
                payment.pk,
                "payment",
                payment.reference,
                f"Payment by {payment.get_method_display().lower()}",
                Decimal("0.00"),
                payment.amount,
            )
        )
    refunds = Refund.objects.filter(customer=customer, paid_on__range=(start, end)).select_related("credit_note")
    for refund in refunds:
        about = f" of {refund.credit_note.number}" if refund.credit_note_id else " of account credit"
        rows.append(
            (
                refund.paid_on,
                3,
                refund.pk,
                "refund",
                refund.reference,
                f"Refund{about} by {refund.get_method_display().lower()}",
                refund.amount,
                Decimal("0.00"),
            )
        )
    rows.sort(key=lambda row: row[:3])
    entries, running = [], opening
    for on, _order, _pk, kind, reference, description, debit, credit in rows:
        running = running + debit - credit
        entries.append(StatementEntry(on, kind, reference, description, debit, credit, running))
    return Statement(customer, start, end, opening, running, entries)
