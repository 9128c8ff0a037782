"""Taking in usage samples: ``import_usage`` and the collectors' endpoint both come here.

The format (docs/usage.md) is CSV, one sample a row: the service (its number, or an IP
address resolved through the IP assignment history on the sample's UTC day), the start
of the 5-minute interval in UTC (ISO 8601, or Unix seconds), bytes in, bytes out. A
first row starting with ``service`` is a header.

Every row is checked before anything is written; a rejected row is reported with its
line number and why, and the good rows are kept. Rows are written in batches, each in
one transaction (all or nothing: a batch the database refuses is reported row by row
and nothing of it is stored). Idempotent: a sample for an interval already stored with
the same counts changes nothing; with other counts it is refused unless ``replace``,
which replaces the stored one. Samples may come late and in any order.

On PostgreSQL each batch is copied (``COPY``) into a temporary staging table and moved
with one ``INSERT … SELECT … ON CONFLICT DO NOTHING``; elsewhere the ORM does the same.
"""

from __future__ import annotations

import csv
import datetime as dt
import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts import audit
from accounts.models import IPAssignment, Service
from billing.usage.models import UsageSample
from billing.usage.rates import SLOT_SECONDS, max_sample_bytes
from core import pagecache

BATCH_SIZE = 50_000
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Rejected:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class IngestReport:
    stored: int = 0  # new samples
    replaced: int = 0  # stored samples given new counts (replace)
    unchanged: int = 0  # already stored with the same counts
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.rejected

    def summary(self) -> str:
        return (
            f"{self.stored} stored, {self.replaced} replaced, {self.unchanged} already stored, "
            f"{len(self.rejected)} rejected"
        )

    def as_dict(self) -> dict:
        return {
            "stored": self.stored,
            "replaced": self.replaced,
            "unchanged": self.unchanged,
            "rejected": [{"line": r.line, "reason": r.reason} for r in self.rejected],
        }


class _Row(NamedTuple):
    line: int
    service_id: int
    start: dt.datetime
    bytes_in: int
    bytes_out: int


class _Reader:
    """Checks rows one by one, remembering what it looked up (a file has few services and
    few distinct intervals, and many rows of each)."""

    def __init__(self) -> None:
        self.limit = max_sample_bytes(settings.PORTAL_USAGE_MAX_GBPS)
        self.now = timezone.now()
        self.times: dict[str, dt.datetime | str] = {}
        self.services: dict[str, int | str] = {}
        self.addresses: dict[tuple[str, dt.date], int | str] = {}
        self.service_ids: set[int] | None = None

    def time(self, text: str) -> dt.datetime | str:
        """The interval's start, or why it is refused."""
        found = self.times.get(text)
        if found is None:
            found = self.times[text] = self._parse_time(text)
        return found

    def _parse_time(self, text: str) -> dt.datetime | str:
        text = text.strip()
        try:
            if text.isdigit():
                moment = EPOCH + dt.timedelta(seconds=int(text))
            else:
                moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
                moment = moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
        except (ValueError, OverflowError):
            return f"bad timestamp {text!r}: give the interval's start in UTC as ISO 8601 (2026-11-01T00:05:00Z)"
        if moment.microsecond or int((moment - EPOCH).total_seconds()) % SLOT_SECONDS:
            return f"interval start {text} is not on a 5-minute boundary"
        if moment > self.now:
            return f"interval start {text} is in the future"
        return moment

    def count(self, text: str, what: str) -> int | str:
        try:
            value = int(text.strip())
        except ValueError:
            return f"{what} {text!r} is not a whole number of bytes"
        if value < 0:
            return f"{what} {value} is negative"
        if value > self.limit:
            return (
                f"{what} {value} is more than a {settings.PORTAL_USAGE_MAX_GBPS} Gbit/s line carries in 5 minutes "
                f"({self.limit}): a counter error?"
            )
        return value

    def service(self, text: str, moment: dt.datetime) -> int | str:
        text = text.strip()
        if text.isdigit():
            found = self.services.get(text)
            if found is None:
                if self.service_ids is None:
                    # Once per file: every service's number (a few ints each, even for many).
                    self.service_ids = set(Service.objects.values_list("pk", flat=True))
                number = int(text)
                found = self.services[text] = number if number in self.service_ids else f"unknown service {text}"
            return found
        try:
            address = str(ipaddress.ip_address(text))
        except ValueError:
            return f"{text!r} is neither a service number nor an IP address"
        key = (address, moment.date())
        found = self.addresses.get(key)
        if found is None:
            found = self.addresses[key] = resolve_address(address, moment.date())
        return found


