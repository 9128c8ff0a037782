"""``manage.py import_usage``: idempotent, every rejection reported by line, batches all or nothing."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.db import DatabaseError

from accounts.audit import AuditEvent, System
from billing.usage import ingest as ingest_module
from billing.usage.ingest import ingest
from billing.usage.models import UsageSample
from tests.accounts.factories import IPAssignmentFactory, ServiceFactory

pytestmark = pytest.mark.django_db


def run(tmp_path, text: str, *args: str) -> tuple[int, str, str]:
    path = tmp_path / "usage.csv"
    path.write_text(text)
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("import_usage", str(path), *args, stdout=out, stderr=err)
        status = 0
    except SystemExit as exc:
        status = exc.code
    return status, out.getvalue(), err.getvalue()


def stored(service) -> list[tuple[dt.datetime, int, int]]:
    return list(
        UsageSample.objects.filter(service=service)
        .order_by("interval_start")
        .values_list("interval_start", "bytes_in", "bytes_out")
    )


def test_a_file_is_imported_and_a_resent_file_changes_nothing(tmp_path):
    service = ServiceFactory()
    text = (
        "service,interval_start,bytes_in,bytes_out\n"
        f"{service.pk},2026-11-01T00:00:00Z,100,200\n"
        f"{service.pk},2026-11-01T00:10:00+00:00,300,400\n"
        f"{service.pk},2026-11-01T00:05:00Z,500,600\n"  # out of order is fine
    )
    status, out, err = run(tmp_path, text)
    assert (status, err) == (0, "")
    assert "3 stored, 0 replaced, 0 already stored, 0 rejected" in out
    first = stored(service)
    assert [row[1] for row in first] == [100, 500, 300]
    status, out, err = run(tmp_path, text)
    assert (status, err) == (0, "")
    assert "0 stored, 0 replaced, 3 already stored" in out
    assert stored(service) == first
    # The import is on the audit trail; the re-send changed nothing and adds nothing.
    assert [e.summary for e in AuditEvent.objects.filter(action="usage.samples_imported")] == [
        "Usage samples: 3 stored, 0 replaced, 0 already stored, 0 rejected"
    ]


def test_the_import_is_recorded_as_the_operator_named_or_as_the_command_and_account(tmp_path, monkeypatch):
    from django.core.management.base import CommandError

    from tests.accounts.factories import StaffFactory

    service, operator = ServiceFactory(), StaffFactory()
    row = f"{service.pk},2026-11-01T00:00:00Z,100,200\n"
    with pytest.raises(CommandError, match=r"nobody@example\.net is not an active member of staff"):
        run(tmp_path, row, "--operator", "nobody@example.net")
    assert stored(service) == [] and not AuditEvent.objects.exists()  # refused before anything was read

    assert run(tmp_path, row, "--operator", operator.email.upper())[0] == 0
    assert AuditEvent.objects.get(action="usage.samples_imported").actor == operator

    monkeypatch.setattr("getpass.getuser", lambda: "ops")
    run(tmp_path, f"{service.pk},2026-11-01T00:05:00Z,1,2\n")
    latest = AuditEvent.objects.filter(action="usage.samples_imported").first()
    assert latest.actor is None and latest.actor_label == f"System (import_usage {tmp_path / 'usage.csv'}, run by ops)"


def test_a_corrected_value_replaces_the_stored_one_only_with_replace(tmp_path):
    service = ServiceFactory()
    run(tmp_path, f"{service.pk},2026-11-01T00:00:00Z,100,200\n")
    status, _, err = run(tmp_path, f"{service.pk},2026-11-01T00:00:00Z,150,250\n")
    assert status == 1
    assert "line 1: a sample for this service and interval is stored with other counts (in 100, out 200)" in err
    assert "--replace" in err
    assert stored(service)[0][1:] == (100, 200)
    status, out, _ = run(tmp_path, f"{service.pk},2026-11-01T00:00:00Z,150,250\n", "--replace")
    assert status == 0 and "1 replaced" in out
    assert stored(service)[0][1:] == (150, 250)
    assert UsageSample.objects.count() == 1  # the unique constraint: one sample per interval


def test_every_rejection_is_reported_with_its_line_and_reason_and_good_rows_are_kept(tmp_path, settings):
    settings.PORTAL_USAGE_MAX_GBPS = 1  # 37.5 GB in 5 minutes
    service = ServiceFactory()
    text = "\n".join(
        [
            "service,interval_start,bytes_in,bytes_out",
            f"{service.pk},2026-11-01T00:00:00Z,1,2",  # 2: good
            "999999,2026-11-01T00:00:00Z,1,2",  # 3: unknown service
            "203.0.113.9,2026-11-01T00:00:00Z,1,2",  # 4: unknown IP
            f"{service.pk},2026-11-01T00:03:00Z,1,2",  # 5: not on a boundary
            f"{service.pk},2026-11-01T00:15:00Z,-5,2",  # 6: negative
            f"{service.pk},2026-11-01T00:20:00Z,1,37500000001",  # 7: beyond line rate
            f"{service.pk},yesterday,1,2",  # 8: bad timestamp
            f"{service.pk},2026-11-01T00:25:00Z,1.5,2",  # 9: not a whole number
            f"{service.pk},2026-11-01T00:30:00Z,1",  # 10: too few fields
            f"{service.pk},2999-01-01T00:00:00Z,1,2",  # 11: in the future
            f"{service.pk},2026-11-01T00:35:00Z,7,8",  # 12: good
            "not-a-service,2026-11-01T00:00:00Z,1,2",  # 13: neither
        ]
    )
    status, out, err = run(tmp_path, text)
    assert status == 1
    lines = err.strip().splitlines()
    reasons = {int(line.split("line ")[1].split(":")[0]): line.split(": ", 2)[2] for line in lines}
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8, 9, 10, 11, 13]
    assert reasons[3] == "unknown service 999999"
    assert reasons[4].startswith("unknown IP address 203.0.113.9")
    assert "not on a 5-minute boundary" in reasons[5]
    assert reasons[6] == "bytes in -5 is negative"
    assert "more than a 1 Gbit/s line carries" in reasons[7]
    assert reasons[8].startswith("bad timestamp 'yesterday'")
    assert "not a whole number" in reasons[9]
    assert "expected service or IP" in reasons[10]
    assert "in the future" in reasons[11]
    assert "neither a service number nor an IP address" in reasons[13]
    assert "2 stored" in out and "10 rejected" in out
    assert [row[1:] for row in stored(service)] == [(1, 2), (7, 8)]


def test_an_ip_address_is_resolved_through_the_assignment_history(tmp_path):
    before, after = ServiceFactory(), ServiceFactory()
    IPAssignmentFactory(
        service=before, network="192.0.2.10", assigned_on=dt.date(2026, 1, 1), released_on=dt.date(2026, 10, 15)
    )
    IPAssignmentFactory(service=after, network="192.0.2.8/29", assigned_on=dt.date(2026, 10, 15))
    text = (
        "192.0.2.10,2026-10-14T23:55:00Z,1,1\n"  # before the release: the first holder
        "192.0.2.10,2026-10-15T12:00:00Z,2,2\n"  # the day it moved: the new holder
        "192.0.2.10,2026-10-16T00:00:00Z,3,3\n"
    )
    status, _, err = run(tmp_path, text)
    assert (status, err) == (0, "")
    assert [row[1] for row in stored(before)] == [1]
    assert [row[1] for row in stored(after)] == [2, 3]


def test_a_repeated_interval_in_one_file_with_other_counts_is_rejected(tmp_path):
    service = ServiceFactory()
    text = f"{service.pk},2026-11-01T00:00:00Z,1,2\n{service.pk},2026-11-01T00:00:00Z,5,6\n"
    status, _, err = run(tmp_path, text)
    assert status == 1 and "line 2: same service and interval as line 1 with other counts" in err
    assert stored(service)[0][1:] == (1, 2)


def test_standard_input_and_unix_seconds(monkeypatch):
    service = ServiceFactory()
    stamp = int(dt.datetime(2026, 11, 1, tzinfo=dt.UTC).timestamp())
    stdin = io.TextIOWrapper(io.BytesIO(f"{service.pk},{stamp},4,5\n".encode()))
    monkeypatch.setattr("sys.stdin", stdin)
    call_command("import_usage", "-", stdout=io.StringIO())
    assert stored(service) == [(dt.datetime(2026, 11, 1, tzinfo=dt.UTC), 4, 5)]


def test_a_batch_the_database_refuses_is_stored_not_at_all_and_the_others_are(monkeypatch):
    service = ServiceFactory()
    real = ingest_module._write_orm if hasattr(ingest_module, "_write_orm") else None
    calls = []

    def failing_second_batch(rows, replace, report):
        calls.append(len(rows))
        if len(calls) == 2:
            UsageSample.objects.create(service=service, interval_start=rows[0].start, bytes_in=0, bytes_out=0)
            raise DatabaseError("disk full")
        return real(rows, replace, report)

    monkeypatch.setattr(ingest_module, "_write_orm", failing_second_batch)
    monkeypatch.setattr(ingest_module.connection, "vendor", "sqlite")
    text = "".join(f"{service.pk},2026-11-01T00:{minute:02d}:00Z,{minute},0\n" for minute in range(0, 30, 5))
    report = ingest(io.StringIO(text), actor=System("tests"), batch_size=2)
    assert report.stored == 4
    assert [r.line for r in report.rejected] == [3, 4]
    assert all("disk full" in r.reason for r in report.rejected)
    # The second batch left nothing behind, not even what it wrote before failing.
    assert [row[1] for row in stored(service)] == [0, 5, 20, 25]
