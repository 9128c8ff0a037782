"""Ingest of usage samples through ``import_usage`` against its floor: a bare COPY of the
same CSV into the same table, in the same run.

N services (env ``BENCH_USAGE_INGEST_SERVICES``, default 200: 57,600 rows, so that
``make bench`` stays quick) × one day of 5-minute samples (288 each) are written to a CSV
file (untimed), in the format ``import_usage`` reads (service number, ISO 8601 UTC
start, bytes in, bytes out), rows in time order as a collector's day file is.

- **Floor** (PostgreSQL): ``COPY billing_usagesample (service_id, interval_start,
  bytes_in, bytes_out) FROM STDIN (FORMAT csv, HEADER)`` of that file, into the same
  table with its unique index, in one transaction. No checks, no line numbers, no
  idempotency: a second COPY of the file would fail on the unique index.
- **import_usage**: ``call_command("import_usage", file)`` on the emptied table: every
  row checked, services looked up, batches of 50,000 copied into a staging table and
  moved with INSERT … SELECT … ON CONFLICT DO NOTHING.
- For comparison: the same file imported again (everything already stored: the
  idempotent re-send).

Floor and import alternate, ``BENCH_USAGE_INGEST_REPEATS`` times (default 3), the table
emptied with TRUNCATE before each; the ratio is taken per repeat and reported as median
(min, max), since the machine's speed drifts.

Target: import ≥ 0.5× the floor's rows per second. On SQLite there is no COPY: the
floor is then one ``executemany`` INSERT of the same rows in one transaction.

The issue's size, on PostgreSQL::

    BENCH_USAGE_INGEST_SERVICES=10000 DATABASE_URL=postgres://... make bench BENCH=bench.usage_ingest
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import statistics
import tempfile
import time

from bench.stats import spread

DAY = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
TARGET = 0.5


def n_services() -> int:
    return int(os.environ.get("BENCH_USAGE_INGEST_SERVICES", "200"))


def _write_csv(path: str, service_ids: list[int]) -> int:
    rows = 0
    with open(path, "w", newline="") as file:
        file.write("service,interval_start,bytes_in,bytes_out\n")
        for slot in range(288):
            start = (DAY + dt.timedelta(minutes=5 * slot)).strftime("%Y-%m-%dT%H:%M:%SZ")
            chunk = "".join(
                f"{sid},{start},{(sid * 7919 + slot * 104729) % 900_000_000},"
                f"{(sid * 104729 + slot * 7919) % 1_800_000_000}\n"
                for sid in service_ids
            )
            file.write(chunk)
            rows += len(service_ids)
    return rows


def _empty() -> None:
    from django.db import connection

    from billing.usage.models import UsageSample

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {UsageSample._meta.db_table}")
        else:
            cursor.execute(f"DELETE FROM {UsageSample._meta.db_table}")  # noqa: S608


def _floor(path: str) -> float:
    from django.db import connection, transaction

    from billing.usage.models import UsageSample

    table = UsageSample._meta.db_table
    _empty()
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with (
                open(path, "rb") as file,
                cursor.copy(
                    f"COPY {table} (service_id, interval_start, bytes_in, bytes_out) FROM STDIN (FORMAT csv, HEADER)"
                ) as copy,
            ):
                while block := file.read(1 << 20):
                    copy.write(block)
        else:
            with open(path, newline="") as file:
                reader = csv.reader(file)
                next(reader)
                cursor.executemany(
                    f"INSERT INTO {table} (service_id, interval_start, bytes_in, bytes_out) VALUES (%s, %s, %s, %s)",  # noqa: S608
                    ((int(s), t.replace("T", " ").replace("Z", ""), int(a), int(b)) for s, t, a, b in reader),
                )
    return time.perf_counter() - started


def _import(path: str) -> tuple[float, str]:
    from django.core.management import call_command

    out = io.StringIO()
    started = time.perf_counter()
    call_command("import_usage", path, stdout=out, stderr=io.StringIO())
    return time.perf_counter() - started, out.getvalue().strip()


def run() -> dict:
    from django.db import connection

    from bench.usage_common import services

    n = n_services()
    repeats = max(1, int(os.environ.get("BENCH_USAGE_INGEST_REPEATS", "3")))
    service_ids = services(n, "Ingest")
    folder = tempfile.mkdtemp(prefix="usage-bench-")
    path = os.path.join(folder, "day.csv")
    rows = _write_csv(path, service_ids)
    size_mib = os.path.getsize(path) / (1 << 20)
    floors, imports = [], []
    for _ in range(repeats):  # floor, then import, each repeat, each into the emptied table
        floors.append(_floor(path))
        _empty()
        seconds, summary = _import(path)
        assert summary.startswith(f"{rows} stored"), summary
        imports.append(seconds)
    again, again_summary = _import(path)
    assert f"{rows} already stored" in again_summary, again_summary
    _empty()
    ratios = [floor / seconds for floor, seconds in zip(floors, imports, strict=True)]
    floor_name = (
        "bare COPY (FORMAT csv) into the same table"
        if connection.vendor == "postgresql"
        else ("one executemany INSERT (SQLite has no COPY)")
    )
    conditions = (
        f"{n:,} services × 288 samples = {rows:,} rows ({size_mib:.0f} MiB CSV), one day; {repeats} repeats of "
        "floor then import, each into the emptied table, the table's unique index in place; wall-clock, "
        "this process, from the file opened to the transaction committed"
    )
    met = "met" if statistics.median(ratios) >= TARGET else "NOT met"
    return {
        "title": f"Usage ingest: {n:,} services × one day on {connection.vendor}",
        "rows": [
            [
                "import_usage (check, resolve, COPY to staging, INSERT … SELECT)",
                f"{spread([rows / s for s in imports])} rows/s",
                f"{conditions}; seconds {spread(imports, '{:.1f}')}",
            ],
            [
                f"Floor: {floor_name}",
                f"{spread([rows / s for s in floors])} rows/s",
                f"no checks; seconds {spread(floors, '{:.1f}')}",
            ],
            [
                "Import / floor (rows per second)",
                spread(ratios, "{:.2f}×"),
                f"per repeat; target median ≥ {TARGET}×; {met}",
            ],
            [
                "For comparison: the same file again (all already stored)",
                f"{rows / again:,.0f} rows/s ({again:.1f} s)",
                "one run; idempotent re-send: nothing written",
            ],
        ],
    }
