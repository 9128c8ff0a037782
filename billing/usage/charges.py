"""Usage in arrears: what a subscription's usage terms bill for a month (docs/usage.md).

The billing run for a month adds, to the same invoice, one line per subscription with
usage terms that ran in the month before: the method, the measured figure, the allowance
or commit and what is over it. The same rules give the customer's "billed so far".

Proration, for a service that started or ended in the month (its active days, UTC):

- total transfer: only the active days' samples count, and the allowance shrinks in
  proportion (allowance × active days ÷ days in the month); the excess is billed in full;
- 95th percentile: the percentile is taken over the active days' samples only (their
  5%), and the amount over the commit is billed for the active days (Mbit/s over ×
  active days ÷ days in the month): a rate is not smaller for being shorter.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Exists, OuterRef, Q

from billing.documents.periods import month_bounds
from billing.documents.totals import build_line
from billing.models import Invoice, InvoiceLine, Subscription
from billing.usage.measure import Measured, Span, day_span, measure
from billing.usage.models import UsageCharge, UsageTerms
from billing.usage.rates import THOUSANDTH, gigabytes, mbit_per_second

ZERO = Decimal("0.000")


def active_days(sub: Subscription, month: dt.date) -> tuple[dt.date, dt.date] | None:
    """The days of ``month`` the subscription ran, both inclusive; None if none."""
    first, last = month_bounds(month)
    start, end = max(first, sub.started_on), min(last, sub.ended_on or last)
    return (start, end) if start <= end else None


@dataclass(frozen=True)
class UsageBill:
    """A subscription's usage for (part of) a month, priced by its plan's usage terms."""

    terms: UsageTerms
    first: dt.date
    last: dt.date
    measured: Decimal  # GB, or Mbit/s
    allowance: Decimal  # GB (prorated), or the commit in Mbit/s
    overage: Decimal  # GB, or Mbit/s over the commit
    quantity: Decimal  # what the line bills at the unit price (prorated Mbit/s for the 95th)
    unit_price: Decimal
    measured_in: Measured
    direction: str  # "in", "out" or "in + out": what was billed

    @property
    def amount(self) -> Decimal:
        return (self.quantity * self.unit_price).quantize(Decimal("0.01"), ROUND_HALF_UP)

    @property
    def method_label(self) -> str:
        return self.terms.get_method_display()

    @property
    def unit(self) -> str:
        return "GB" if self.terms.method == UsageTerms.Method.TRANSFER else "Mbit/s"

    def description(self, service_name: str) -> str:
        days = f"{self.first:%-d %b %Y} to {self.last:%-d %b %Y}"
        m = self.measured_in
        if self.terms.method == UsageTerms.Method.TRANSFER:
            counted = "in + out" if self.direction == "in + out" else "outbound only"
            return (
                f"Bandwidth, total transfer ({counted}; 1 GB = 10^9 bytes): {service_name}, {days}: "
                f"{self.measured} GB transferred, {self.allowance} GB included, {self.overage} GB over"
            )
        return (
            f"Bandwidth, 95th percentile: {service_name}, {days}: {self.measured} Mbit/s ({self.direction}; "
            f"{m.samples:,} of {m.expected:,} samples, missing = 0), commit {self.allowance} Mbit/s, "
            f"{self.overage} Mbit/s over" + (f", prorated {self.quantity}" if self.quantity != self.overage else "")
        )


def _prorated(value: Decimal, first: dt.date, last: dt.date) -> Decimal:
    month_first, month_last = month_bounds(first)
    days, month_days = (last - first).days + 1, (month_last - month_first).days + 1
    if days == month_days:
        return value.quantize(THOUSANDTH)
    return (value * days / month_days).quantize(THOUSANDTH, ROUND_HALF_UP)


def price(terms: UsageTerms, measured: Measured, first: dt.date, last: dt.date) -> UsageBill:
    """The usage bill for ``measured`` over the days ``first``–``last`` of one month."""
    if terms.method == UsageTerms.Method.TRANSFER:
        both = terms.directions == UsageTerms.Directions.IN_AND_OUT
        total = measured.bytes_in + measured.bytes_out if both else measured.bytes_out
        used, allowance = gigabytes(total), _prorated(terms.allowance_gb or ZERO, first, last)
        over = max(ZERO, used - allowance)
        return UsageBill(
            terms,
            first,
            last,
            used,
            allowance,
            over,
            over,
            terms.price_per_gb or ZERO,
            measured,
            "in + out" if both else "out",
        )
    direction = "in" if measured.p95_in > measured.p95_out else "out"
    rate, commit = mbit_per_second(measured.p95), (terms.commit_mbps or ZERO).quantize(THOUSANDTH)
    over = max(ZERO, rate - commit)
    return UsageBill(
        terms,
        first,
        last,
        rate,
        commit,
        over,
        _prorated(over, first, last),
        terms.price_per_mbps or ZERO,
        measured,
        direction,
    )


def usage_bills(subscriptions: list[Subscription], month: dt.date, *, until: dt.datetime | None = None) -> dict:
    """Each subscription's usage bill for ``month`` (subscriptions without usage terms, or
    not running in it, are left out). With ``until``, only samples before it count and the
    samples expected stop there too: the figure "billed so far"."""
    spans: list[Span] = []
    days: dict[int, tuple[dt.date, dt.date]] = {}
    for sub in subscriptions:
        window = active_days(sub, month)
        if window is None or getattr(sub.plan, "usage_terms", None) is None:
            continue
        span = day_span(sub.pk, sub.service_id, *window)
        if until is not None:
            if until <= span.start:
                continue
            span = Span(span.key, span.service_id, span.start, min(span.end, until))
        days[sub.pk] = window
        spans.append(span)
    measured = measure(spans)
    return {
        sub.pk: price(sub.plan.usage_terms, measured[sub.pk], *days[sub.pk]) for sub in subscriptions if sub.pk in days
    }


def billed_charges():
    """Usage charges that still stand: one on a payment request that was withdrawn gave
    its month back, to be billed again (as the request's subscriptions do)."""
    withdrawn = Q(invoice_line__invoice__kind=Invoice.Kind.PRO_FORMA) & Q(
        invoice_line__invoice__status=Invoice.Status.CANCELLED
    )
    return UsageCharge.objects.exclude(withdrawn)


def withdrawn_charges(subscriptions: list[Subscription], month: dt.date):
    """The usage charges of ``subscriptions`` for ``month`` on withdrawn payment requests:
    replaced when the month is billed again (one charge per subscription and month)."""
    return UsageCharge.objects.filter(subscription__in=subscriptions, month=month.replace(day=1)).exclude(
        pk__in=billed_charges().values("pk")
    )


def usage_due(month: dt.date):
    """Subscriptions with usage terms that ran in ``month`` and whose usage for it is not
    billed yet: billed in arrears by the run for the month after."""
    first, last = month_bounds(month)
    billed = billed_charges().filter(subscription=OuterRef("pk"), month=first)
    return (
        Subscription.objects.filter(plan__usage_terms__isnull=False, started_on__lte=last)
        .filter(Q(ended_on__isnull=True) | Q(ended_on__gte=first))
        .exclude(Exists(billed))
        .select_related("plan__usage_terms", "service")
        .order_by("service__customer_id", "started_on", "pk")
    )


@dataclass
class UsageLine:
    subscription: Subscription
    bill: UsageBill
    line: InvoiceLine
    month: dt.date

    def charge(self) -> UsageCharge:
        """The record of what was billed (once the line is saved)."""
        bill = self.bill
        return UsageCharge(
            subscription=self.subscription,
            period_start=bill.first,
            period_end=bill.last,
            month=self.month,
            method=bill.terms.method,
            measured=bill.measured,
            allowance=bill.allowance,
            overage=bill.overage,
            samples=bill.measured_in.samples,
            samples_expected=bill.measured_in.expected,
            invoice_line=self.line,
        )


def usage_lines(invoice: Invoice, subscriptions: list[Subscription], month: dt.date) -> list[UsageLine]:
    """The invoice's lines for the usage of ``subscriptions`` in ``month`` (not saved)."""
    month = month.replace(day=1)
    bills = usage_bills(subscriptions, month)
    lines = []
    for sub in subscriptions:
        bill = bills.get(sub.pk)
        if bill is None:
            continue
        line = build_line(
            invoice,
            description=bill.description(sub.service.name),
            quantity=bill.quantity,
            unit_price=bill.unit_price,
            vat_category=sub.plan.vat_category,
            subscription=sub,
            period_start=bill.first,
            period_end=bill.last,
        )
        lines.append(UsageLine(sub, bill, line, month))
    return lines


def month_to_date(services: list, now: dt.datetime) -> dict[int, dict]:
    """This month's usage against the allowance or commit, per service with usage terms:
    what the dashboard shows."""
    month = now.astimezone(dt.UTC).date().replace(day=1)
    subs = list(
        Subscription.objects.filter(
            service__in=services, plan__usage_terms__isnull=False, started_on__lte=now.astimezone(dt.UTC).date()
        )
        .filter(Q(ended_on__isnull=True) | Q(ended_on__gte=month))
        .select_related("plan__usage_terms", "service")
        .order_by("service_id", "-started_on")
    )
    latest: dict[int, Subscription] = {}
    for sub in subs:
        latest.setdefault(sub.service_id, sub)
    bills = usage_bills(list(latest.values()), month, until=now)
    summary = {}
    for service_id, sub in latest.items():
        bill = bills.get(sub.pk)
        if bill is None:
            continue
        share = (bill.measured / bill.allowance * 100) if bill.allowance else None
        summary[service_id] = {
            "bill": bill,
            "percent": share.quantize(Decimal("1")) if share is not None else None,
            "over": bill.overage > 0,
        }
    return summary
