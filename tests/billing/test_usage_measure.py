"""The 95th percentile and total transfer, on hand-made series with known answers, and the
SQL and Python paths agreeing on any data."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.usage import measure
from billing.usage.measure import day_span
from billing.usage.models import UsageSample
from billing.usage.rates import discarded, gigabytes, mbit_per_second, percentile_95
from tests.accounts.factories import ServiceFactory
from tests.billing.usage_helpers import store

NOVEMBER = dt.date(2026, 11, 1)  # 30 days
DECEMBER = dt.date(2026, 12, 1)  # 31 days
MB = 1_000_000


def test_a_30_day_month_discards_the_top_432_of_8640_samples():
    values = list(range(1, 8641))
    assert discarded(8640) == 432
    # Ascending 1..8640: the 432 highest go, the highest left is 8208.
    assert percentile_95(values, 8640) == 8208
    assert percentile_95(reversed(values), 8640) == 8208  # order of arrival does not matter


def test_a_31_day_month_has_8928_samples_and_discards_446():
    assert day_span("x", 1, DECEMBER, dt.date(2026, 12, 31)).expected == 8928
    assert discarded(8928) == 446
    assert percentile_95(range(1, 8929), 8928) == 8928 - 446


def test_ties_at_the_cut_are_billed_at_the_tied_value():
    # 500 samples share the peak: discarding 432 of them leaves the peak billable.
    assert percentile_95([1000] * 500 + [10] * 8140, 8640) == 1000
    # Exactly 432 at the peak: all discarded, the next value is billed.
    assert percentile_95([1000] * 432 + [10] * 8208, 8640) == 10
    # 433 at the peak: one remains.
    assert percentile_95([1000] * 433 + [10] * 8207, 8640) == 1000


def test_an_all_zero_month_bills_zero():
    assert percentile_95([0] * 8640, 8640) == 0


def test_missing_samples_count_as_zero():
    # Only 432 samples arrived, all high: they are the top 5% of the month's 8,640.
    assert percentile_95([5000] * 432, 8640) == 0
    assert percentile_95([5000] * 432 + [7], 8640) == 7


@pytest.mark.parametrize(
    ("month", "last"),
    [(dt.date(2026, 3, 1), dt.date(2026, 3, 31)), (dt.date(2026, 10, 1), dt.date(2026, 10, 31))],
    ids=["clocks-forward-march", "clocks-back-october"],
)
def test_a_month_with_a_dst_change_has_288_samples_every_day_in_utc(month, last):
    # The UK clocks change on 29 March and 25 October 2026: a local-time month would have
    # 8,916 or 8,940 intervals; billing counts in UTC, so both have 31 × 288.
    span = day_span("x", 1, month, last)
    assert span.start.tzinfo == dt.UTC
    assert span.expected == 8928


def test_rates_and_decimal_gigabytes():
    # 37.5 MB in 5 minutes is 1 Mbit/s; 10⁹ bytes are 1 GB (not 2³⁰).
    assert mbit_per_second(37_500_000) == Decimal("1.000")
    assert gigabytes(10**9) == Decimal("1.000")
    assert gigabytes(2**30) == Decimal("1.074")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", [measure.in_python, measure.in_sql, measure._ranked], ids=["python", "sql", "window-functions"]
)
def test_both_paths_bill_the_hand_made_month(path):
    service, quiet = ServiceFactory(), ServiceFactory()
    inbound = [i * MB for i in range(1, 8641)]
    outbound = [(8641 - i) * MB // 2 for i in range(1, 8641)]
    store(service, NOVEMBER, inbound, outbound)
    store(quiet, NOVEMBER, [0] * 100)  # mostly missing, all zero
    spans = [
        day_span("busy", service.pk, NOVEMBER, dt.date(2026, 11, 30)),
        day_span("quiet", quiet.pk, NOVEMBER, dt.date(2026, 11, 30)),
    ]
    result = path(spans)
    busy = result["busy"]
    assert (busy.samples, busy.expected) == (8640, 8640)
    assert busy.p95_in == 8208 * MB
    assert busy.p95_out == 8208 * MB // 2
    assert busy.p95 == 8208 * MB  # the higher direction
    assert busy.bytes_in == sum(inbound) and busy.bytes_out == sum(outbound)
    assert (result["quiet"].samples, result["quiet"].p95) == (100, 0)


@pytest.mark.django_db
def test_samples_outside_the_span_are_not_measured():
    service = ServiceFactory()
    store(service, NOVEMBER, [MB] * 288)  # 1 November
    store(service, DECEMBER, [9 * MB] * 288)  # 1 December: another month
    span = day_span("nov", service.pk, NOVEMBER, dt.date(2026, 11, 30))
    for path in (measure.in_python, measure.in_sql):
        assert path([span])["nov"].bytes_in == 288 * MB


samples = st.lists(st.tuples(st.integers(0, 600), st.integers(0, 10**12), st.integers(0, 10**12)), max_size=300)


@pytest.mark.django_db
@given(first=samples, second=samples, days=st.integers(1, 3))
def test_the_sql_and_python_paths_agree(first, second, days):
    UsageSample.objects.all().delete()
    services = [ServiceFactory.build(), ServiceFactory.build()]
    for service, rows in zip(services, (first, second), strict=True):
        service.customer.save()
        service.customer_id = service.customer.pk
        service.save()
        unique = {index: (a, b) for index, a, b in rows}  # one sample per interval
        UsageSample.objects.bulk_create(
            UsageSample(
                service=service,
                interval_start=dt.datetime(2026, 11, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=5 * index),
                bytes_in=a,
                bytes_out=b,
            )
            for index, (a, b) in unique.items()
        )
    spans = [day_span(n, s.pk, NOVEMBER, NOVEMBER + dt.timedelta(days=days - 1)) for n, s in enumerate(services)]
    assert measure.in_sql(spans) == measure.in_python(spans)


@pytest.mark.django_db
def test_many_services_measured_in_parts_give_the_same_answer(monkeypatch, django_assert_max_num_queries):
    """Past PARALLEL_FROM_SERVICES, PostgreSQL gets the services in parts (one query of
    UNION ALL): every service is measured once, as the Python path measures it."""
    monkeypatch.setattr(measure, "PARALLEL_FROM_SERVICES", 2)
    services = [ServiceFactory() for _ in range(5)]
    for n, service in enumerate(services):
        store(service, NOVEMBER, [(i * 7919 * (n + 1)) % 1000 * MB for i in range(900)], [n * MB] * 900, first=n)
    spans = [day_span(service.pk, service.pk, NOVEMBER, dt.date(2026, 11, 30)) for service in services]
    spans.append(day_span("none", 10**9, NOVEMBER, dt.date(2026, 11, 30)))  # a service without samples
    with django_assert_max_num_queries(7):
        result = measure.in_sql(spans)
    assert result == measure.in_python(spans)
    assert len(result) == 6 and result["none"].samples == 0
    assert [result[s.pk].p95_out for s in services] == [n * MB for n in range(5)]
