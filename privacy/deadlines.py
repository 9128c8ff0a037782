"""Deadlines for data-subject requests, per regime (DOMAIN.md §6; docs/privacy-requests.md).

UK GDPR and EU GDPR (Art 12(3); ICO "Time limits for responding"): one calendar month
from the day the clock starts — the same date next month; if the next month has no such
date, its last day; if that day is a weekend or a bank holiday in England and Wales, the
next working day. The clock starts when the request, any identity confirmation asked
for, or a fee is received. It stands still while we wait for clarification: the days
paused are added. An extension (complex or numerous requests) adds two further months,
counted the same way from the original deadline.

CCPA (Cal. Code Regs. tit. 11 §7021): confirm receipt within 10 business days and
respond within 45 calendar days of receipt, extendable once by 45 more with notice. The
CCPA periods run from receipt, not from verification, and have no clarification pause.
"Business days" here are Monday to Friday; US federal holidays are *not* skipped, which
makes our confirmation deadline the same or earlier than the law's, never later.

Pure functions of dates; the services store the results on the request (``due_on``,
``confirm_due_on``) so that the admin can sort and filter by them.
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import TYPE_CHECKING

from django.utils import timezone

if TYPE_CHECKING:
    from privacy.models import DataSubjectRequest


class BankHolidaysUnknown(LookupError):
    """A date outside the bank-holiday table: the deadline cannot be computed safely."""


def _days(year: int, *month_days: tuple[int, int]) -> set[dt.date]:
    return {dt.date(year, month, day) for month, day in month_days}


# Bank holidays in England and Wales, from gov.uk/bank-holidays (2020–2027 published there;
# 2028–2030 by the statutory and customary rules, with substitute days for weekends).
# Special days included: 8 May 2020 (VE Day, moved from 4 May), 2 and 3 June 2022 (Platinum
# Jubilee, spring bank holiday moved from 30 May), 19 September 2022 (the Queen's state
# funeral), 8 May 2023 (the King's coronation). Extend the table each year from gov.uk.
BANK_HOLIDAYS_FIRST_YEAR = 2020
BANK_HOLIDAYS_LAST_YEAR = 2030
BANK_HOLIDAYS: frozenset[dt.date] = frozenset(
    _days(2020, (1, 1), (4, 10), (4, 13), (5, 8), (5, 25), (8, 31), (12, 25), (12, 28))
    | _days(2021, (1, 1), (4, 2), (4, 5), (5, 3), (5, 31), (8, 30), (12, 27), (12, 28))
    | _days(2022, (1, 3), (4, 15), (4, 18), (5, 2), (6, 2), (6, 3), (8, 29), (9, 19), (12, 26), (12, 27))
    | _days(2023, (1, 2), (4, 7), (4, 10), (5, 1), (5, 8), (5, 29), (8, 28), (12, 25), (12, 26))
    | _days(2024, (1, 1), (3, 29), (4, 1), (5, 6), (5, 27), (8, 26), (12, 25), (12, 26))
    | _days(2025, (1, 1), (4, 18), (4, 21), (5, 5), (5, 26), (8, 25), (12, 25), (12, 26))
    | _days(2026, (1, 1), (4, 3), (4, 6), (5, 4), (5, 25), (8, 31), (12, 25), (12, 28))
    | _days(2027, (1, 1), (3, 26), (3, 29), (5, 3), (5, 31), (8, 30), (12, 27), (12, 28))
    | _days(2028, (1, 3), (4, 14), (4, 17), (5, 1), (5, 29), (8, 28), (12, 25), (12, 26))
    | _days(2029, (1, 1), (3, 30), (4, 2), (5, 7), (5, 28), (8, 27), (12, 25), (12, 26))
    | _days(2030, (1, 1), (4, 19), (4, 22), (5, 6), (5, 27), (8, 26), (12, 25), (12, 26))
)

GDPR_MONTHS = 1
GDPR_EXTENSION_MONTHS = 2
CCPA_CONFIRM_BUSINESS_DAYS = 10
CCPA_RESPONSE_DAYS = 45
CCPA_EXTENSION_DAYS = 45


def _check_year(day: dt.date) -> None:
    if not BANK_HOLIDAYS_FIRST_YEAR <= day.year <= BANK_HOLIDAYS_LAST_YEAR:
        raise BankHolidaysUnknown(
            f"No bank holidays for England and Wales are recorded for {day.year}: the table in "
            f"privacy/deadlines.py covers {BANK_HOLIDAYS_FIRST_YEAR}–{BANK_HOLIDAYS_LAST_YEAR}. "
            "Add that year's dates from gov.uk/bank-holidays."
        )


def is_working_day(day: dt.date) -> bool:
    """Monday to Friday and not a bank holiday in England and Wales."""
    _check_year(day)
    return day.weekday() < 5 and day not in BANK_HOLIDAYS


def next_working_day(day: dt.date) -> dt.date:
    """``day`` itself if it is a working day, else the first working day after it."""
    while not is_working_day(day):
        day += dt.timedelta(days=1)
    return day


def add_calendar_months(day: dt.date, months: int) -> dt.date:
    """The same date ``months`` later; the month's last day when it has no such date."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    last = calendar.monthrange(year, month)[1]
    return dt.date(year, month, min(day.day, last))


