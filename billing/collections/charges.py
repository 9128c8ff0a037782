"""Late-payment charges for business customers: what has accrued on an overdue invoice,
charging it as a late-payment claim document, and waiving it (docs/collections.md).

The Late Payment of Commercial Debts (Interest) Act 1998 applies between businesses only:
a customer whose legal form is not a business (an individual consumer) is never charged,
whatever else is set. Charges are off until the provider turns them on (Collections
settings). The Act applies to a debt in any currency: interest is worked out in the
invoice's currency; the compensation is banded in pounds by the debt's sterling equivalent
at the exchange rate the invoice records, and claimed converted at that same rate, so one
claim is in one currency (docs/collections.md). An invoice in another currency that records
no exchange rate is refused: its band cannot be known.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts import audit
from billing.collections.interest import Interest, compensation, interest, reference_day
from billing.collections.models import CollectionsSettings, LatePaymentCharge, LatePaymentWaiver
from billing.collections.rates import reference_rate
from billing.collections.state import collectable, exclusion
from billing.documents.locking import lock_customer
from billing.documents.totals import credited_to
from billing.issuing import add_line, issue_invoice
from billing.models import ExchangeRate, Invoice
from billing.money import format_money, to_money

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Accrued:
    """What could be claimed on one invoice today, in the invoice's currency."""

    invoice: Invoice
    interest: Interest | None
    compensation: Decimal  # in the invoice's currency (converted at its rate when not sterling)
    charged_interest: Decimal  # already claimed on earlier claims
    charged_compensation: Decimal
    why_not: str = ""  # why nothing accrues (a consumer, charges off, waived…)
    compensation_gbp: Decimal = ZERO  # the statutory band, in pounds
    debt: Decimal = ZERO  # the amount of the debt, in the invoice's currency
    debt_gbp: Decimal = ZERO  # its sterling equivalent, which chose the band

    @property
    def total(self) -> Decimal:
        return (self.interest.amount if self.interest else ZERO) + self.compensation

    @property
    def converted(self) -> bool:
        return self.invoice.currency != "GBP"

    def compensation_text(self) -> str:
        """The compensation as the customer is shown it: in pounds, and what it is in the
        invoice's currency at the invoice's rate."""
        pounds = format_money(self.compensation_gbp, "GBP")
        if not self.converted:
            return pounds
        return f"{pounds} ({format_money(self.compensation, self.invoice.currency)} at the invoice's exchange rate)"


def why_not_chargeable(invoice: Invoice) -> str:
    customer = invoice.customer
    if not customer.is_business:
        return "Late-payment charges apply to business customers only."
    if not CollectionsSettings.current().late_payment_charges:
        return "Late-payment charges are not claimed."
    if invoice.kind != Invoice.Kind.INVOICE:
        return "Late-payment charges apply to VAT invoices only."
    if invoice.currency != "GBP" and not invoice.gbp_rate:
        return (
            f"{invoice} is in {invoice.currency} and records no exchange rate to sterling: the fixed-sum "
            "compensation is banded in pounds, so no late-payment charges are worked out on it."
        )
    if hasattr(invoice, "late_payment_waiver"):
        return f"Waived: {invoice.late_payment_waiver.reason}"
    return ""


def _reductions(invoice: Invoice) -> list[tuple[dt.date, Decimal]]:
    paid = [(a.payment.received_on, a.amount) for a in invoice.allocations.select_related("payment")]
    credited = list(
        Invoice.objects.filter(corrects=invoice, kind=Invoice.Kind.CREDIT_NOTE)
        .posted()
        .values_list("issued_on", "total_gross")
    )
    return paid + credited


def accrued(invoice: Invoice, *, today: dt.date | None = None) -> Accrued:
    today = today or timezone.localdate()
    charges = list(LatePaymentCharge.objects.filter(debt=invoice).exclude(claim__status=Invoice.Status.CANCELLED))
    charged_interest = sum((c.interest for c in charges), ZERO)
    charged_comp = sum((c.compensation for c in charges), ZERO)
    reason = why_not_chargeable(invoice) or exclusion(invoice)
    if not reason and (invoice.due_on is None or invoice.due_on >= today):
        reason = "Not overdue."
    if reason:
        return Accrued(invoice, None, ZERO, charged_interest, charged_comp, reason)
    since = max((c.interest_to for c in charges), default=None)
    try:
        rate = reference_rate(reference_day(invoice.due_on))
    except LookupError as exc:
        return Accrued(invoice, None, ZERO, charged_interest, charged_comp, str(exc))
    worked = interest(
        owed=invoice.total_gross,
        due_on=invoice.due_on,
        until=today,
        reference_rate=rate,
        since=since + dt.timedelta(days=1) if since else None,
        reductions=_reductions(invoice),
        currency=invoice.currency,
    )
    debt = invoice.total_gross - credited_to(invoice)
    debt_gbp = sterling(invoice, debt)
    band = ZERO if charged_comp else compensation(debt_gbp)
    comp = band if invoice.currency == "GBP" else to_money(band / invoice.gbp_rate, invoice.currency)
    return Accrued(
        invoice, worked, comp, charged_interest, charged_comp, compensation_gbp=band, debt=debt, debt_gbp=debt_gbp
    )


