"""Payments and refunds: recording what a customer paid, allocating it to their invoices,
and what was paid back to them.

The one write path for ``Payment``, ``PaymentAllocation`` and ``Refund`` rows. Views, the
admin and the billing run call these functions; nothing else writes allocations.

Rules:
- an allocation never exceeds the invoice's balance, nor the payment's unallocated amount;
- an invoice becomes ``part_paid`` or ``paid`` as allocations arrive (status is the one
  field of an issued invoice that may still change). A payment request that becomes paid
  gets its VAT invoice from ``billing.workflows.proforma``: receivables never issue
  documents, the workflows that call them do (``billing.workflows.settlement``);
- money paid beyond what is owed stays on the account as credit (payments − allocations)
  and ``apply_credit`` spends it on open invoices, oldest first. The billing run calls
  ``apply_credit`` after each invoice it issues, so an overpayment settles the next invoice.
- a credit note on an invoice already paid gives the part of the payment it no longer
  needs back to the account (``release_overpaid``: a negative allocation, so the history
  of what was allocated stays readable);
- a refund pays account credit back (``record_refund``), usually a credit note's amount;
  it can never exceed the credit on the account. Refunds are taken from the oldest
  payments' unallocated amounts first.

Every function takes the customer's row lock first (``billing.documents.locking``): two
payments recorded at once for one customer must not both spend the same credit on the
same invoice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import DecimalField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts import audit
from accounts.audit import Actor, person
from accounts.models import Customer
from billing.documents.locking import lock_customer
from billing.documents.totals import credited_to
from billing.models import Invoice, Payment, PaymentAllocation, Refund
from billing.money import to_money

ZERO = Decimal("0.00")


def _sum(queryset, field: str = "amount") -> Decimal:
    return queryset.aggregate(total=Sum(field))["total"] or ZERO


def allocated_to(invoice: Invoice) -> Decimal:
    """What payments have settled of ``invoice`` so far."""
    return _sum(PaymentAllocation.objects.filter(invoice=invoice))


def balance_of(invoice: Invoice) -> Decimal:
    """What is still due on ``invoice`` (the rule: ``InvoiceQuerySet.with_balance``)."""
    return Invoice.objects.with_balance().values_list("balance", flat=True).get(pk=invoice.pk)


def unallocated_credit(customer, currency: str | None = None) -> Decimal:
    """Money paid, not allocated to any invoice and not refunded: the account credit."""
    payments = Payment.objects.filter(customer=customer)
    allocations = PaymentAllocation.objects.filter(payment__customer=customer)
    refunds = Refund.objects.filter(customer=customer)
    if currency is not None:
        payments, allocations = payments.filter(currency=currency), allocations.filter(payment__currency=currency)
        refunds = refunds.filter(currency=currency)
    return _sum(payments) - _sum(allocations) - _sum(refunds)


def account_balance(customer, *, on: dt.date | None = None) -> Decimal:
    """What the customer owes (positive) or has in credit (negative), optionally as on a date.

    Invoices and refunds add, credit notes and payments subtract; drafts and payment
    requests (pro-formas, not VAT invoices) are not on the account.
    """
    documents = Invoice.objects.filter(customer=customer).posted()
    payments = Payment.objects.filter(customer=customer)
    refunds = Refund.objects.filter(customer=customer)
    if on is not None:
        documents = documents.filter(issued_on__lte=on)
        payments = payments.filter(received_on__lte=on)
        refunds = refunds.filter(paid_on__lte=on)
    figures = (
        Customer.objects.filter(pk=customer.pk)
        .values(
            invoiced=_sum_of(documents.filter(kind__in=Invoice.DEBIT_KINDS), "total_gross"),
            credited=_sum_of(documents.filter(kind=Invoice.Kind.CREDIT_NOTE), "total_gross"),
            paid=_sum_of(payments, "amount"),
            refunded=_sum_of(refunds, "amount"),
        )
        .get()
    )  # one query, not four: the dashboard and every statement ask for it
    return figures["invoiced"] - figures["credited"] - figures["paid"] + figures["refunded"]


def _sum_of(queryset, field: str) -> Coalesce:
    """``SUM(field)`` of one customer's ``queryset`` as a subquery (0.00 when empty)."""
    total = queryset.order_by().values("customer").annotate(total=Sum(field)).values("total")
    return Coalesce(Subquery(total), Value(ZERO), output_field=DecimalField(max_digits=14, decimal_places=2))


def check_currency(customer, currency: str | None) -> str:
    """The customer's account is kept in their currency: money in or out in another is refused."""
    if currency and currency != customer.currency:
        raise ValidationError(
            {"currency": f"{customer}'s account is in {customer.currency}, not {currency}: record it in "
             f"{customer.currency} (the amount the bank credited in that currency)."}
        )  # fmt: skip
    return customer.currency


