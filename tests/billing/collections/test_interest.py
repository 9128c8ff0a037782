"""Statutory interest and compensation, worked by hand (docs/collections.md).

Bank Rate in force: 31 Dec 2024 4.75%, 30 June 2024 5.25%, 30 June 2025 4.25%, 31 Dec 2025
3.75% (the seeded Bank of England history). Interest = owed × (8% + reference rate) × days / 365.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from billing.collections.interest import compensation, interest, reference_day
from billing.collections.rates import reference_rate

D = dt.date


@pytest.mark.parametrize(
    ("due_on", "day"),
    [
        (D(2025, 1, 1), D(2024, 12, 31)),
        (D(2025, 6, 30), D(2024, 12, 31)),
        (D(2025, 7, 1), D(2025, 6, 30)),
        (D(2025, 12, 31), D(2025, 6, 30)),
    ],
)
def test_the_reference_day_is_30_june_or_31_december_before_the_due_date(due_on, day):
    assert reference_day(due_on) == day


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("due_on", "rate"),
    [
        (D(2024, 12, 31), Decimal("5.25")),  # 30 June 2024: 5.25% (cut to 5% on 1 Aug 2024)
        (D(2025, 1, 1), Decimal("4.75")),  # 31 Dec 2024: 4.75% (since 7 Nov 2024)
        (D(2025, 6, 30), Decimal("4.75")),
        (D(2025, 7, 1), Decimal("4.25")),  # 30 June 2025: 4.25% (since 8 May 2025)
        (D(2025, 12, 31), Decimal("4.25")),
        (D(2026, 1, 1), Decimal("3.75")),  # 31 Dec 2025: 3.75% (since 18 Dec 2025)
    ],
)
def test_the_seeded_bank_rate_in_force_on_the_reference_day(due_on, rate):
    assert reference_rate(reference_day(due_on)) == rate


@pytest.mark.parametrize(
    ("owed", "due_on", "until", "ref", "days", "expected"),
    [
        # due 30 June 2025: 12.75%, 1–30 July = 30 days: 1000 × 0.1275 × 30 / 365 = 10.479 → 10.48
        ("1000.00", D(2025, 6, 30), D(2025, 7, 30), "4.75", 30, "10.48"),
        # due 1 July 2025: 12.25%, 2–31 July = 30 days: 1000 × 0.1225 × 30 / 365 = 10.068 → 10.07
        ("1000.00", D(2025, 7, 1), D(2025, 7, 31), "4.25", 30, "10.07"),
        # due 31 Dec 2024: 13.25%, 1–30 Jan = 30 days: 2400 × 0.1325 × 30 / 365 = 26.137 → 26.14
        ("2400.00", D(2024, 12, 31), D(2025, 1, 30), "5.25", 30, "26.14"),
        # due 1 Jan 2025: 12.75%, 2–31 Jan = 30 days: 2400 × 0.1275 × 30 / 365 = 25.151 → 25.15
        ("2400.00", D(2025, 1, 1), D(2025, 1, 31), "4.75", 30, "25.15"),
        # due 1 Jan 2026: 11.75%, 2 Jan–2 Apr = 91 days: 500 × 0.1175 × 91 / 365 = 14.647 → 14.65
        ("500.00", D(2026, 1, 1), D(2026, 4, 2), "3.75", 91, "14.65"),
        # on the due date itself nothing has accrued
        ("500.00", D(2026, 1, 1), D(2026, 1, 1), "3.75", 0, "0.00"),
    ],
)
def test_interest_worked_by_hand(owed, due_on, until, ref, days, expected):
    worked = interest(owed=Decimal(owed), due_on=due_on, until=until, reference_rate=Decimal(ref))

    assert worked.days == days
    assert worked.annual_rate == Decimal("8") + Decimal(ref)
    assert worked.amount == Decimal(expected)


def test_interest_runs_on_what_is_left_after_a_part_payment():
    # £1,000 due 1 July 2025 at 12.25%; £400 paid on 17 July: 2–16 July (15 days) on £1,000,
    # 17–31 July (15 days) on £600: (15,000 + 9,000) × 0.1225 / 365 = 8.055 → 8.05
    worked = interest(
        owed=Decimal("1000.00"),
        due_on=D(2025, 7, 1),
        until=D(2025, 7, 31),
        reference_rate=Decimal("4.25"),
        reductions=[(D(2025, 7, 17), Decimal("400.00"))],
    )

    assert worked.amount == Decimal("8.05")


def test_interest_already_charged_is_not_charged_again():
    # Charged to 31 July; from 1 August to 30 August (30 days): 1000 × 0.1225 × 30 / 365 = 10.07
    worked = interest(
        owed=Decimal("1000.00"),
        due_on=D(2025, 7, 1),
        until=D(2025, 8, 30),
        reference_rate=Decimal("4.25"),
        since=D(2025, 8, 1),
    )

    assert (worked.start, worked.days, worked.amount) == (D(2025, 8, 1), 30, Decimal("10.07"))


@pytest.mark.parametrize(
    ("debt", "fixed_sum"),
    [
        ("0.01", "40.00"),
        ("999.99", "40.00"),
        ("1000.00", "70.00"),
        ("9999.99", "70.00"),
        ("10000.00", "100.00"),
        ("250000.00", "100.00"),
    ],
)
def test_compensation_bands_at_their_edges(debt, fixed_sum):
    assert compensation(Decimal(debt)) == Decimal(fixed_sum)