def sterling(invoice: Invoice, amount: Decimal) -> Decimal:
    """``amount`` of the invoice's currency in pounds, at the rate the invoice records."""
    return amount if invoice.currency == "GBP" else to_money(amount * invoice.gbp_rate)


def overdue(customer, *, today: dt.date):
    return (
        collectable(Invoice.objects.filter(customer=customer, kind=Invoice.Kind.INVOICE))
        .filter(due_on__lt=today)
        .order_by("due_on", "pk")
    )


def chargeable(customer, *, today: dt.date) -> list[Accrued]:
    return [found for invoice in overdue(customer, today=today) if (found := accrued(invoice, today=today)).total > 0]


def charge_late_payment(customer, *, actor, today: dt.date | None = None) -> Invoice:
    """Issue one late-payment claim for everything accrued on the customer's overdue
    invoices: interest to today and, once per invoice, the compensation."""
    today = today or timezone.localdate()
    with transaction.atomic():
        lock_customer(customer)
        items = chargeable(customer, today=today)
        if not items:
            reasons = [
                f"{found.invoice.number}: {found.why_not}"
                for invoice in overdue(customer, today=today)
                if (found := accrued(invoice, today=today)).why_not
            ]
            raise ValidationError(
                f"Nothing can be charged to {customer} today" + (": " if reasons else ".") + "; ".join(reasons)
            )
        currencies = sorted({item.invoice.currency for item in items})
        if len(currencies) > 1:
            raise ValidationError(
                f"{customer} has overdue invoices in {' and '.join(currencies)}: a claim is in one currency."
            )
        currency = currencies[0]
        # Foreign currency: the rate in force on the claim's date, for its sterling totals (as the billing run).
        rate = ExchangeRate.in_force(currency, today) if currency != "GBP" else None
        claim = Invoice.objects.create(
            kind=Invoice.Kind.LATE_PAYMENT_CLAIM,
            customer=customer,
            currency=currency,
            gbp_rate=rate.gbp_per_unit if rate else None,
            gbp_rate_source=rate.source if rate else "",
            gbp_rate_date=rate.valid_from if rate else None,
        )
        for item in items:
            worked = item.interest
            number = item.invoice.number
            if worked and worked.amount > 0:
                add_line(
                    claim,
                    description=f"Statutory interest on {number} (due {item.invoice.due_on:%-d %B %Y}): "
                    f"{worked.annual_rate.normalize():f}% a year "
                    f"(8% over Bank Rate {worked.reference_rate.normalize():f}% "
                    f"on {worked.reference_day:%-d %B %Y}), {worked.days} days",
                    quantity=1,
                    unit_price=worked.amount,
                    period_start=worked.start,
                    period_end=worked.end,
                )
            if item.compensation:
                add_line(claim, description=compensation_line(item), quantity=1, unit_price=item.compensation)
        issue_invoice(claim, actor=actor, issued_on=today)
        audit.record(
            "collections.late_payment_charged",
            actor=actor,
            target=claim,
            summary=f"Late-payment claim {claim.number} for {claim.total_gross} {claim.currency} on "
            f"{', '.join(item.invoice.number for item in items)}",
        )
        for item in items:
            worked = item.interest
            LatePaymentCharge.objects.create(
                claim=claim,
                debt=item.invoice,
                principal=worked.principal if worked else item.invoice.total_gross,
                annual_rate=worked.annual_rate if worked else ZERO,
                reference_rate=worked.reference_rate if worked else ZERO,
                reference_day=worked.reference_day if worked else reference_day(item.invoice.due_on),
                interest_from=worked.start if worked else today,
                interest_to=worked.end if worked else today,
                interest=worked.amount if worked else ZERO,
                compensation=item.compensation,
            )
    return claim


def compensation_line(item: Accrued) -> str:
    """The claim's line for the fixed sum: in pounds, and for a debt in another currency the
    sterling equivalent that chose the band and the rate the sum is converted at."""
    number = item.invoice.number
    if not item.converted:
        return f"Fixed-sum compensation on {number} (s.5A of the Act)"
    currency = item.invoice.currency
    return (
        f"Fixed-sum compensation on {number} (s.5A of the Act): {format_money(item.compensation_gbp, 'GBP')} for a "
        f"debt of {format_money(item.debt, currency)} = {format_money(item.debt_gbp, 'GBP')} at the invoice's rate "
        f"of £{item.invoice.gbp_rate.normalize():f} per {currency}, converted at that rate"
    )


def waive_charges(invoice: Invoice, *, reason: str, actor) -> LatePaymentWaiver:
    """Claim no (further) late-payment charges on ``invoice``. A claim already issued is
    cancelled the normal way, with a credit note."""
    reason = reason.strip()
    if not reason:
        raise ValidationError("Say why the charges are waived.")
    if hasattr(invoice, "late_payment_waiver"):
        raise ValidationError(f"Charges on {invoice} are already waived.")
    with transaction.atomic():
        waiver = LatePaymentWaiver.objects.create(invoice=invoice, reason=reason, waived_by=actor)
        audit.record("collections.charges_waived", actor=actor, target=invoice, summary=f"Charges waived: {reason}")
    return waiver