def gdpr_deadline(clock_start: dt.date, *, paused_days: int = 0, extended: bool = False) -> dt.date:
    """One calendar month from ``clock_start``, plus the days paused, onto a working day.

    With an extension, two further months counted the same way from that deadline.
    """
    deadline = next_working_day(add_calendar_months(clock_start, GDPR_MONTHS) + dt.timedelta(days=paused_days))
    if extended:
        deadline = next_working_day(add_calendar_months(deadline, GDPR_EXTENSION_MONTHS))
    return deadline


def add_business_days(day: dt.date, count: int) -> dt.date:
    """``count`` weekdays after ``day`` (US federal holidays are not skipped: see the module doc)."""
    while count > 0:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            count -= 1
    return day


def ccpa_confirm_deadline(received: dt.date) -> dt.date:
    return add_business_days(received, CCPA_CONFIRM_BUSINESS_DAYS)


def ccpa_deadline(received: dt.date, *, extended: bool = False) -> dt.date:
    days = CCPA_RESPONSE_DAYS + (CCPA_EXTENSION_DAYS if extended else 0)
    return received + dt.timedelta(days=days)


# ---------------------------------------------------------------------------------------
# On a request
# ---------------------------------------------------------------------------------------


def _local(moment: dt.datetime | None) -> dt.date | None:
    return timezone.localdate(moment) if moment is not None else None


def clock_start(request: DataSubjectRequest) -> dt.date | None:
    """The day the clock started, or None while we wait for confirmation (GDPR only)."""
    if request.regime == request.Regime.CCPA:
        return _local(request.received_at)
    return _local(request.confirmed_at)


def original_due_date(request: DataSubjectRequest) -> dt.date | None:
    """The deadline without any extension (the date an extension must be decided by)."""
    start = clock_start(request)
    if start is None:
        return None
    if request.regime == request.Regime.CCPA:
        return ccpa_deadline(start)
    return gdpr_deadline(start, paused_days=request.paused_days)


def due_date(request: DataSubjectRequest) -> dt.date | None:
    """When the response is due, or None while the clock has not started."""
    start = clock_start(request)
    if start is None:
        return None
    if request.regime == request.Regime.CCPA:
        return ccpa_deadline(start, extended=request.extended)
    return gdpr_deadline(start, paused_days=request.paused_days, extended=request.extended)


def confirm_due_date(request: DataSubjectRequest) -> dt.date | None:
    """CCPA only: the day by which receipt must be confirmed. None for the GDPR regimes."""
    if request.regime != request.Regime.CCPA:
        return None
    return ccpa_confirm_deadline(_local(request.received_at))


def days_left(request: DataSubjectRequest, today: dt.date | None = None) -> int | None:
    """Calendar days until the due date (negative when overdue); None if the clock has not started."""
    due = request.due_on or due_date(request)
    if due is None:
        return None
    return (due - (today or timezone.localdate())).days
