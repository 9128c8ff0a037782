"""Deadlines for data-subject requests, per regime (docs/privacy-requests.md).

UK GDPR and EU GDPR (Art 12(3); ICO "Time limits for responding"): one calendar month
from the day the clock starts — the same date next month; if the next month has no such
date, its last day; if that day is a weekend or a bank holiday in England and Wales, the
next working day. The clock starts when the request, any identity confirmation asked
for, or a fee is received. It stands still while we wait for clarification: the days
paused are added. An extension (complex or numerous requests) adds two further months,
counted from the same start: three months from the day the clock started (the same date,
else that month's last day), plus the days paused, and only then moved to a working day.
Bank holidays come from the ``holidays`` library (England), so any year works.

CCPA (Cal. Code Regs. tit. 11 §7021): confirm receipt within 10 business days and
respond within 45 calendar days of receipt, extendable once by 45 more with notice. A
request to limit the use of sensitive personal information must be complied with within
15 business days of receipt (§7027(g)), with no extension. The
CCPA periods run from receipt, not from verification, and have no clarification pause.
"Business days" here are Monday to Friday; US federal holidays are *not* skipped, which
makes our confirmation deadline the same or earlier than the law's, never later.

Pure functions of dates; the services store the results on the request (``due_on``,
``confirm_due_on``) so that the admin can sort and filter by them.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
from typing import TYPE_CHECKING

import holidays
from django.utils import timezone

if TYPE_CHECKING:
    from privacy.models import DataSubjectRequest


GDPR_MONTHS = 1
GDPR_EXTENSION_MONTHS = 2
CCPA_CONFIRM_BUSINESS_DAYS = 10
CCPA_RESPONSE_DAYS = 45
CCPA_EXTENSION_DAYS = 45
CCPA_LIMIT_SENSITIVE_BUSINESS_DAYS = 15


@functools.lru_cache(maxsize=64)
def _bank_holidays(year: int) -> frozenset[dt.date]:
    """Bank holidays in England and Wales for ``year``, from the ``holidays`` library.

    It follows gov.uk/bank-holidays, special days (jubilees, state funerals, the
    coronation) and substitute days included, for any year: there is no end to the table.
    """
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year))


def is_working_day(day: dt.date) -> bool:
    """Monday to Friday and not a bank holiday in England and Wales."""
    return day.weekday() < 5 and day not in _bank_holidays(day.year)


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
    """One calendar month from ``clock_start`` (three with an extension), plus the days
    paused, then onto a working day.

    The months are always counted from the day the clock started, and the result is
    rolled to a working day once, at the end (the ICO's counting): an extended deadline is
    *not* two months from a deadline that was already moved past a weekend or bank holiday.
    """
    months = GDPR_MONTHS + (GDPR_EXTENSION_MONTHS if extended else 0)
    return next_working_day(add_calendar_months(clock_start, months) + dt.timedelta(days=paused_days))


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


def ccpa_limit_sensitive_deadline(received: dt.date) -> dt.date:
    """A request to limit the use of sensitive personal information: 15 business days from
    receipt (§7027(g)), with no extension."""
    return add_business_days(received, CCPA_LIMIT_SENSITIVE_BUSINESS_DAYS)


def can_be_extended(regime: str, kind: str) -> bool:
    """Every deadline may be extended once, except the CCPA's for limiting sensitive information."""
    return not (regime == "ccpa" and kind == "limit_sensitive")


def _ccpa_due(request: DataSubjectRequest, start: dt.date, *, extended: bool) -> dt.date:
    if request.kind == request.Kind.LIMIT_SENSITIVE:
        return ccpa_limit_sensitive_deadline(start)
    return ccpa_deadline(start, extended=extended)


def deadline_phrase(regime: str, kind: str, received: dt.date | None = None) -> str:
    """The deadline that applies, in words for the requester (and, once known, its date).

    Under the GDPR the month starts when identity is confirmed; under the CCPA the period
    runs from receipt, so its date is known as soon as the request arrives.
    """
    if regime != "ccpa":
        return "one calendar month from the day the request is confirmed (two more months if it is complex)"
    if kind == "limit_sensitive":
        phrase = "15 business days from the day we received the request"
        due = ccpa_limit_sensitive_deadline(received) if received else None
    else:
        phrase = "45 days from the day we received the request (45 more if it is complex)"
        due = ccpa_deadline(received) if received else None
    return f"{phrase}, that is by {due:%-d %B %Y}" if due else phrase


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
        return _ccpa_due(request, start, extended=False)
    return gdpr_deadline(start, paused_days=request.paused_days)


def due_date(request: DataSubjectRequest) -> dt.date | None:
    """When the response is due, or None while the clock has not started."""
    start = clock_start(request)
    if start is None:
        return None
    if request.regime == request.Regime.CCPA:
        return _ccpa_due(request, start, extended=request.extended)
    return gdpr_deadline(start, paused_days=request.paused_days, extended=request.extended)


def confirm_due_date(request: DataSubjectRequest) -> dt.date | None:
    """CCPA only: the day by which receipt must be confirmed. None for the GDPR regimes."""
    if request.regime != request.Regime.CCPA:
        return None
    return ccpa_confirm_deadline(_local(request.received_at))


def paused_since(request: DataSubjectRequest) -> dt.date | None:
    """The day a paused request's clock stopped, or None when it runs."""
    if request.status != request.Status.PAUSED or request.paused_at is None:
        return None
    return _local(request.paused_at)


def days_left(request: DataSubjectRequest, today: dt.date | None = None) -> int | None:
    """Calendar days until the due date (negative when overdue); None if the clock has not
    started or stands still (a paused request's due date moves when it resumes)."""
    if paused_since(request) is not None:
        return None
    due = request.due_on or due_date(request)
    if due is None:
        return None
    return (due - (today or timezone.localdate())).days
