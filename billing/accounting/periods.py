"""Accounting periods: a month, a VAT quarter of the provider's stagger, a financial year
or any range of dates."""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date
    label: str

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"The period cannot end ({self.end}) before it starts ({self.start}).")

    def __contains__(self, day: dt.date) -> bool:
        return self.start <= day <= self.end


def month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def month(year: int, month_number: int) -> Period:
    start = dt.date(year, month_number, 1)
    return Period(start, month_end(year, month_number), f"{start:%B %Y}")


def vat_quarter(year: int, end_month: int) -> Period:
    """The VAT quarter ending in ``end_month`` of ``year``."""
    start_year, start_month = add_months(year, end_month, -2)
    end = month_end(year, end_month)
    return Period(dt.date(start_year, start_month, 1), end, f"VAT quarter to {end:%B %Y}")


def quarter_end_months(stagger: int) -> tuple[int, ...]:
    """The months VAT quarters end in for HMRC stagger 1 (March…), 2 (April…) or 3 (May…)."""
    first = 2 + stagger  # stagger 1 → March
    return tuple(sorted(((first - 1 + 3 * i) % 12) + 1 for i in range(4)))


def vat_quarters(stagger: int, *, until: dt.date, count: int = 8) -> list[Period]:
    """The ``count`` latest VAT quarters that have started by ``until``, newest first."""
    ends = quarter_end_months(stagger)
    year, mon = until.year, until.month
    while mon not in ends:
        year, mon = add_months(year, mon, 1)
    quarters = []
    while len(quarters) < count:
        quarters.append(vat_quarter(year, mon))
        year, mon = add_months(year, mon, -3)
    return quarters


def financial_year(ending_year: int, end_month: int, end_day: int) -> Period:
    """The financial year ending on ``end_day``/``end_month`` of ``ending_year``."""
    end = dt.date(ending_year, end_month, min(end_day, calendar.monthrange(ending_year, end_month)[1]))
    previous_end = dt.date(ending_year - 1, end_month, min(end_day, calendar.monthrange(ending_year - 1, end_month)[1]))
    return Period(previous_end + dt.timedelta(days=1), end, f"Year to {end:%-d %B %Y}")


def financial_years(end_month: int, end_day: int, *, until: dt.date, count: int = 6) -> list[Period]:
    latest = financial_year(until.year, end_month, end_day)
    if latest.start > until:
        latest = financial_year(until.year - 1, end_month, end_day)
    elif latest.end < until:
        latest = financial_year(until.year + 1, end_month, end_day)
    return [financial_year(latest.end.year - i, end_month, end_day) for i in range(count)]


def date_range(start: dt.date, end: dt.date) -> Period:
    return Period(start, end, f"{start:%-d %b %Y} to {end:%-d %b %Y}")
