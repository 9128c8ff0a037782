"""Reports matched to the service that held the address then, grouped into cases; the rest queued."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone

from accounts.audit import System
from privacy.abuse import intake, matching, parsers
from privacy.abuse.models import AbuseCase, AbuseReport
from tests.accounts.factories import IPAssignmentFactory, ServiceFactory
from tests.privacy.abuse import samples

NOW = dt.datetime(2026, 3, 4, 12, tzinfo=dt.UTC)


def _file(sample: dict, now=NOW) -> AbuseReport:
    return intake.file_report(parsers.parse_xarf(json.dumps(sample)), now=now, actor=System("tests"))


def _at(day: str, hour: int = 12) -> dt.datetime:
    return timezone.make_aware(dt.datetime.fromisoformat(f"{day}T{hour:02d}:00"))


@pytest.mark.django_db
def test_an_address_inside_an_assigned_ipv6_prefix_matches_its_service():
    service = ServiceFactory()
    IPAssignmentFactory(service=service, network="2001:db8:10::/48", assigned_on=dt.date(2026, 1, 1))

    found = matching.match("2001:db8:10:ffff::1", _at("2026-03-03"))

    assert found.service == service


@pytest.mark.django_db
def test_an_address_inside_an_ipv4_prefix_matches():
    service = ServiceFactory()
    IPAssignmentFactory(service=service, network="203.0.113.8/29", assigned_on=dt.date(2026, 1, 1))

    assert matching.match("203.0.113.15", _at("2026-03-03")).service == service
    assert matching.match("203.0.113.16", _at("2026-03-03")).service is None


@pytest.mark.django_db
def test_a_reassigned_address_goes_to_the_customer_who_held_it_then():
    before, after = ServiceFactory(), ServiceFactory()
    IPAssignmentFactory(
        service=before, network="192.0.2.7", assigned_on=dt.date(2025, 1, 1), released_on=dt.date(2026, 2, 1)
    )
    IPAssignmentFactory(service=after, network="192.0.2.0/28", assigned_on=dt.date(2026, 2, 2))

    assert matching.match("192.0.2.7", _at("2026-01-15")).service == before
    assert matching.match("192.0.2.7", _at("2026-03-01")).service == after
    assert before.customer != after.customer


@pytest.mark.django_db
def test_the_boundaries_of_an_assignment_are_days_it_held_the_address():
    before, after = ServiceFactory(), ServiceFactory()
    IPAssignmentFactory(
        service=before, network="192.0.2.9", assigned_on=dt.date(2026, 1, 10), released_on=dt.date(2026, 2, 1)
    )
    IPAssignmentFactory(service=after, network="192.0.2.9", assigned_on=dt.date(2026, 2, 1))

    assert matching.match("192.0.2.9", _at("2026-01-10", 0)).service == before  # the first day
    assert matching.match("192.0.2.9", _at("2026-01-09", 23)).service is None  # the day before
    assert matching.match("192.0.2.9", _at("2026-02-02", 0)).service == after
    moved = matching.match("192.0.2.9", _at("2026-02-01", 9))  # both held it that day
    assert moved.service is None
    assert "more than one service" in moved.problem and str(before) in moved.problem and str(after) in moved.problem


@pytest.mark.django_db
def test_the_day_is_the_providers_day_not_utcs():
    service = ServiceFactory()
    IPAssignmentFactory(service=service, network="192.0.2.10", assigned_on=dt.date(2026, 7, 2))

    # 23:30 UTC on 1 July is 00:30 on 2 July in London (summer time).
    assert matching.match("192.0.2.10", dt.datetime(2026, 7, 1, 23, 30, tzinfo=dt.UTC)).service == service


@pytest.mark.django_db
def test_no_match_says_why():
    assert matching.match("192.0.2.200", NOW).problem == "192.0.2.200 is not an address we have assigned to any service"


@pytest.mark.django_db
def test_a_report_joins_a_case_for_its_service_and_type(hosted):
    report = _file(samples.PER_CATEGORY["messaging"]())

    assert report.status == AbuseReport.Status.MATCHED
    assert report.service == hosted and report.customer == hosted.customer
    case = report.case
    assert (case.service, case.category, case.type, case.report_count) == (hosted, "messaging", "spam", 1)
    assert case.status == AbuseCase.Status.NEW and case.severity == "normal"


@pytest.mark.django_db
def test_two_hundred_spam_complaints_are_one_case(hosted):
    reports = [_file(samples.PER_CATEGORY["messaging"](), now=NOW + dt.timedelta(minutes=i)) for i in range(200)]

    assert AbuseCase.objects.count() == 1
    assert AbuseCase.objects.get().report_count == 200
    assert {r.case_id for r in reports} == {AbuseCase.objects.get().pk}


@pytest.mark.django_db
def test_another_type_or_a_report_after_the_window_opens_another_case(hosted, settings):
    settings.PORTAL_ABUSE_CASE_WINDOW_DAYS = 7
    spam = _file(samples.PER_CATEGORY["messaging"]())
    scan = _file(samples.PER_CATEGORY["connection"]())
    later = _file(samples.PER_CATEGORY["messaging"](), now=NOW + dt.timedelta(days=8))

    assert len({spam.case_id, scan.case_id, later.case_id}) == 3


@pytest.mark.django_db
def test_a_report_after_the_case_closed_opens_a_new_case(hosted):
    first = _file(samples.PER_CATEGORY["messaging"]())
    AbuseCase.objects.filter(pk=first.case_id).update(status=AbuseCase.Status.RESOLVED, closed_at=NOW)

    second = _file(samples.PER_CATEGORY["messaging"](), now=NOW + dt.timedelta(hours=1))

    assert second.case_id != first.case_id


@pytest.mark.django_db
def test_the_same_report_id_or_the_same_bytes_is_a_duplicate(hosted):
    sample = samples.PER_CATEGORY["messaging"]()
    original = _file(sample)
    same_bytes = _file(sample)
    sample["description"] = "sent again, reworded"
    same_id = _file(sample)

    for duplicate in (same_bytes, same_id):
        assert duplicate.status == AbuseReport.Status.DUPLICATE
        assert duplicate.duplicate_of == original
        assert duplicate.case == original.case
    original.case.refresh_from_db()
    assert original.case.report_count == 1
    assert AbuseReport.objects.count() == 3  # kept, not dropped


@pytest.mark.django_db
def test_an_unmatched_report_is_queued_with_the_reason(db):
    report = _file(samples.PER_CATEGORY["messaging"](ip="192.0.2.250"))

    assert report.status == AbuseReport.Status.UNMATCHED
    assert report.problem == "192.0.2.250 is not an address we have assigned to any service"
    assert report.case is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("sample", "reason"),
    [
        (b"{ broken", "not valid JSON"),
        (json.dumps({**samples.PER_CATEGORY["messaging"](), "smtp_from": None}), "smtp_from"),
        (json.dumps(samples.PER_CATEGORY["reputation"](ip="bad.example")), "is not an IP address"),
        (json.dumps(samples.PER_CATEGORY["reputation"](when="2030-01-01T00:00:00Z")), "in the future"),
    ],
)
def test_a_malformed_report_is_kept_and_queued_with_the_reason(hosted, sample, reason):
    report = intake.file_report(parsers.parse_xarf(sample), now=NOW, actor=System("tests"))

    assert report.pk and report.status == AbuseReport.Status.MALFORMED
    assert reason in report.problem
    assert report.case is None


@pytest.mark.django_db
def test_evidence_is_stored_with_its_sha256(hosted):
    report = _file(samples.PER_CATEGORY["messaging"]())

    [item] = report.evidence.all()
    assert item.sha256 == __import__("hashlib").sha256(samples.SPAM_COPY).hexdigest()
    assert item.file.open("rb").read() == samples.SPAM_COPY


@pytest.mark.django_db
def test_an_oversized_evidence_item_is_not_stored_but_the_report_is(hosted, settings):
    settings.PORTAL_ABUSE_MAX_EVIDENCE_BYTES = 10
    report = _file(samples.PER_CATEGORY["messaging"]())

    assert report.status == AbuseReport.Status.MALFORMED
    assert "over the limit of 10 bytes" in report.problem
    assert report.evidence.count() == 0