def lock_open_documents(customer) -> list[Invoice]:
    """Lock the customer's row, then their open invoices and payment requests (oldest
    first), for this transaction; returns those documents."""
    lock_customer(customer)
    return list(Invoice.objects.select_for_update().filter(customer=customer).open().order_by("issued_on", "pk"))


def refresh_status(invoice: Invoice) -> str:
    """Bring an issued document's status up to date with its payments and credit notes;
    returns the status. A payment request that becomes paid here is left for the caller's
    workflow to settle with its VAT invoice (``billing.workflows.proforma``)."""
    balance = balance_of(invoice)
    if invoice.kind in Invoice.DEBIT_KINDS and invoice.total_gross > 0 and credited_to(invoice) >= invoice.total_gross:
        status = Invoice.Status.CANCELLED  # credited in full, by one credit note or several
    elif balance <= 0:
        status = Invoice.Status.PAID
    elif allocated_to(invoice) > 0:
        status = Invoice.Status.PART_PAID
    else:
        status = Invoice.Status.ISSUED
    if status != invoice.status:
        invoice.status = status
        invoice.save(update_fields=["status"])
    return status


def _allocate(payment: Payment, invoice: Invoice, amount: Decimal) -> PaymentAllocation:
    allocation = PaymentAllocation.objects.create(payment=payment, invoice=invoice, amount=amount)
    refresh_status(invoice)
    return allocation


@transaction.atomic
def refuse_future_receipt(received_on: dt.date) -> None:
    """A payment is recorded once the money has arrived: never dated after today.

    Its date is the tax point of the VAT invoice a paid payment request gets, and a
    document is dated the day it is issued, so a future date would put a VAT invoice (and
    its number, out of date order) in the future.
    """
    today = timezone.localdate()
    if received_on > today:
        raise ValidationError(
            {
                "received_on": f"A payment cannot be dated after today ({received_on:%-d %B %Y} is after "
                f"{today:%-d %B %Y}): record it on the day the money arrives."
            }
        )


