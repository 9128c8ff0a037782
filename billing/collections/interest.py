"""Statutory late-payment interest and fixed-sum compensation (Late Payment of Commercial
Debts (Interest) Act 1998), as pure rules over dates and amounts (docs/collections.md).

- Interest is simple, at 8% a year over the reference rate: the Bank of England Bank Rate
  in force on 30 June for a debt falling due from 1 July to 31 December, on 31 December
  for one falling due from 1 January to 30 June (the rate is fixed for the life of the
  debt). It runs from the day after the due date to the day it is worked out, both
  included, at 1/365 of the annual rate a day (every year, leap or not), on what was
  still owed each day, and is rounded half up once, at the end, to the minor unit of the
  debt's currency (the Act applies to a debt in any currency; the rate is the same).
- Compensation (s.5A), once per debt, on the amount of the debt: £40 under £1,000, £70
  from £1,000 to under £10,000, £100 from £10,000, in pounds: a debt in another currency
  is banded by its sterling equivalent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from billing.money import minor_unit

STATUTORY_MARGIN = Decimal("8")
DAYS_IN_YEAR = Decimal("365")


def reference_day(due_on: dt.date) -> dt.date:
    """The day whose Bank Rate sets the interest on a debt falling due on ``due_on``."""
    if due_on.month <= 6:
        return dt.date(due_on.year - 1, 12, 31)
    return dt.date(due_on.year, 6, 30)


def rate_in_force(rates: Iterable[tuple[dt.date, Decimal]], on: dt.date) -> Decimal:
    """The rate of the latest ``(valid_from, rate)`` starting on or before ``on``."""
    in_force = [(start, rate) for start, rate in rates if start <= on]
    if not in_force:
        raise LookupError(
            f"No Bank of England reference rate is recorded for {on:%-d %B %Y}: add it in Billing → Reference rates."
        )
    return max(in_force)[1]


def compensation(amount: Decimal) -> Decimal:
    """The fixed sum, in pounds, for a debt of ``amount`` pounds."""
    if amount < Decimal("1000"):
        return Decimal("40.00")
    if amount < Decimal("10000"):
        return Decimal("70.00")
    return Decimal("100.00")


@dataclass(frozen=True)
class Interest:
    principal: Decimal  # owed on the first day of the span
    reference_day: dt.date
    reference_rate: Decimal
    annual_rate: Decimal
    start: dt.date  # first day of interest (included)
    end: dt.date  # last day of interest (included)
    days: int
    amount: Decimal  # in the debt's currency
    currency: str = "GBP"

    @property
    def daily(self) -> Decimal:
        daily = self.principal * self.annual_rate / 100 / DAYS_IN_YEAR
        return daily.quantize(minor_unit(self.currency), ROUND_HALF_UP)


def interest(
    *,
    owed: Decimal,
    due_on: dt.date,
    until: dt.date,
    reference_rate: Decimal,
    since: dt.date | None = None,
    reductions: Iterable[tuple[dt.date, Decimal]] = (),
    currency: str = "GBP",
) -> Interest:
    """Interest on a debt of ``owed`` that fell due on ``due_on``, for the days from the
    later of the day after it and ``since`` to ``until``, both included.

    ``reductions`` are ``(day, amount)`` paid or credited: from that day on, interest runs
    on what is left. Amounts are in ``currency``, and the interest is rounded to its minor unit.
    """
    start = max(due_on + dt.timedelta(days=1), since or due_on)
    annual = STATUTORY_MARGIN + reference_rate
    days = max((until - start).days + 1, 0)
    steps = sorted(reductions)
    balance = owed - sum((amount for day, amount in steps if day < start), Decimal("0"))
    principal = balance
    total = Decimal("0")
    day = start
    for when, amount in [(d, a) for d, a in steps if start <= d <= until] + [(until + dt.timedelta(days=1), 0)]:
        span = (when - day).days
        if span > 0 and balance > 0:
            total += balance * span
        balance -= amount
        day = max(day, when)
    unit = minor_unit(currency)
    amount = (total * annual / 100 / DAYS_IN_YEAR).quantize(unit, ROUND_HALF_UP) if days else Decimal(0).quantize(unit)
    return Interest(
        principal=principal,
        reference_day=reference_day(due_on),
        reference_rate=reference_rate,
        annual_rate=annual,
        start=start,
        end=until,
        days=days,
        amount=amount,
        currency=currency,
    )
