"""Abuse report intake: XARF reports parsed, validated, matched and grouped, per second.

Each report is a XARF v4 JSON document (the seven categories in turn) about an address
of the IP assignment history, at a time some service held it: ``intake.file_report``
parses it, validates it against the official schemas, checks it, looks for a duplicate,
matches the address and time to the service through the history and joins or opens a
case. It is measured twice: with a small history, and with a large one in which every
address was reassigned several times (the history rows are bulk-inserted first).

Each report is filed in its own transaction, committed, as the inbound mail task files
them; the same reports are filed ``BENCH_ABUSE_REPEATS`` times (default 3), the reports
and cases deleted before each, and reported as median (min, max) reports per second
(wall-clock, this process) with the CPU time per report. On PostgreSQL the history is
generated in the database (one ``INSERT … SELECT`` over ``generate_series``).

Sizes (environment): ``BENCH_ABUSE_REPORTS`` (default 1,000; the full size is 10,000) and
``BENCH_ABUSE_HISTORY`` (default 100,000 rows; the full size is 1,000,000)::

    BENCH_ABUSE_REPORTS=10000 BENCH_ABUSE_HISTORY=1000000 DATABASE_URL=... make bench BENCH=bench.abuse_intake

Run through `make bench` (bench/run.py), which prepares a scratch database.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import random
import time
import uuid

from bench.stats import spread

SMALL_HISTORY = 1_000
PERIODS_PER_ADDRESS = 4  # each address held by four services in turn
N_SERVICES = 500


def _sizes() -> tuple[int, int]:
    return int(os.environ.get("BENCH_ABUSE_REPORTS", "1000")), int(os.environ.get("BENCH_ABUSE_HISTORY", "100000"))


def _key(address: ipaddress.IPv4Address) -> str:
    return f"{int(ipaddress.IPv6Address(f'::ffff:{address}')):032x}"


def _history(rows: int, services: list) -> list[tuple[str, dt.date]]:
    """``rows`` assignment rows: ``rows / 4`` addresses, each reassigned three times over
    four years; returns (address, a day it was held) pairs to report on.

    On PostgreSQL the rows are generated in the database (one INSERT … SELECT over
    generate_series), elsewhere bulk-inserted; either way with the keys ``save`` would set."""
    from django.db import connection

    from accounts.models import IPAssignment

    start = dt.date(2022, 1, 1)
    base = int(ipaddress.IPv4Address("10.0.0.0"))
    addresses = rows // PERIODS_PER_ADDRESS
    targets = [
        (str(ipaddress.IPv4Address(base + n)), start + dt.timedelta(days=365 * (n % PERIODS_PER_ADDRESS) + 100))
        for n in range(addresses)
    ]
    if connection.vendor == "postgresql":
        table = IPAssignment._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {table}")
            cursor.execute(
                f"INSERT INTO {table} (service_id, network, version, first_key, last_key, assigned_on, "  # noqa: S608
                "released_on) "
                "SELECT (%(services)s::bigint[])[(n + p) %% %(count)s + 1], "
                "host(inet '0.0.0.0' + (%(base)s + n)) || '/32', 4, "
                "key, key, %(start)s::date + 365 * p, "
                "CASE WHEN p < %(last)s THEN %(start)s::date + 365 * p + 364 END "
                "FROM generate_series(0, %(addresses)s - 1) AS n CROSS JOIN generate_series(0, %(last)s) AS p, "
                "LATERAL (SELECT '00000000000000000000ffff' || lpad(to_hex(%(base)s + n), 8, '0') AS key) AS k",
                {
                    "services": [s.pk for s in services],
                    "count": len(services),
                    "base": base,
                    "start": start,
                    "last": PERIODS_PER_ADDRESS - 1,
                    "addresses": addresses,
                },
            )
            cursor.execute(f"ANALYZE {table}")
        return targets
    IPAssignment.objects.all().delete()
    batch = []
    for n in range(addresses):
        address = ipaddress.IPv4Address(base + n)
        key = _key(address)
        for period in range(PERIODS_PER_ADDRESS):
            assigned = start + dt.timedelta(days=365 * period)
            released = assigned + dt.timedelta(days=364) if period < PERIODS_PER_ADDRESS - 1 else None
            batch.append(
                IPAssignment(
                    service=services[(n + period) % len(services)],
                    network=str(address),
                    version=4,
                    first_key=key,
                    last_key=key,
                    assigned_on=assigned,
                    released_on=released,
                )
            )
        if len(batch) >= 5000:
            IPAssignment.objects.bulk_create(batch)
            batch = []
    IPAssignment.objects.bulk_create(batch)
    return targets


def _reports(count: int, targets: list[tuple[str, dt.date]]) -> list[str]:
    from tests.privacy.abuse import samples

    rng = random.Random(2026)
    kinds = sorted(samples.PER_CATEGORY)
    documents = []
    for i in range(count):
        address, day = targets[rng.randrange(len(targets))]
        when = dt.datetime.combine(day, dt.time(12, i % 60), tzinfo=dt.UTC).isoformat().replace("+00:00", "Z")
        report = samples.PER_CATEGORY[kinds[i % len(kinds)]](ip=address, when=when)
        report["report_id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        documents.append(json.dumps(report))
    return documents


def _measure(documents: list[str]) -> tuple[float, float, int, int]:
    from django.utils import timezone

    from accounts.audit import System
    from privacy.abuse import intake, parsers
    from privacy.abuse.models import AbuseCase, AbuseReport

    AbuseReport.objects.all().delete()
    AbuseCase.objects.all().delete()
    now = timezone.now()
    started, cpu_started = time.perf_counter(), time.process_time()
    for document in documents:
        intake.file_report(parsers.parse_xarf(document), actor=System("benchmark"), now=now)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    matched = AbuseReport.objects.filter(status=AbuseReport.Status.MATCHED).count()
    return seconds, cpu, matched, AbuseCase.objects.count()


def run() -> dict:
    from django.db import connection

    from accounts.models import Service
    from tests.accounts.factories import CustomerFactory, ProviderDetailsFactory

    ProviderDetailsFactory()
    count, big = _sizes()
    repeats = max(1, int(os.environ.get("BENCH_ABUSE_REPEATS", "3")))
    customers = [CustomerFactory() for _ in range(50)]
    Service.objects.bulk_create(
        Service(customer=customers[i % len(customers)], name=f"bench-{i}", kind="vps", platform="virtual")
        for i in range(N_SERVICES)
    )
    services = list(Service.objects.filter(name__startswith="bench-").order_by("pk"))
    rows = []
    for history in (SMALL_HISTORY, big):
        targets = _history(history, services)
        documents = _reports(count, targets)
        rates, cpus, loads = [], [], []
        for _ in range(repeats):
            seconds, cpu, matched, cases = _measure(documents)
            assert matched == count, f"only {matched} of {count} reports were matched"
            rates.append(count / seconds)
            cpus.append(cpu * 1000 / count)
            loads.append(os.getloadavg()[0])
        rows.append(
            (
                f"{count:,} XARF v4 reports filed (parse, validate, match, group)",
                spread(rates, unit=" reports/s"),
                f"{history:,} IP assignment rows ({history // PERIODS_PER_ADDRESS:,} addresses, each reassigned "
                f"{PERIODS_PER_ADDRESS - 1} times); {cases:,} cases opened; one transaction per report "
                f"(committed, as the inbound mail task does); {repeats} repeats of the same reports, the reports and "
                f"cases deleted before each; wall-clock, this process; CPU {spread(cpus, '{:.1f}', ' ms')} per report; "
                f"{connection.vendor}; load average {min(loads):.1f}–{max(loads):.1f} after the repeats",
            )
        )
    return {"title": "Abuse report intake", "rows": rows}
