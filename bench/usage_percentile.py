"""The 95th percentile of a billing period for many services, on PostgreSQL, beside the bare
``percentile_disc`` query alone.

For each size in ``BENCH_USAGE_P95_SERVICES`` (comma-separated, default ``20``: 172,800
rows, so that ``make bench`` stays quick), that many services get 8,640 samples each
(a 30-day month, November 2026), generated in the database (untimed;
``generate_series`` on PostgreSQL), then the table is analysed.

- **Ours**: ``billing.usage.measure.in_sql`` for every service over the month: what the
  billing run computes (per direction, each sample ranked from the highest down with a
  window function, the one just below the discarded 5% picked; with the totals).
- **Bare**: ``SELECT service_id, percentile_disc(0.95) WITHIN GROUP (ORDER BY bytes_in),
  percentile_disc(0.95) WITHIN GROUP (ORDER BY bytes_out) FROM … WHERE <the month>
  GROUP BY service_id``: the percentile alone, with nothing else.
- On SQLite the Python path (``in_python``) is timed too; there is no ``percentile_disc``.

Target: ≤ 30 s for 10,000 services × 8,640 samples (86.4 M rows) on PostgreSQL. The
issue's sizes (about 10 GB of table and index at 10,000; generating it takes a while)::

    BENCH_USAGE_P95_SERVICES=1000,10000 DATABASE_URL=postgres://... make bench BENCH=bench.usage_percentile
"""

from __future__ import annotations

import datetime as dt
import os
import time

MONTH = dt.date(2026, 11, 1)
TARGET_SECONDS = 30


def sizes() -> list[int]:
    return [int(part) for part in os.environ.get("BENCH_USAGE_P95_SERVICES", "20").split(",") if part.strip()]


def _fill(service_ids: list[int]) -> None:
    from django.db import connection, transaction

    from billing.usage.models import UsageSample

    table = UsageSample._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {table}")
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
            cursor.execute(f"VACUUM ANALYZE {table}")  # the planner sees the new rows
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

    rows = []
    for n in sizes():
        service_ids = services(n, "Percentile")
        started = time.perf_counter()
        _fill(service_ids)
        filled = time.perf_counter() - started
        spans = [day_span(sid, sid, MONTH, dt.date(2026, 11, 30)) for sid in service_ids]
        started = time.perf_counter()
        ours = measure.in_sql(spans)
        sql_seconds = time.perf_counter() - started
        size = f"{n:,} services × 8,640 samples = {n * 8640:,} rows (filled in {filled:.0f} s, untimed)"
        rows.append([f"{n:,} services: ours, in SQL (window functions, with totals)", f"{sql_seconds:.2f} s", size])
        if connection.vendor == "postgresql":
            bare, count = _bare(spans[0].start, spans[0].end)
            assert count == n
            rows.append([f"{n:,} services: bare percentile_disc query alone", f"{bare:.2f} s", "same rows; in and out"])
            rows.append([f"{n:,} services: ours / bare", f"{sql_seconds / bare:.2f}×", ""])
            if n >= 10_000:
                met = "met" if sql_seconds <= TARGET_SECONDS else "NOT met"
                rows.append([f"{n:,} services: target", f"≤ {TARGET_SECONDS} s", met])
        else:
            started = time.perf_counter()
            python = measure.in_python(spans)
            py_seconds = time.perf_counter() - started
            assert python == ours
            rows.append(
                [f"{n:,} services: the Python path (sort in Python)", f"{py_seconds:.2f} s", "same answer as SQL"]
            )
    return {"title": f"Usage 95th percentile of a month on {connection.vendor}", "rows": rows}
