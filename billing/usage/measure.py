"""What the samples measure over a window: total transfer, and the 95th percentile.

Two paths give the same answer: ``in_sql`` (in the database; only one row per service
leaves it: on PostgreSQL each service's samples sorted from the highest down in an
ordered aggregate and the billed one picked by its position; elsewhere, window
functions rank each sample per service and direction) and ``in_python`` (the samples
fetched and sorted here, ``rates.percentile_95``). The billing run uses SQL
on PostgreSQL and Python elsewhere; a property test holds them to the same result.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Count, F, Q, Sum, Window
from django.db.models.functions import RowNumber

from billing.usage.models import UsageSample
from billing.usage.rates import discarded, percentile_95, slots_between


@dataclass(frozen=True)
class Span:
    """A service's samples from ``start`` (inclusive) to ``end`` (exclusive), UTC; ``key``
    names it in the result (a subscription, a service)."""

    key: Hashable
    service_id: int
    start: dt.datetime
    end: dt.datetime

    @property
    def expected(self) -> int:
        return slots_between(self.start, self.end)


def day_span(key: Hashable, service_id: int, first: dt.date, last: dt.date) -> Span:
    """The span of whole UTC days ``first`` to ``last``, both inclusive."""
    start = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    return Span(key, service_id, start, end)


@dataclass(frozen=True)
class Measured:
    samples: int  # samples stored in the span
    expected: int  # samples the span should have (missing ones count as zero)
    bytes_in: int  # totals
    bytes_out: int
    p95_in: int  # the billed sample's bytes, per direction
    p95_out: int

    @property
    def p95(self) -> int:
        """The 95th percentile billed: the higher of in and out."""
        return max(self.p95_in, self.p95_out)


def _by_bounds(spans: Iterable[Span]) -> dict[tuple[dt.datetime, dt.datetime], list[Span]]:
    groups: dict[tuple[dt.datetime, dt.datetime], list[Span]] = defaultdict(list)
    for span in spans:
        groups[(span.start, span.end)].append(span)
    return groups


def _samples(start: dt.datetime, end: dt.datetime, service_ids: list[int]):
    return UsageSample.objects.filter(
        service_id__in=service_ids, interval_start__gte=start, interval_start__lt=end
    ).order_by()


def _totals(start: dt.datetime, end: dt.datetime, service_ids: list[int]) -> dict[int, tuple[int, int, int]]:
    rows = (
        _samples(start, end, service_ids)
        .values("service_id")
        .annotate(n=Count("pk"), total_in=Sum("bytes_in"), total_out=Sum("bytes_out"))
    )
    return {row["service_id"]: (row["n"], row["total_in"] or 0, row["total_out"] or 0) for row in rows}


def in_sql(spans: Iterable[Span]) -> dict[Hashable, Measured]:
    """Measure each span in the database, one window of time at a time (the billing run's
    spans mostly share the month's)."""
    if connection.vendor == "postgresql":
        return _in_postgresql(spans)
    return _ranked(spans)


# Per service in one pass: the totals, and each direction's samples in an array sorted
# from the highest down, whose element just below the discarded 5% is the billed one (an
# index past the end, fewer samples than that, is NULL: zero). The sort is per service
# (8,640 values a month, in memory), where a window over all services sorts everything.
_POSTGRESQL = """
SELECT service_id, count(*), sum(bytes_in), sum(bytes_out),
       (array_agg(bytes_in ORDER BY bytes_in DESC))[%(rank)s],
       (array_agg(bytes_out ORDER BY bytes_out DESC))[%(rank)s]
FROM {table}
WHERE service_id = ANY(%(services_{part})s) AND interval_start >= %(start)s AND interval_start < %(end)s
GROUP BY service_id
"""
# An aggregate with ORDER BY cannot be split between PostgreSQL's parallel workers, but
# whole queries can: the services are cut into one part per process PostgreSQL may use
# (its workers and the leader), and the parts' queries joined by UNION ALL, which the
# planner runs side by side (Parallel Append) when the work is worth it.
PARALLEL_FROM_SERVICES = 1000


def _parts(cursor, service_ids: list[int]) -> list[list[int]]:
    if len(service_ids) < PARALLEL_FROM_SERVICES:
        return [service_ids]
    cursor.execute("SELECT current_setting('max_parallel_workers_per_gather')::int")
    count = max(1, cursor.fetchone()[0] + 1)
    size = -(-len(service_ids) // count)
    return [service_ids[i : i + size] for i in range(0, len(service_ids), size)]


def _in_postgresql(spans: Iterable[Span]) -> dict[Hashable, Measured]:
    result: dict[Hashable, Measured] = {}
    table = UsageSample._meta.db_table
    for (start, end), group in _by_bounds(spans).items():
        service_ids = sorted({span.service_id for span in group})
        rank = discarded(slots_between(start, end)) + 1
        with transaction.atomic(), connection.cursor() as cursor:
            parts = _parts(cursor, service_ids)
            if len(parts) > 1:
                # Compiling this query to machine code costs more than it saves: off for
                # this query only, then back as it was.
                cursor.execute("SELECT current_setting('jit')")
                jit = cursor.fetchone()[0]
                cursor.execute("SELECT set_config('jit', 'off', true)")
            query = " UNION ALL ".join(f"({_POSTGRESQL.format(table=table, part=n)})" for n in range(len(parts)))
            params = {"rank": rank, "start": start, "end": end}
            params.update({f"services_{n}": part for n, part in enumerate(parts)})
            cursor.execute(query, params)
            found = {row[0]: row[1:] for row in cursor.fetchall()}
            if len(parts) > 1:
                cursor.execute("SELECT set_config('jit', %s, true)", [jit])
        for span in group:
            n, total_in, total_out, p95_in, p95_out = found.get(span.service_id, (0, 0, 0, 0, 0))
            result[span.key] = Measured(
                n, span.expected, int(total_in or 0), int(total_out or 0), p95_in or 0, p95_out or 0
            )
    return result


def _ranked(spans: Iterable[Span]) -> dict[Hashable, Measured]:
    """The portable SQL: window functions rank each sample per service and direction."""
    result: dict[Hashable, Measured] = {}
    for (start, end), group in _by_bounds(spans).items():
        service_ids = sorted({span.service_id for span in group})
        totals = _totals(start, end, service_ids)
        # The billed sample is the one ranked just below the discarded top 5%.
        rank = discarded(slots_between(start, end)) + 1
        ranked = (
            _samples(start, end, service_ids)
            .annotate(
                rank_in=Window(RowNumber(), partition_by=[F("service_id")], order_by=[F("bytes_in").desc()]),
                rank_out=Window(RowNumber(), partition_by=[F("service_id")], order_by=[F("bytes_out").desc()]),
            )
            .filter(Q(rank_in=rank) | Q(rank_out=rank))
            .values_list("service_id", "bytes_in", "bytes_out", "rank_in", "rank_out")
        )
        picked: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        for service_id, bytes_in, bytes_out, rank_in, rank_out in ranked:
            if rank_in == rank:
                picked[service_id][0] = bytes_in
            if rank_out == rank:
                picked[service_id][1] = bytes_out
        for span in group:
            n, total_in, total_out = totals.get(span.service_id, (0, 0, 0))
            p95_in, p95_out = picked.get(span.service_id, (0, 0))
            result[span.key] = Measured(n, span.expected, total_in, total_out, p95_in, p95_out)
    return result


def in_python(spans: Iterable[Span]) -> dict[Hashable, Measured]:
    """Measure each span from its samples, sorted here: the portable path."""
    result: dict[Hashable, Measured] = {}
    for (start, end), group in _by_bounds(spans).items():
        service_ids = sorted({span.service_id for span in group})
        values: dict[int, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
        rows = _samples(start, end, service_ids).values_list("service_id", "bytes_in", "bytes_out")
        for service_id, bytes_in, bytes_out in rows.iterator(chunk_size=10_000):
            ins, outs = values[service_id]
            ins.append(bytes_in)
            outs.append(bytes_out)
        for span in group:
            ins, outs = values.get(span.service_id, ([], []))
            expected = span.expected
            result[span.key] = Measured(
                len(ins), expected, sum(ins), sum(outs), percentile_95(ins, expected), percentile_95(outs, expected)
            )
    return result


def measure(spans: Iterable[Span]) -> dict[Hashable, Measured]:
    """SQL on PostgreSQL, Python elsewhere (the same answer either way)."""
    return in_sql(spans) if connection.vendor == "postgresql" else in_python(spans)
