"""Pure arithmetic on usage samples: 5-minute slots, rates, the 95th percentile, decimal GB.

No database here: both the SQL path and the Python path of ``billing.usage.measure`` use
these rules, so they cannot drift.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

SLOT_SECONDS = 300  # a sample covers five minutes
SLOTS_PER_DAY = 86_400 // SLOT_SECONDS  # 288
BYTES_PER_GB = 10**9  # decimal gigabytes, as bandwidth is sold (not GiB)
BITS_PER_MBIT = 10**6
THOUSANDTH = Decimal("0.001")


def slots_between(start: dt.datetime, end: dt.datetime) -> int:
    """How many 5-minute samples a window [start, end) should have (UTC, so every day has
    288: a DST change moves the clocks, not the samples)."""
    return max(0, int((end - start).total_seconds()) // SLOT_SECONDS)


def discarded(expected: int) -> int:
    """How many of the highest samples the 95th percentile discards: 5% of the samples the
    period should have, rounded down (432 of 8,640 in a 30-day month; 446 of 8,928 in a
    31-day month)."""
    return expected * 5 // 100


def percentile_95(values: Iterable[int], expected: int) -> int:
    """The billable sample: sort the period's samples (missing ones count as zero), discard
    the top 5% (``discarded``), and take the highest that remains.

    ``values`` are byte counts per 5-minute sample (rate is proportional, so the order is
    the same). Equal to PostgreSQL's ``percentile_disc(0.95)`` over the padded series.
    """
    ordered = sorted(values, reverse=True)
    expected = max(expected, len(ordered))
    position = discarded(expected)  # 0-based index of the billed sample, highest first
    return ordered[position] if position < len(ordered) else 0


def bits_per_second(sample_bytes: int) -> Decimal:
    """A 5-minute sample's average rate."""
    return Decimal(sample_bytes * 8) / SLOT_SECONDS


def mbit_per_second(sample_bytes: int) -> Decimal:
    """A sample's rate in Mbit/s (10⁶ bits), to three decimal places, half up."""
    return (bits_per_second(sample_bytes) / BITS_PER_MBIT).quantize(THOUSANDTH, ROUND_HALF_UP)


def gigabytes(total_bytes: int) -> Decimal:
    """Bytes in decimal GB (10⁹ bytes), to three decimal places, half up."""
    return (Decimal(total_bytes) / BYTES_PER_GB).quantize(THOUSANDTH, ROUND_HALF_UP)


def max_sample_bytes(line_rate_gbps: int) -> int:
    """The most a 5-minute sample can hold at the line rate: more is a counter error."""
    return line_rate_gbps * 10**9 // 8 * SLOT_SECONDS