def record_payment(
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
    """Record a payment received from ``customer`` and allocate it.

    ``allocate_to`` lists (invoice, amount) pairs chosen by staff; without it the payment
    (with any earlier credit) goes to open invoices oldest first. Whatever is left stays
    on the account as credit.
    """
    currency = check_currency(customer, currency)
    amount = to_money(amount, currency)
    if amount <= 0:
        raise ValidationError({"amount": "A payment must be more than zero; to pay money back, record a refund."})
    refuse_future_receipt(received_on)
    open_invoices = {invoice.pk: invoice for invoice in lock_open_documents(customer)}
    payment = Payment.objects.create(
        customer=customer,
        method=method,
        currency=currency,
        amount=amount,
        received_on=received_on,
        reference=reference,
        recorded_by=person(actor),
    )
    audit.record(
        "payment.recorded",
        actor=actor,
        target=payment,
        customer=customer,
        summary=f"Recorded a {payment.get_method_display().lower()} payment of {amount} {currency}",
    )
    if allocate_to is None:
        apply_credit(customer)
        return payment
    remaining = amount
    for chosen, part in allocate_to:
        part = to_money(part, currency)
        invoice = open_invoices.get(chosen.pk)
        if invoice is None:
            raise ValidationError(f"{chosen} is not an open invoice of {customer}.")
        if invoice.currency != currency:
            raise ValidationError(f"{invoice} is in {invoice.currency}, the payment in {currency}.")
        if part <= 0 or part > balance_of(invoice):
            raise ValidationError(f"{part} is more than the {balance_of(invoice)} due on {invoice}.")
        if part > remaining:
            raise ValidationError(f"The allocations add up to more than the payment of {amount}.")
        _allocate(payment, invoice, part)
        remaining -= part
    return payment


def apply_credit(customer, *, has_payments: bool | None = None) -> list[PaymentAllocation]:
    """Spend the customer's unallocated payments on their open invoices, oldest first.

    Called by ``record_payment`` and by the billing run after it issues an invoice, which
    passes ``has_payments`` as it read it under the customer's lock.
    """
    if has_payments is None:
        has_payments = Payment.objects.filter(customer=customer).exists()
    if not has_payments:
        return []  # nothing to spend: skip the locks (the common case in a billing run)
    return _apply_credit(customer)


@transaction.atomic
def _apply_credit(customer) -> list[PaymentAllocation]:
    invoices = lock_open_documents(customer)
    allocated = (
        PaymentAllocation.objects.filter(payment=OuterRef("pk"))
        .values("payment")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    payments = (
        Payment.objects.filter(customer=customer)
        .annotate(
            allocated=Coalesce(
                Subquery(allocated), Value(ZERO), output_field=DecimalField(max_digits=14, decimal_places=2)
            )
        )
        .order_by("received_on", "pk")
    )
    credits = [[payment, payment.amount - payment.allocated] for payment in payments]
    # Refunds paid the oldest unallocated money back first.
    refunded = dict(
        Refund.objects.filter(customer=customer).values_list("currency").annotate(total=Sum("amount")).order_by()
    )
    for entry in credits:
        take = min(entry[1], refunded.get(entry[0].currency, ZERO))
        if take > 0:
            entry[1] -= take
            refunded[entry[0].currency] -= take
    credits = [entry for entry in credits if entry[1] > 0]
    made = []
    for invoice in invoices:
        due = balance_of(invoice)
        for entry in credits:
            if due <= 0:
                break
            payment, available = entry
            if available <= 0 or payment.currency != invoice.currency:
                continue
            part = min(due, available)
            made.append(_allocate(payment, invoice, part))
            entry[1] -= part
            due -= part
    return made


def release_overpaid(invoice: Invoice, *, by: Invoice) -> list[PaymentAllocation]:
    """After the credit note ``by`` took money off ``invoice``: give back to the account the
    part of the payments allocated to it that it no longer needs, latest payments first, as
    negative allocations; then bring its status up to date.

    Called by ``billing.workflows.settlement`` in the transaction that issued the credit
    note, with the customer's row locked.
    """
    excess = allocated_to(invoice) + credited_to(invoice) - invoice.total_gross
    released = []
    if excess > 0:
        per_payment = (
            PaymentAllocation.objects.filter(invoice=invoice)
            .values("payment")
            .annotate(total=Sum("amount"))
            .order_by("-payment__received_on", "-payment")
        )
        for row in per_payment:
            part = min(excess, row["total"])
            if part <= 0:
                continue
            released.append(
                PaymentAllocation.objects.create(
                    payment_id=row["payment"], invoice=invoice, amount=-part, released_by=by
                )
            )
            excess -= part
            if excess <= 0:
                break
    refresh_status(invoice)
    return released


def refundable(customer, currency: str, credit_note: Invoice | None = None) -> Decimal:
    """The most that can be refunded now: the account credit in ``currency`` and, for a
    credit note, the payment it released to the account that has not been refunded yet
    (a credit note for an invoice nobody paid released nothing: there is nothing to pay back)."""
    limit = unallocated_credit(customer, currency)
    if credit_note is not None:
        # What the note gave back to the account (payment it released), less what was refunded of it.
        released = -_sum(PaymentAllocation.objects.filter(released_by=credit_note))
        limit = min(limit, released - _sum(Refund.objects.filter(credit_note=credit_note)))
    return max(limit, ZERO)


def check_refund(
    customer, amount: Decimal | int | str, currency: str | None, credit_note: Invoice | None
) -> tuple[Decimal, str]:
    """Raise ValidationError (by form field) unless ``amount`` can be refunded to ``customer``
    now; returns the amount as money and the currency (the credit note's if given)."""
    if credit_note is not None:
        if credit_note.kind != Invoice.Kind.CREDIT_NOTE or credit_note.status == Invoice.Status.DRAFT:
            raise ValidationError({"credit_note": f"{credit_note} is not an issued credit note."})
        if credit_note.customer_id != customer.pk:
            raise ValidationError({"credit_note": f"{credit_note} is not a credit note of {customer}."})
        if currency and currency != credit_note.currency:
            raise ValidationError({"currency": f"{credit_note} is in {credit_note.currency}, not {currency}."})
        currency = credit_note.currency
    currency = check_currency(customer, currency)
    amount = to_money(amount, currency)
    if amount <= 0:
        raise ValidationError({"amount": "A refund must be more than zero."})
    limit = refundable(customer, currency, credit_note)
    if amount > limit:
        what = f"{credit_note} and the account credit allow" if credit_note else f"{customer} has in credit"
        raise ValidationError({"amount": f"{amount} {currency} is more than the {limit} {currency} {what}."})
    return amount, currency


@transaction.atomic
def record_refund(
    customer,
    *,
    amount: Decimal | int | str,
    paid_on: dt.date,
    method: str,
    reference: str = "",
    credit_note: Invoice | None = None,
    currency: str | None = None,
    actor: Actor,
) -> Refund:
    """Record money paid back to ``customer`` out of their account credit.

    With ``credit_note``: a refund of that credit note (same customer and currency, at most
    its amount less earlier refunds of it). Either way at most the credit on the account:
    a refund of an invoice still unpaid is a credit note alone, with nothing to pay back.
    """
    lock_open_documents(customer)
    amount, currency = check_refund(customer, amount, currency, credit_note)
    refund = Refund.objects.create(
        customer=customer,
        credit_note=credit_note,
        method=method,
        currency=currency,
        amount=amount,
        paid_on=paid_on,
        reference=reference,
        recorded_by=person(actor),
    )
    audit.record(
        "refund.recorded",
        actor=actor,
        target=refund,
        customer=customer,
        summary=f"Recorded a refund of {amount} {currency}",
    )
    return refund
