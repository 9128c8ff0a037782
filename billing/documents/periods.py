"""Billing periods and proration: calendar arithmetic every billing rule shares."""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import Decimal

from django.conf import settings

from billing.money import to_money


def add_months(day: dt.date, months: int) -> dt.date:
    """The first day of the month ``months`` after ``day``'s month (negative: before)."""
    month = day.month - 1 + months
    return dt.date(day.year + month // 12, month % 12 + 1, 1)


def month_bounds(day: dt.date) -> tuple[dt.date, dt.date]:
    """First and last day of ``day``'s month."""
    return day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1])


def period_bounds(period_start: dt.date, months: int = 1) -> tuple[dt.date, dt.date]:
    """A billing period of ``months`` calendar months starting on the first of a month."""
    start = period_start.replace(day=1)
    return start, add_months(start, months) - dt.timedelta(days=1)


def day_in_month(month_day: dt.date, day: int) -> dt.date:
    """Day ``day`` of ``month_day``'s month; the last day when the month is shorter."""
    return month_day.replace(day=min(day, month_bounds(month_day)[1].day))


def current_financial_year(today: dt.date) -> tuple[dt.date, dt.date]:
    """The provider's financial year containing ``today`` (PORTAL_FINANCIAL_YEAR_END)."""
    month, day = settings.PORTAL_FINANCIAL_YEAR_END
    end = dt.date(today.year, month, day)
    if end < today:
        end = dt.date(today.year + 1, month, day)
    start = dt.date(end.year - 1, month, day) + dt.timedelta(days=1)
    return start, end


def prorate(
    plan_price: Decimal,
    period_start: dt.date,
    period_end: dt.date,
    active_from: dt.date,
    active_to: dt.date | None = None,
) -> Decimal:
    """The price for the part of a billing period a service was active.

    Rule: daily proration over the period's actual days, both ends inclusive:
    price × active days ÷ days in the period, rounded half up to the penny. So a
    month's price is split by 31, 30, 28 or 29 days depending on the month, and a
    service active the whole period pays exactly the plan price. ``active_to=None``
    means still active at the end of the period.
    """
    if period_end < period_start:
        raise ValueError("The period ends before it starts.")
    start = max(period_start, active_from)
    end = min(period_end, active_to or period_end)
    if end < start:
        return Decimal("0.00")
    period_days = (period_end - period_start).days + 1
    active_days = (end - start).days + 1
    if active_days == period_days:
        return to_money(plan_price)
    return to_money(Decimal(plan_price) * active_days / period_days)