def resolve_address(address: str, day: dt.date) -> int | str:
    """The service ``address`` was assigned to on ``day`` (UTC), or why there is none.

    Assignments are by day: one released on ``day`` still counts for it unless another
    took the address that day. The most specific prefix wins (a /32 inside a /29)."""
    held = list(
        IPAssignment.objects.containing(address)
        .filter(assigned_on__lte=day)
        .filter(Q(released_on__isnull=True) | Q(released_on__gte=day))
    )
    if not held:
        return f"unknown IP address {address}: not assigned to any service on {day}"
    still = [a for a in held if a.released_on is None or a.released_on > day] or held
    still.sort(key=lambda a: (-a.parsed().prefixlen, a.released_on is not None))
    best = still[0]
    rivals = [
        a for a in still[1:] if a.parsed().prefixlen == best.parsed().prefixlen and a.service_id != best.service_id
    ]
    if rivals:
        return f"IP address {address} was assigned to more than one service on {day}"
    return best.service_id


def _rows(lines: Iterable[str], report: IngestReport) -> Iterator[_Row]:
    reader = csv.reader(lines)
    check = _Reader()
    # The common row (a known service number, a good interval, two plain counts) takes the
    # short way, with what was looked up before; anything else gets every check.
    services, times, limit = check.services, check.times, check.limit
    for fields in reader:
        if len(fields) == 4:
            service, moment = services.get(fields[0]), times.get(fields[1])
            if (
                type(service) is int
                and type(moment) is dt.datetime
                and fields[2].isdigit()
                and fields[3].isdigit()
                and (bytes_in := int(fields[2])) <= limit
                and (bytes_out := int(fields[3])) <= limit
            ):
                yield _Row(reader.line_num, service, moment, bytes_in, bytes_out)
                continue
        line = reader.line_num
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue
        if line == 1 and fields[0].strip().lower() == "service":
            continue
        if len(fields) != 4:
            report.rejected.append(
                Rejected(line, f"{len(fields)} fields: expected service or IP, interval start, bytes in, bytes out")
            )
            continue
        moment = check.time(fields[1])
        if isinstance(moment, str):
            report.rejected.append(Rejected(line, moment))
            continue
        problems = []
        service = check.service(fields[0], moment)
        bytes_in, bytes_out = check.count(fields[2], "bytes in"), check.count(fields[3], "bytes out")
        for value in (service, bytes_in, bytes_out):
            if isinstance(value, str):
                problems.append(value)
        if problems:
            report.rejected.append(Rejected(line, "; ".join(problems)))
            continue
        yield _Row(line, service, moment, bytes_in, bytes_out)


def _deduplicated(rows: list[_Row], replace: bool, report: IngestReport) -> list[_Row]:
    """One row per service and interval: a repeat with the same counts is nothing new; with
    others it is refused, or (``replace``) the later row wins."""
    kept: dict[tuple[int, dt.datetime], _Row] = {}
    for row in rows:
        key = (row.service_id, row.start)
        first = kept.get(key)
        if first is None:
            kept[key] = row
        elif (first.bytes_in, first.bytes_out) == (row.bytes_in, row.bytes_out):
            report.unchanged += 1
        elif replace:
            kept[key] = row
            report.unchanged += 1  # the earlier row of the file is superseded, nothing stored for it
        else:
            report.rejected.append(
                Rejected(row.line, f"same service and interval as line {first.line} with other counts")
            )
    return list(kept.values())


def ingest(
    lines: Iterable[str], *, actor: audit.Actor, replace: bool = False, batch_size: int = BATCH_SIZE
) -> IngestReport:
    """Check and store the samples of a CSV (an iterable of lines); see the module docstring.

    The audit trail gets one event per call, with what was stored, replaced and rejected."""
    report = _ingest(lines, replace=replace, batch_size=batch_size)
    if report.stored or report.replaced or report.rejected:
        audit.record(
            "usage.samples_replaced" if report.replaced else "usage.samples_imported",
            actor=actor,
            summary=f"Usage samples: {report.summary()}",
        )
    return report


def _ingest(lines: Iterable[str], *, replace: bool, batch_size: int) -> IngestReport:
    report = IngestReport()
    batch: list[_Row] = []
    for row in _rows(lines, report):
        batch.append(row)
        if len(batch) >= batch_size:
            _write_batch(batch, replace, report)
            batch = []
    if batch:
        _write_batch(batch, replace, report)
    report.rejected.sort(key=lambda r: r.line)
    return report


def _write_batch(rows: list[_Row], replace: bool, report: IngestReport) -> None:
    before = (report.stored, report.replaced, report.unchanged, len(report.rejected))
    # The samples show on their customers' usage pages and dashboards (core.pagecache).
    customers = Service.objects.filter(pk__in={row.service_id for row in rows}).values_list("customer_id", flat=True)
    try:
        with pagecache.writes_for(customers=customers), transaction.atomic():
            rows = _deduplicated(rows, replace, report)
            if connection.vendor == "postgresql":
                _write_copy(rows, replace, report)
            else:
                _write_orm(rows, replace, report)
    except DatabaseError as exc:
        # Nothing of the batch was stored: say so for each of its rows.
        report.stored, report.replaced, report.unchanged = before[:3]
        del report.rejected[before[3] :]
        reason = f"not stored: the database refused the batch of {len(rows)} rows it was in ({exc})".strip()
        report.rejected.extend(Rejected(row.line, reason) for row in rows)


