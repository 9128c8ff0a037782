"""The 95th percentile of a billing period for many services, on PostgreSQL, beside the bare
``percentile_disc`` query alone.

For each size in ``BENCH_USAGE_P95_SERVICES`` (comma-separated, default ``20``: 172,800
rows, so that ``make bench`` stays quick), that many services get 8,640 samples each
(a 30-day month, November 2026), generated in the database (untimed; on PostgreSQL one
``INSERT … SELECT`` over ``generate_series`` per 500 services, with the table's indexes
dropped while the rows go in and built again after, then ``VACUUM ANALYZE``). A run at a
size the table already holds (the same services, 8,640 samples each) keeps the rows.

- **Ours**: ``billing.usage.measure.in_sql`` for every service over the month: what the
  billing run computes (per service and direction, the samples sorted from the highest
  down in an ordered aggregate and the one just below the discarded 5% picked; with the
  totals; from 1,000 services the services in parts run side by side, docs/usage.md).
- **Bare**: ``SELECT service_id, percentile_disc(0.95) WITHIN GROUP (ORDER BY bytes_in),
  percentile_disc(0.95) WITHIN GROUP (ORDER BY bytes_out) FROM … WHERE <the month>
  GROUP BY service_id``: the percentile alone, with nothing else.
- On SQLite the Python path (``in_python``) is timed too; there is no ``percentile_disc``.

Ours and the floor alternate, ``BENCH_USAGE_P95_REPEATS`` times (default 3), each timed
from the query sent to the last row fetched (wall-clock); reported as median (min, max).

Target: ≤ 30 s for 10,000 services × 8,640 samples (86.4 M rows) on PostgreSQL. The
issue's sizes (about 8 GB of table and index at 10,000; about four minutes to set up on
a two-core machine; drop the scratch database afterwards)::

    BENCH_USAGE_P95_SERVICES=1000,10000 DATABASE_URL=postgres://... make bench BENCH=bench.usage_percentile
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import time

from bench.stats import spread

MONTH = dt.date(2026, 11, 1)
TARGET_SECONDS = 30
UNIQUE = "one_usage_sample_per_service_interval"


def sizes() -> list[int]:
    return [int(part) for part in os.environ.get("BENCH_USAGE_P95_SERVICES", "20").split(",") if part.strip()]


def _filled(service_ids: list[int]) -> bool:
    """Whether the table already holds exactly these services' month (PostgreSQL): a
    second run at the same size measures the same rows instead of writing them again."""
    from django.db import connection

    from billing.usage.models import UsageSample

    table = UsageSample._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), count(DISTINCT service_id), min(service_id), max(service_id) FROM {table}"  # noqa: S608
        )
        rows, services, low, high = cursor.fetchone()
    return (rows, services, low, high) == (len(service_ids) * 8640, len(service_ids), service_ids[0], service_ids[-1])


def _fill(service_ids: list[int]) -> bool:
    """Fill the month for these services; whether the rows were already there (kept)."""
    from django.db import connection, transaction

    from billing.usage.models import UsageSample

    table = UsageSample._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            if _filled(service_ids):
                return True
            cursor.execute(f"TRUNCATE {table}")
            # A scratch database: the indexes are built once after the rows are in (much
            # faster than keeping them up to date row by row), and the foreign key's
            # trigger is off while the rows (of services that exist) are inserted.
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {UNIQUE}, DROP CONSTRAINT {table}_pkey")
            cursor.execute("SET session_replication_role = replica")
            # Bursty traffic: mostly low, with peaks, different per service.
            for start in range(0, len(service_ids), 500):
                with transaction.atomic():
                    cursor.execute(
                        f"INSERT INTO {table} (service_id, interval_start, bytes_in, bytes_out) "  # noqa: S608
                        "SELECT s, %s::timestamptz + make_interval(mins => 5 * i), "
                        "((s * 7919 + i * 104729) %% 1000) * 100000 "
                        "+ (CASE WHEN i %% 97 = 0 THEN 2000000000 ELSE 0 END), "
                        "((s * 104729 + i * 7919) %% 1000) * 200000 "
                        "FROM unnest(%s::bigint[]) AS s, generate_series(0, 8639) AS i",
                        [dt.datetime.combine(MONTH, dt.time(), tzinfo=dt.UTC), service_ids[start : start + 500]],
                    )
            cursor.execute("SET session_replication_role = DEFAULT")
            cursor.execute("SET maintenance_work_mem = '1GB'")
            cursor.execute(
                f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY (id), "
                f"ADD CONSTRAINT {UNIQUE} UNIQUE (service_id, interval_start)"
            )
            cursor.execute("RESET maintenance_work_mem")
            cursor.execute(f"VACUUM ANALYZE {table}")  # the planner sees the new rows; all visible
            return False
        else:
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608
            base = dt.datetime.combine(MONTH, dt.time(), tzinfo=dt.UTC)
            stamps = [(base + dt.timedelta(minutes=5 * i)).strftime("%Y-%m-%d %H:%M:%S") for i in range(8640)]
            with transaction.atomic():
                for s in service_ids:
                    cursor.executemany(
                        f"INSERT INTO {table} (service_id, interval_start, bytes_in, bytes_out) "  # noqa: S608
                        "VALUES (%s, %s, %s, %s)",
                        [
                            (
                                s,
                                stamps[i],
                                ((s * 7919 + i * 104729) % 1000) * 100000 + (2000000000 if i % 97 == 0 else 0),
                                ((s * 104729 + i * 7919) % 1000) * 200000,
                            )
                            for i in range(8640)
                        ],
                    )
            return False


def _bare(first: dt.datetime, end: dt.datetime) -> tuple[float, int]:
    from django.db import connection

    from billing.usage.models import UsageSample

    with connection.cursor() as cursor:
        started = time.perf_counter()
        bare = (
            "SELECT service_id, percentile_disc(0.95) WITHIN GROUP (ORDER BY bytes_in), "  # noqa: S608
            "percentile_disc(0.95) WITHIN GROUP (ORDER BY bytes_out) "
            f"FROM {UsageSample._meta.db_table} WHERE interval_start >= %s AND interval_start < %s "
            "GROUP BY service_id"
        )
        cursor.execute(
            bare,
            [first, end],
        )
        rows = cursor.fetchall()
        return time.perf_counter() - started, len(rows)


def run() -> dict:
    from django.db import connection

    from bench.usage_common import services
    from billing.usage import measure
    from billing.usage.measure import day_span

    repeats = max(1, int(os.environ.get("BENCH_USAGE_P95_REPEATS", "3")))
    timed = f"{repeats} repeats, ours and the floor alternating; wall-clock, query sent to last row fetched"
    rows = []
    for n in sizes():
        service_ids = services(n, "Percentile")
        started = time.perf_counter()
        kept = _fill(service_ids)
        filled = time.perf_counter() - started
        spans = [day_span(sid, sid, MONTH, dt.date(2026, 11, 30)) for sid in service_ids]
        made = "rows kept from an earlier run at this size" if kept else f"set up in {filled:.0f} s, untimed"
        size = f"{n:,} services × 8,640 samples = {n * 8640:,} rows, one 30-day month ({made})"
        ours, floor, python = [], [], []
        for _ in range(repeats):
            started = time.perf_counter()
            measured = measure.in_sql(spans)
            ours.append(time.perf_counter() - started)
            assert len(measured) == n
            if connection.vendor == "postgresql":
                seconds, count = _bare(spans[0].start, spans[0].end)
                assert count == n
                floor.append(seconds)
            else:
                started = time.perf_counter()
                assert measure.in_python(spans) == measured
                python.append(time.perf_counter() - started)
        if connection.vendor == "postgresql":
            rows.append(
                [
                    f"{n:,} services: ours (billing.usage.measure.in_sql, with totals)",
                    spread(ours, "{:.2f}", " s"),
                    f"{size}; {timed}; {_settings()}",
                ]
            )
            rows.append(
                [
                    f"{n:,} services: floor, the bare percentile_disc query alone",
                    spread(floor, "{:.2f}", " s"),
                    "same rows and month; in and out, no totals",
                ]
            )
            ratios = [a / b for a, b in zip(ours, floor, strict=True)]
            rows.append(
                [
                    f"{n:,} services: ours / floor",
                    spread(ratios, "{:.2f}×"),
                    "per repeat",
                ]
            )
            if n >= 10_000:
                met = "met" if statistics.median(ours) <= TARGET_SECONDS else "NOT met"
                rows.append([f"{n:,} services: target", f"≤ {TARGET_SECONDS} s", f"{met} (median of ours)"])
        else:
            rows.append(
                [
                    f"{n:,} services: ours, in SQL (window functions, with totals)",
                    spread(ours, "{:.2f}", " s"),
                    f"{size}; {timed}",
                ]
            )
            rows.append(
                [
                    f"{n:,} services: the Python path (sort in Python)",
                    spread(python, "{:.2f}", " s"),
                    "same answer as SQL; SQLite has no percentile_disc",
                ]
            )
    return {"title": f"Usage 95th percentile of a month on {connection.vendor}", "rows": rows}


def _settings() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('work_mem'), current_setting('max_parallel_workers_per_gather'), "
            "current_setting('shared_buffers')"
        )
        work_mem, workers, buffers = cursor.fetchone()
    return (
        f"PostgreSQL settings: work_mem {work_mem}, max_parallel_workers_per_gather {workers}, shared_buffers {buffers}"
    )
