"""Raw samples are rolled up to daily totals by the retention sweep once the dispute window
has passed; a legal hold keeps them as they are."""

from __future__ import annotations

import datetime as dt

import pytest

from billing.usage.models import DailyUsage, UsageSample
from core import registry
from privacy.services.holds import place_hold
from privacy.services.retention import sweep
from tests.accounts.factories import ServiceFactory, StaffFactory
from tests.billing.usage_helpers import store

pytestmark = pytest.mark.django_db

JANUARY_2025 = dt.date(2025, 1, 1)


def test_samples_are_declared_and_kept_for_the_dispute_window_after_their_invoice(settings):
    declaration = registry.declaration_for(UsageSample)
    assert registry.Category.USAGE in declaration.categories
    # Billed in the next month's run, then 13 months to dispute the invoice.
    assert declaration.retention.months == settings.PORTAL_USAGE_DISPUTE_MONTHS + 2 == 15
    assert declaration.retention.summarise is not None


def test_the_sweep_rolls_samples_up_to_daily_totals_after_the_dispute_window():
    service = ServiceFactory()
    store(service, JANUARY_2025, [1] * 300, [2] * 300)  # 1 January (288) and 12 of 2 January
    recent = dt.date(2026, 10, 1)
    store(service, recent, [5] * 10)
    # 15 months after 1–2 January 2025 is 1–2 April 2026: on 1 April only the 1st is due.
    sweep(dry_run=False, today=dt.date(2026, 4, 1), batch_size=100)
    assert UsageSample.objects.filter(interval_start__date=JANUARY_2025).count() == 0
    assert UsageSample.objects.filter(interval_start__date=dt.date(2025, 1, 2)).count() == 12
    day = DailyUsage.objects.get(service=service, day=JANUARY_2025)
    assert (day.bytes_in, day.bytes_out, day.samples) == (288, 576, 288)  # in three batches, added up
    sweep(dry_run=False, today=dt.date(2026, 12, 6))
    assert list(DailyUsage.objects.order_by("day").values_list("day", "samples")) == [
        (JANUARY_2025, 288),
        (dt.date(2025, 1, 2), 12),
    ]
    assert UsageSample.objects.count() == 10  # October 2026's are kept


def test_a_dry_run_changes_nothing():
    service = ServiceFactory()
    store(service, JANUARY_2025, [1] * 10)
    report = sweep(dry_run=True, today=dt.date(2026, 12, 6))
    entry = next(m for m in report.models if m.model == "billing.UsageSample")
    assert entry.due == 10
    assert UsageSample.objects.count() == 10 and not DailyUsage.objects.exists()


def test_a_legal_hold_keeps_the_samples_as_they_are():
    held, free = ServiceFactory(), ServiceFactory()
    store(held, JANUARY_2025, [1] * 10)
    store(free, JANUARY_2025, [1] * 10)
    place_hold(held.customer, reason="Dispute over the January 2025 invoice", actor=StaffFactory())
    sweep(dry_run=False, today=dt.date(2026, 12, 6))
    assert UsageSample.objects.filter(service=held).count() == 10
    assert not DailyUsage.objects.filter(service=held).exists()
    assert DailyUsage.objects.get(service=free).samples == 10