def _differs(row: _Row, stored: tuple[int, int]) -> str:
    return (
        f"a sample for this service and interval is stored with other counts (in {stored[0]}, out "
        f"{stored[1]}): import with --replace to correct it"
    )


def _write_orm(rows: list[_Row], replace: bool, report: IngestReport) -> None:
    if not rows:
        return
    stored: dict[tuple[int, dt.datetime], tuple[int, int, int]] = {}
    for service_ids in _chunks(sorted({row.service_id for row in rows}), 500):
        found = UsageSample.objects.filter(
            service_id__in=service_ids,
            interval_start__gte=min(row.start for row in rows),
            interval_start__lte=max(row.start for row in rows),
        ).values_list("pk", "service_id", "interval_start", "bytes_in", "bytes_out")
        for pk, service_id, start, bytes_in, bytes_out in found:
            stored[(service_id, start)] = (pk, bytes_in, bytes_out)
    new, changed = [], []
    for row in rows:
        old = stored.get((row.service_id, row.start))
        if old is None:
            new.append(
                UsageSample(
                    service_id=row.service_id, interval_start=row.start, bytes_in=row.bytes_in, bytes_out=row.bytes_out
                )
            )
        elif old[1:] == (row.bytes_in, row.bytes_out):
            report.unchanged += 1
        elif replace:
            changed.append(UsageSample(pk=old[0], bytes_in=row.bytes_in, bytes_out=row.bytes_out))
        else:
            report.rejected.append(Rejected(row.line, _differs(row, old[1:])))
    UsageSample.objects.bulk_create(new, batch_size=1000)
    UsageSample.objects.bulk_update(changed, ["bytes_in", "bytes_out"], batch_size=1000)
    report.stored += len(new)
    report.replaced += len(changed)


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _write_copy(rows: list[_Row], replace: bool, report: IngestReport) -> None:
    if not rows:
        return
    table = UsageSample._meta.db_table
    with connection.cursor() as cursor:
        # ON COMMIT DROP ends it with the batch's transaction; inside a longer one (the
        # batch is then a savepoint) the previous batch's table is still there.
        cursor.execute("DROP TABLE IF EXISTS usage_staging")
        cursor.execute(
            "CREATE TEMPORARY TABLE usage_staging (line integer, service_id bigint, interval_start timestamptz, "
            "bytes_in bigint, bytes_out bigint) ON COMMIT DROP"
        )
        texts: dict[dt.datetime, str] = {}
        out = []
        for row in rows:
            text = texts.get(row.start)
            if text is None:
                text = texts[row.start] = row.start.strftime("%Y-%m-%d %H:%M:%S+00")
            out.append(f"{row.line}\t{row.service_id}\t{text}\t{row.bytes_in}\t{row.bytes_out}\n")
        with cursor.copy(
            "COPY usage_staging (line, service_id, interval_start, bytes_in, bytes_out) FROM STDIN"
        ) as copy:
            copy.write("".join(out).encode())
        cursor.execute(
            f"INSERT INTO {table} (service_id, interval_start, bytes_in, bytes_out) "  # noqa: S608 (our table name)
            # In index order: each batch's rows then land in neighbouring index pages.
            "SELECT service_id, interval_start, bytes_in, bytes_out FROM usage_staging "
            "ORDER BY service_id, interval_start ON CONFLICT (service_id, interval_start) DO NOTHING"
        )
        inserted = cursor.rowcount
        report.stored += inserted
        if inserted == len(rows):
            return
        # Some were stored already: the same counts are nothing new; others are corrections.
        if replace:
            cursor.execute(
                f"UPDATE {table} AS u SET bytes_in = s.bytes_in, bytes_out = s.bytes_out "  # noqa: S608
                "FROM usage_staging s WHERE u.service_id = s.service_id AND u.interval_start = s.interval_start "
                "AND (u.bytes_in, u.bytes_out) <> (s.bytes_in, s.bytes_out)"
            )
            report.replaced += cursor.rowcount
            report.unchanged += len(rows) - inserted - cursor.rowcount
            return
        cursor.execute(
            f"SELECT s.line, u.bytes_in, u.bytes_out FROM usage_staging s JOIN {table} u "  # noqa: S608
            "ON u.service_id = s.service_id AND u.interval_start = s.interval_start "
            "WHERE (u.bytes_in, u.bytes_out) <> (s.bytes_in, s.bytes_out)"
        )
        differing = cursor.fetchall()
        by_line = {row.line: row for row in rows}
        for line, bytes_in, bytes_out in differing:
            report.rejected.append(Rejected(line, _differs(by_line[line], (bytes_in, bytes_out))))
        report.unchanged += len(rows) - inserted - len(differing)
