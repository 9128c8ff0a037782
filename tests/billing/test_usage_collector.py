"""The example SNMP collector (deploy/collector, docs/usage.md) against recorded counter
traces: a 32-bit counter that wraps, a 64-bit counter that wraps, a reboot and a missed poll."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import importlib.util
import io
import sys
from pathlib import Path

import pytest

from accounts.audit import System
from billing.usage.ingest import ingest
from billing.usage.models import UsageSample
from tests.accounts.factories import ServiceFactory

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"


@functools.cache
def collector():
    """The script, loaded from its file as an operator runs it (it is not a package)."""
    path = ROOT / "deploy/collector/snmp_usage_collector.py"
    spec = importlib.util.spec_from_file_location("snmp_usage_collector", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def trace(name: str):
    module = collector()
    lines = [line for line in (DATA / name).read_text().splitlines() if not line.startswith("#")]
    return [
        module.Reading(dt.datetime.fromisoformat(row["at"]), int(row["octets_in"]), int(row["octets_out"]))
        for row in csv.DictReader(lines)
    ]


def at(minute: int) -> dt.datetime:
    return dt.datetime(2026, 11, 1, 0, minute, tzinfo=dt.UTC)


def test_a_32_bit_counter_that_wraps_gives_the_octets_counted():
    module = collector()
    got = list(module.samples(trace("counter_trace_32bit.csv"), bits=32, max_bytes_per_second=100e6 / 8))
    assert got == [
        (at(0), 150_000_000, 2_000_000_000),
        (at(5), 300_000_000, 1_500_000_000),  # inbound wrapped past 2^32
        (at(10), 90_000_000, 3_600_000_000),  # outbound wrapped
        (at(15), 0, 10),
    ]


def test_a_64_bit_counter_that_wraps_a_reboot_and_a_missed_poll():
    module = collector()
    got = list(module.samples(trace("counter_trace_64bit.csv"), bits=64, max_bytes_per_second=10e9 / 8))
    assert got == [
        (at(0), 1_000_000_000, 2_000_000_000),  # inbound wrapped past 2^64
        (at(5), 906_040_268, 3_020_134_228),  # polled 298 s apart: scaled to the 300 s interval
        (at(10), 496_688_742, 993_377_483),  # 302 s apart
        # 00:15: the switch rebooted (counters reset): not billed as 2^64 bytes, skipped
        (at(20), 700_000_000, 800_000_000),
        # 00:25 and 00:30: a missed poll; the portal counts them as zero
        (at(35), 100, 200),
    ]


@pytest.mark.django_db
def test_what_the_collector_sends_is_what_the_portal_stores():
    module = collector()
    service = ServiceFactory()
    body = module.as_csv(str(service.pk), module.samples(trace("counter_trace_64bit.csv"), bits=64))
    report = ingest(io.StringIO(body), actor=System("tests"))
    assert report.ok and report.stored == 5
    assert list(UsageSample.objects.order_by("interval_start").values_list("bytes_in", flat=True)) == [
        1_000_000_000,
        906_040_268,
        496_688_742,
        700_000_000,
        100,
    ]
