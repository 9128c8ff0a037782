"""Deadline arithmetic on edge dates (privacy/deadlines.py).

UK GDPR: one calendar month from the day the clock starts (the month's last day when it has no
such date), plus the days paused, then moved to the next working day in England and Wales; an
extended deadline is three months from the same start, counted the same way and rolled once at
the end (the ICO's counting). CCPA: confirm within 10 business days and answer within 45 days of
receipt, 45 more when extended; a request to limit the use of sensitive personal information
within 15 business days, with no extension.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from privacy import deadlines
from privacy.models import DataSubjectRequest

D = dt.date


@pytest.mark.parametrize(
    ("start", "due"),
    [
        (D(2024, 1, 31), D(2024, 2, 29)),  # leap year: the month's last day, a Thursday
        (D(2025, 1, 31), D(2025, 2, 28)),  # no 31 February: the 28th, a Friday
        (D(2026, 1, 31), D(2026, 3, 2)),  # 28 February 2026 is a Saturday → Monday
        (D(2026, 2, 7), D(2026, 3, 9)),  # 7 March 2026 is a Saturday → Monday
        (D(2026, 3, 2), D(2026, 4, 2)),  # same date next month, a working day
        (D(2026, 11, 25), D(2026, 12, 29)),  # Christmas Fri, 26 Sat, 27 Sun, 28 Mon (Boxing Day substitute)
        (D(2026, 3, 6), D(2026, 4, 7)),  # 6 April 2026 is Easter Monday
        (D(2022, 5, 2), D(2022, 6, 6)),  # 2 and 3 June 2022: Platinum Jubilee bank holidays
        (D(2023, 4, 8), D(2023, 5, 9)),  # 8 May 2023: the coronation
        (D(2020, 4, 8), D(2020, 5, 11)),  # 8 May 2020: VE Day (moved from 4 May)
    ],
)
def test_one_calendar_month_lands_on_a_working_day(start, due):
    assert deadlines.gdpr_deadline(start) == due


def test_special_bank_holidays_are_known():
    for day in [D(2020, 5, 8), D(2022, 6, 2), D(2022, 6, 3), D(2022, 9, 19), D(2023, 5, 8), D(2026, 12, 28)]:
        assert not deadlines.is_working_day(day)
    assert deadlines.is_working_day(D(2020, 5, 4))  # the usual early May holiday moved that year
    assert deadlines.is_working_day(D(2022, 5, 30))  # spring bank holiday moved to 2 June


@pytest.mark.parametrize(
    "day",
    [
        # Known bank holidays in England and Wales, from gov.uk/bank-holidays and the rules
        # behind it, before, inside and after the years the old hand-kept table covered.
        D(2019, 12, 25),
        D(2019, 5, 6),
        D(2027, 3, 26),  # Good Friday 2027
        D(2027, 12, 28),  # Boxing Day substitute (26th is a Sunday, 27th takes Christmas)
        D(2031, 4, 14),  # Easter Monday 2031
        D(2031, 12, 26),
        D(2032, 12, 27),  # Christmas 2032 is a Saturday: substitute Monday
        D(2040, 4, 2),  # Easter Monday 2040
    ],
)
def test_bank_holidays_come_from_a_maintained_calendar_with_no_last_year(day):
    assert not deadlines.is_working_day(day)


def test_a_request_after_2030_gets_a_deadline():
    # 15 December 2030 + one month = Wednesday 15 January 2031 (the old table raised an error).
    assert deadlines.gdpr_deadline(D(2030, 12, 15)) == D(2031, 1, 15)
    # 25 November 2031 + one month = Thursday 25 December, then Boxing Day, a weekend → 29 December.
    assert deadlines.gdpr_deadline(D(2031, 11, 25)) == D(2031, 12, 29)


@pytest.mark.parametrize(
    ("start", "due", "extended_due"),
    [
        # 3 October 2026 is a Saturday, so the first deadline moves to Monday 5 October; the
        # extended one is three months from 3 September, Thursday 3 December (not 7 December,
        # which adding two months to the rolled date gives).
        (D(2026, 9, 3), D(2026, 10, 5), D(2026, 12, 3)),
        (D(2026, 3, 31), D(2026, 4, 30), D(2026, 6, 30)),
        # 28 February 2026 (Saturday) → 2 March; extended: 30 April, a Thursday (not 5 May).
        (D(2026, 1, 31), D(2026, 3, 2), D(2026, 4, 30)),
        # Three months from 30 November is 28 February 2027 (a Sunday, no 30th) → 1 March.
        (D(2026, 11, 30), D(2026, 12, 30), D(2027, 3, 1)),
        # Three months from 27 September is Sunday 27 December, the 28th a bank holiday → 29th.
        (D(2026, 9, 27), D(2026, 10, 27), D(2026, 12, 29)),
    ],
)
def test_extension_is_three_months_from_the_clock_start_rolled_once(start, due, extended_due):
    assert deadlines.gdpr_deadline(start) == due
    assert deadlines.gdpr_deadline(start, extended=True) == extended_due


def test_days_paused_are_added():
    assert deadlines.gdpr_deadline(D(2026, 3, 2), paused_days=0) == D(2026, 4, 2)
    assert deadlines.gdpr_deadline(D(2026, 3, 2), paused_days=5) == D(2026, 4, 7)
    # 2 April + 3 = Sunday 5 April → Easter Monday → Tuesday 7 April
    assert deadlines.gdpr_deadline(D(2026, 3, 2), paused_days=3) == D(2026, 4, 7)
    # Extended: three months from 2 March is 2 June, + 10 days paused = Friday 12 June. (The
    # old counting rolled 12 April to Monday 13 April first and gave Monday 15 June.)
    assert deadlines.gdpr_deadline(D(2026, 3, 2), paused_days=10, extended=True) == D(2026, 6, 12)


def test_ccpa_confirms_in_ten_business_days_and_answers_in_45_plus_45():
    assert deadlines.ccpa_confirm_deadline(D(2026, 3, 2)) == D(2026, 3, 16)  # Monday → Monday two weeks on
    assert deadlines.ccpa_confirm_deadline(D(2026, 3, 6)) == D(2026, 3, 20)  # from a Friday
    assert deadlines.ccpa_deadline(D(2026, 3, 2)) == D(2026, 4, 16)
    assert deadlines.ccpa_deadline(D(2026, 3, 2), extended=True) == D(2026, 5, 31)


def test_ccpa_limit_on_sensitive_information_is_answered_in_15_business_days():
    assert deadlines.ccpa_limit_sensitive_deadline(D(2026, 3, 2)) == D(2026, 3, 23)  # Monday → three weeks on
    assert deadlines.ccpa_limit_sensitive_deadline(D(2026, 3, 6)) == D(2026, 3, 27)  # from a Friday
    request = DataSubjectRequest(kind="limit_sensitive", regime="ccpa", received_at=_at(D(2026, 3, 2)))
    assert deadlines.due_date(request) == D(2026, 3, 23)
    assert not deadlines.can_be_extended("ccpa", "limit_sensitive")
    request.extended = True  # the law has no extension for it, whatever the flag says
    assert deadlines.due_date(request) == D(2026, 3, 23)


def _at(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(10, 0)))


def test_due_date_of_a_request_waits_for_confirmation_under_gdpr():
    request = DataSubjectRequest(kind="access", regime="uk_gdpr", received_at=_at(D(2026, 1, 10)))
    assert deadlines.due_date(request) is None
    assert deadlines.days_left(request, D(2026, 1, 20)) is None
    request.confirmed_at = _at(D(2026, 1, 31))
    assert deadlines.due_date(request) == D(2026, 3, 2)
    assert deadlines.confirm_due_date(request) is None
    assert deadlines.days_left(request, D(2026, 2, 27)) == 3
    assert deadlines.days_left(request, D(2026, 3, 4)) == -2
    request.extended = True
    assert deadlines.due_date(request) == D(2026, 4, 30)
    assert deadlines.original_due_date(request) == D(2026, 3, 2)


def test_ccpa_request_runs_from_receipt():
    request = DataSubjectRequest(kind="know", regime="ccpa", received_at=_at(D(2026, 3, 2)))
    assert deadlines.confirm_due_date(request) == D(2026, 3, 16)
    assert deadlines.due_date(request) == D(2026, 4, 16)
    request.extended = True
    assert deadlines.due_date(request) == D(2026, 5, 31)


def test_the_clock_starts_on_the_local_date():
    # 23:30 UTC on 31 January 2026 is still 31 January in London (GMT); in summer BST moves it.
    request = DataSubjectRequest(
        kind="access", regime="uk_gdpr", confirmed_at=dt.datetime(2026, 6, 30, 23, 30, tzinfo=dt.UTC)
    )
    assert deadlines.clock_start(request) == D(2026, 7, 1)
