"""The Bank Rate table: its seeded rows name their source, staff confirm how far it is
complete, and interest on debts whose reference day is past the confirmation is not worked
out (docs/collections.md). Interest worked by hand at 8% + 3.75% = 11.75%."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.audit import AuditEvent
from billing.collections.charges import accrued
from billing.collections.models import ReferenceRate, ReferenceRateCheck
from billing.collections.rates import check_due, checked_to, confirm_rates, last_reference_day, reference_rate
from tests.accounts.factories import StaffFactory
from tests.billing.collections.helpers import charges_on, customer, invoice_due
from tests.billing.conftest import logged_in_billing_staff

D = dt.date
pytestmark = pytest.mark.django_db


def at(day: dt.date):
    return time_machine.travel(dt.datetime.combine(day, dt.time(10), tzinfo=dt.UTC), tick=False)


def test_every_seeded_rate_names_the_bank_of_englands_history_as_its_source():
    rows = list(ReferenceRate.objects.all())

    assert len(rows) >= 26
    assert all("Bank of England" in row.source and "Bank Rate history" in row.source for row in rows)


def test_the_table_is_confirmed_up_to_30_june_2026_at_375_percent():
    check = ReferenceRateCheck.objects.get()

    assert checked_to() == D(2026, 6, 30)
    assert "Bank of England" in check.source and "5 February 2026" in check.source and "June 2026" in check.source
    assert reference_rate(D(2025, 12, 31)) == Decimal("3.75")
    assert reference_rate(D(2026, 6, 30)) == Decimal("3.75")


@pytest.mark.parametrize(
    ("due_on", "until", "net", "days", "expected"),
    [
        # Due 15 March 2026: reference day 31 Dec 2025, 3.75% + 8% = 11.75%. 16 March–14 April = 30 days:
        # 1,200 × 0.1175 × 30 / 365 = 141 × 30 / 365 = 11.589 → £11.59.
        (D(2026, 3, 15), D(2026, 4, 14), "1000.00", 30, "11.59"),
        # Due 30 June 2026 (still 31 Dec 2025): 1–31 July = 31 days: 120 × 0.1175 × 31 / 365 = 1.197 → £1.20.
        (D(2026, 6, 30), D(2026, 7, 31), "100.00", 31, "1.20"),
        # Due 1 September 2026: reference day 30 June 2026, 11.75%. 2 Sep–30 Nov = 90 days:
        # 600 × 0.1175 × 90 / 365 = 6,345 / 365 = 17.384 → £17.38.
        (D(2026, 9, 1), D(2026, 11, 30), "500.00", 90, "17.38"),
        # Due 31 December 2026 (30 June 2026): 1–30 Jan 2027 = 30 days: 2,400 × 0.1175 × 30 / 365 = 23.178 → £23.18.
        (D(2026, 12, 31), D(2027, 1, 30), "2000.00", 30, "23.18"),
    ],
)
def test_interest_on_debts_falling_due_in_2026_uses_375_plus_8_percent(provider, due_on, until, net, days, expected):
    charges_on()
    invoice = invoice_due(customer(), due_on, amount=net)

    found = accrued(invoice, today=until)

    assert found.why_not == ""
    assert found.interest.reference_rate == Decimal("3.75") and found.interest.annual_rate == Decimal("11.75")
    assert (found.interest.days, found.interest.amount) == (days, Decimal(expected))


def test_a_reference_day_past_the_confirmation_accrues_nothing_and_says_why(provider):
    charges_on()
    invoice = invoice_due(customer(), D(2027, 1, 4))  # reference day 31 December 2026

    found = accrued(invoice, today=D(2027, 2, 3))

    assert found.interest is None and found.total == 0
    assert "Bank Rate in force on 31 December 2026 is not confirmed" in found.why_not
    assert "last confirmed up to 30 June 2026" in found.why_not

    with at(D(2027, 1, 5)):
        confirm_rates(checked_to=D(2026, 12, 31), source="Bank of England, Bank Rate history", actor=StaffFactory())
    found = accrued(invoice, today=D(2027, 2, 3))
    # 5 Jan–3 Feb = 30 days: 120 × 0.1175 × 30 / 365 = 1.158 → £1.16
    assert (found.interest.days, found.interest.amount) == (30, Decimal("1.16"))


@pytest.mark.parametrize(
    ("today", "day"),
    [(D(2026, 6, 29), D(2025, 12, 31)), (D(2026, 6, 30), D(2026, 6, 30)), (D(2026, 12, 30), D(2026, 6, 30)),
     (D(2026, 12, 31), D(2026, 12, 31)), (D(2027, 1, 1), D(2026, 12, 31))],
)  # fmt: skip
def test_the_last_reference_day(today, day):
    assert last_reference_day(today) == day


def test_staff_are_warned_once_a_reference_day_passes_unconfirmed():
    assert check_due(D(2026, 12, 30)) == ""

    with at(D(2027, 1, 2)):
        billing_staff_client = logged_in_billing_staff()
        page = billing_staff_client.get(reverse("admin:index")).content.decode()
    assert "was last confirmed up to 30 June 2026" in page and "31 December 2026" in page
    assert reverse("admin:billing_referenceratecheck_add") in page

    with at(D(2027, 1, 2)):
        response = billing_staff_client.post(
            reverse("admin:billing_referenceratecheck_add"),
            {"checked_to": "2026-12-31", "source": "Bank of England, Bank Rate history: no change since June"},
            follow=True,
        )
        assert response.status_code == 200
        page = billing_staff_client.get(reverse("admin:index")).content.decode()
    assert "Confirm the Bank Rate table" not in page
    assert checked_to() == D(2026, 12, 31)
    event = AuditEvent.objects.get(action="collections.reference_rates_confirmed")
    assert "31 December 2026 (3.75% in force then)" in event.summary
    listing = billing_staff_client.get(reverse("admin:billing_referencerate_changelist")).content.decode()
    assert "Confirmed complete up to 31 December 2026" in listing


@pytest.mark.parametrize(
    ("day", "source", "message"),
    [
        (D(2026, 12, 31), "Bank of England", "is in the future"),
        (D(2026, 6, 30), "Bank of England", "already confirmed up to 30 June 2026"),
        (D(2026, 3, 31), "Bank of England", "already confirmed up to 30 June 2026"),
        (D(2026, 11, 30), "  ", "Say what the table was checked against"),
    ],
)
def test_a_confirmation_is_refused_with_the_reason(day, source, message):
    with at(D(2026, 12, 6)), pytest.raises(ValidationError, match=message):
        confirm_rates(checked_to=day, source=source, actor=StaffFactory())
    assert ReferenceRateCheck.objects.count() == 1
