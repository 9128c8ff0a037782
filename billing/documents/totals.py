"""A document's lines and totals: net per line, VAT per rate, sterling equivalents, and
what credit notes have taken off an invoice.

VAT rounding is invoice-level (VAT Notice 700 s.17.5): per VAT rate, VAT is computed on
the net total at that rate, and the document's total VAT is rounded down to the minor unit
(``billing.money.split_vat``). Every reader of a document's VAT per rate (issuing, the PDF,
exports) goes through ``vat_summary`` so they cannot disagree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models import Sum

from billing.models import Invoice, InvoiceLine, Subscription
from billing.money import split_vat, to_money, vat_down
from billing.vat import VatCategory

VatRow = tuple[Decimal, Decimal, Decimal]  # (rate, net, VAT)


class InvoiceError(ValidationError):
    """A document cannot be built, issued or credited as asked; the message says why."""


def build_line(
    invoice: Invoice,
    *,
    description: str,
    quantity: Decimal | int | str,
    unit_price: Decimal | int | str,
    vat_category: str = VatCategory.STANDARD,
    vat_rate: Decimal | int | str | None = None,
    subscription: Subscription | None = None,
    period_start: dt.date | None = None,
    period_end: dt.date | None = None,
) -> InvoiceLine:
    """A new line of a draft, not yet saved. Net = quantity × unit price, rounded half up
    to the minor unit.

    ``vat_rate`` may be left empty on a draft: issuing sets it from ``vat_category`` (on a
    credit note, to the rate the original charged for the category).
    """
    if vat_category not in VatCategory.values:
        raise InvoiceError(f"{vat_category!r} is not a VAT category: use one of {', '.join(VatCategory.values)}.")
    quantity, unit_price = Decimal(quantity), Decimal(unit_price)
    return InvoiceLine(
        invoice=invoice,
        description=description,
        quantity=quantity,
        unit_price=unit_price,
        vat_category=vat_category,
        vat_rate=Decimal(vat_rate) if vat_rate is not None else None,
        net=to_money(quantity * unit_price, invoice.currency),
        subscription=subscription,
        period_start=period_start,
        period_end=period_end,
    )


def vat_summary(invoice: Invoice, lines: Iterable[InvoiceLine] | None = None) -> list[VatRow]:
    """(rate, net, VAT) per VAT rate, highest rate first: the document's total VAT rounded
    down, shared between the rates. ``lines``: the document's lines, when the caller has them all."""
    nets: dict[Decimal, Decimal] = {}
    pairs = invoice.lines.values_list("vat_rate", "net") if lines is None else [(x.vat_rate, x.net) for x in lines]
    for rate, net in pairs:
        nets[rate] = nets.get(rate, Decimal(0)) + net
    return split_vat(list(nets.items()), invoice.currency)


def sterling_summary(gbp_rate: Decimal, summary: list[VatRow]) -> list[VatRow]:
    """The VAT summary in pounds: each rate's net and the VAT actually charged at it, each
    converted at ``gbp_rate`` (VAT Notice 700 s.7.7: amounts in another currency are
    converted into sterling), the net rounded half up to the penny and the VAT rounded down
    as all VAT is (s.17.5). The VAT is never worked out again on the converted net, so the
    sterling VAT is the charged VAT's value and a credit note, which credits the VAT
    originally charged at the original's rate, converts to the same pennies."""
    return [(rate, to_money(net * gbp_rate), vat_down(vat * gbp_rate)) for rate, net, vat in summary]


def compute_totals(invoice: Invoice, lines: Iterable[InvoiceLine] | None = None) -> list[VatRow]:
    """Set total_net, total_vat and total_gross on ``invoice`` (not saved) from its lines, and
    the sterling totals when it has a sterling rate; returns the VAT summary per rate."""
    summary = vat_summary(invoice, lines)
    invoice.total_net = to_money(sum((net for _, net, _ in summary), Decimal(0)), invoice.currency)
    invoice.total_vat = to_money(sum((vat for _, _, vat in summary), Decimal(0)), invoice.currency)
    invoice.total_gross = invoice.total_net + invoice.total_vat
    if invoice.currency != "GBP" and invoice.gbp_rate:
        # Where UK VAT is due on a foreign-currency invoice, its net and VAT in sterling at
        # the stored rate: each rate's net and VAT converted (``sterling_summary``), summed.
        summary_gbp = sterling_summary(invoice.gbp_rate, summary)
        invoice.total_net_gbp = sum((net for _, net, _ in summary_gbp), Decimal("0.00"))
        invoice.total_vat_gbp = sum((vat for _, _, vat in summary_gbp), Decimal("0.00"))
    return summary


def credited_to(invoice: Invoice) -> Decimal:
    """What issued credit notes have taken off ``invoice`` (their amounts are positive)."""
    return Invoice.objects.filter(corrects=invoice, kind=Invoice.Kind.CREDIT_NOTE).posted().aggregate(
        total=Sum("total_gross")
    )["total"] or Decimal("0.00")
