"""What has been paid on a document, by which payments, and what is still due: the one
reading of a document's payment state that its PDF, its web page and its email show.

The amounts follow the balance rule (``InvoiceQuerySet.with_balance``). A payment request
paid in full has its payments moved to the VAT invoice issued for it
(``billing.workflows.proforma``), so it shows the payments of that VAT invoice: it was
paid by them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Sum

from billing.models import Invoice, Payment, PaymentAllocation

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class PaymentMade:
    """One payment towards a document: how much of it went there, when and how it was paid."""

    amount: Decimal
    received_on: dt.date
    reference: str
    method: str  # as people read it: "bank transfer"


@dataclass(frozen=True)
class Settlement:
    """A document's payment state. ``paid`` is what payments settled of it, ``credited`` what
    credit notes took off it, ``balance`` what is still due (never below zero)."""

    total: Decimal
    paid: Decimal
    credited: Decimal
    balance: Decimal
    payments: tuple[PaymentMade, ...]
    settled_by: Invoice | None = None  # a paid payment request: the VAT invoice issued for it

    @property
    def is_settled(self) -> bool:
        """Paid in full: something was paid and nothing is due."""
        return self.paid > 0 and self.balance <= 0

    @property
    def is_part_paid(self) -> bool:
        return self.paid > 0 and self.balance > 0

    @property
    def paid_on(self) -> dt.date | None:
        """The day the last payment towards it was received."""
        return max((p.received_on for p in self.payments), default=None)


def settlement_of(invoice: Invoice, *, with_balance: bool = False) -> Settlement:
    """``invoice``'s payment state as the database holds it now.

    ``with_balance``: ``invoice`` was just read with ``Invoice.objects.with_balance()`` (a
    page showing it), so its ``allocated``, ``credited`` and ``balance`` are taken as read
    rather than read again; read with a ``has_allocations`` annotation too (a batch of
    documents, ``billing.delivery.email.send_documents``), one with none has no payments
    looked up."""
    fields = ("total_gross", "allocated", "credited", "balance")
    if with_balance:
        row = {field: getattr(invoice, field) for field in fields}
    else:
        row = Invoice.objects.with_balance().values(*fields).get(pk=invoice.pk)
    settled_by = None
    source = invoice
    if invoice.kind == Invoice.Kind.PRO_FORMA and invoice.status == Invoice.Status.PAID:
        settled_by = Invoice.objects.filter(settles=invoice).exclude(status=Invoice.Status.DRAFT).first()
        source = settled_by or invoice
    # Read with ``has_allocations`` (a batch of documents read together): one that no
    # payment was ever allocated to has no payments to read.
    unpaid = source is invoice and not getattr(invoice, "has_allocations", True)
    payments = () if unpaid else tuple(_payments_towards(source))
    paid = row["allocated"] if settled_by is None else sum((p.amount for p in payments), ZERO)
    if invoice.kind == Invoice.Kind.CREDIT_NOTE or invoice.status == Invoice.Status.DRAFT:
        payments, paid = (), ZERO  # a credit note is credited, not paid; a draft is not due
    return Settlement(
        total=row["total_gross"],
        paid=paid,
        credited=row["credited"],
        balance=max(row["balance"], ZERO),
        payments=payments,
        settled_by=settled_by,
    )


def _payments_towards(invoice: Invoice) -> list[PaymentMade]:
    """Each payment with what is still allocated of it to ``invoice`` (a part a credit note
    gave back to the account is not), oldest first."""
    rows = (
        PaymentAllocation.objects.filter(invoice=invoice)
        .values("payment")
        .annotate(total=Sum("amount"))
        .filter(total__gt=0)
        .order_by()
    )
    amounts = {row["payment"]: row["total"] for row in rows}
    payments = Payment.objects.filter(pk__in=amounts).order_by("received_on", "pk")
    return [
        PaymentMade(
            amount=amounts[payment.pk],
            received_on=payment.received_on,
            reference=payment.reference,
            method=payment.get_method_display().lower(),
        )
        for payment in payments
    ]
