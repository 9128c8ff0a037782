"""Deadline arithmetic on edge dates (privacy/deadlines.py).

UK GDPR: one calendar month from the day the clock starts (the month's last day when it has no
such date), moved to the next working day in England and Wales; days paused are added, and an
extension adds two months to the original deadline. CCPA: confirm within 10 business days and
answer within 45 days of receipt, 45 more when extended.
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


def test_special_bank_holidays_are_in_the_table():
    for day in [D(2020, 5, 8), D(2022, 6, 2), D(2022, 6, 3), D(2022, 9, 19), D(2023, 5, 8), D(2026, 12, 28)]:
        assert not deadlines.is_working_day(day)
    assert deadlines.is_working_day(D(2020, 5, 4))  # the usual early May holiday moved that year
    assert deadlines.is_working_day(D(2022, 5, 30))  # spring bank holiday moved to 2 June


def test_a_date_outside_the_bank_holiday_table_is_refused_clearly():
    with pytest.raises(deadlines.BankHolidaysUnknown, match="2031"):
        deadlines.gdpr_deadline(D(2030, 12, 15))
    with pytest.raises(deadlines.BankHolidaysUnknown, match=r"gov\.uk/bank-holidays"):
        deadlines.is_working_day(D(2019, 12, 25))


def test_extension_adds_two_months_to_the_original_deadline():
    assert deadlines.gdpr_deadline(D(2026, 3, 31)) == D(2026, 4, 30)
    assert deadlines.gdpr_deadline(D(2026, 3, 31), extended=True) == D(2026, 6, 30)
    # From a deadline rolled forward past a weekend: 2 March → 2 May (Saturday) → 4 May is a
    # bank holiday → 5 May.
    assert deadlines.gdpr_deadline(D(2026, 1, 31), extended=True) == D(2026, 5, 5)


def test_days_paused_are_added():
    assert deadlines.gdpr_deadline(D(2026, 3, 2), paused_days=0) == D(2026, 4, 2)
    assert deadlines.gdpr_deadline(D(2026, 3, 2), paused_days=5) == D(2026, 4, 7)
    # 2 April + 3 = Sunday 5 April → Easter Monday → Tuesday 7 April
    assert deadlines.gdpr_deadline(D(2026, 3, 2), paused_days=3) == D(2026, 4, 7)
    # 2 April + 10 = Sunday 12 April → Monday 13 April; two months on is Saturday 13 June → Monday 15 June
    assert deadlines.gdpr_deadline(D(2026, 3, 2), paused_days=10, extended=True) == D(2026, 6, 15)


def test_ccpa_confirms_in_ten_business_days_and_answers_in_45_plus_45():
    assert deadlines.ccpa_confirm_deadline(D(2026, 3, 2)) == D(2026, 3, 16)  # Monday → Monday two weeks on
    assert deadlines.ccpa_confirm_deadline(D(2026, 3, 6)) == D(2026, 3, 20)  # from a Friday
    assert deadlines.ccpa_deadline(D(2026, 3, 2)) == D(2026, 4, 16)
    assert deadlines.ccpa_deadline(D(2026, 3, 2), extended=True) == D(2026, 5, 31)


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
    assert deadlines.due_date(request) == D(2026, 5, 5)
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
