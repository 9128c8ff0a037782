"""Where documents and money meet: issuing a document, crediting an invoice and recording
a payment, each with what it sets off on the other side, in one transaction.

- A credit note on an invoice already (partly) paid gives back to the account the part of
  the payment it no longer needs (``release_overpaid``), to be spent on the next invoice
  or refunded.
- A payment (or account credit spent) that pays a payment request in full gets the VAT
  invoice issued for it (``billing.workflows.proforma.settle_paid_requests``).

Staff actions and other workflows call these, not issuing or receivables directly, for
any change that can have such a consequence.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from django.db import transaction

from accounts.audit import Actor
from billing.issuing import issue_credit_note, issue_invoice
from billing.models import Invoice, Payment
from billing.receivables.payments import record_payment, release_overpaid
from billing.workflows.proforma import settle_paid_requests


def issue_document(invoice: Invoice, *, actor: Actor, issued_on: dt.date | None = None) -> Invoice:
    """Issue a draft; a credit note then releases what it makes overpaid on its invoice."""
    with transaction.atomic():
        issue_invoice(invoice, actor=actor, issued_on=issued_on)
        if invoice.kind == Invoice.Kind.CREDIT_NOTE:
            release_overpaid(invoice.corrects, by=invoice)
    return invoice


def credit_invoice(
    invoice: Invoice,
    *,
    lines: Iterable[dict] | None = None,
    reason: str,
    actor: Actor,
    issued_on: dt.date | None = None,
) -> Invoice:
    """Issue a credit note correcting ``invoice`` (``billing.issuing.issue_credit_note``:
    ``lines=None`` credits it in full and cancels it) and give back to the account what the
    credit makes overpaid; returns the credit note."""
    with transaction.atomic():
        note = issue_credit_note(invoice, lines=lines, reason=reason, actor=actor, issued_on=issued_on)
        original = Invoice.objects.get(pk=invoice.pk)
        release_overpaid(original, by=note)
    invoice.status = original.status
    return note


def receive_payment(
    customer,
    *,
    amount: Decimal | int | str,
    received_on: dt.date,
    method: str,
    reference: str = "",
    actor: Actor,
    allocate_to: Iterable[tuple[Invoice, Decimal | int | str]] | None = None,
    currency: str | None = None,
) -> Payment:
    """Record a payment (``billing.receivables.payments.record_payment``) and issue the VAT
    invoice of any payment request it pays in full."""
    with transaction.atomic():
        payment = record_payment(
            customer,
            amount=amount,
            received_on=received_on,
            method=method,
            reference=reference,
            actor=actor,
            allocate_to=allocate_to,
            currency=currency,
        )
        settle_paid_requests(customer, actor=actor)
    return payment
