"""A legal hold on an abuse case covers its reports, their evidence and its history; one on a
storage grant covers the access sessions and checks under it; one on a service covers the
cases and grants about it: through the retention sweep and erasure alike."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from accounts.audit import System
from accounts.models import Customer
from core.registry import owner_paths
from privacy.abuse import cases, intake, parsers
from privacy.abuse.models import AbuseCase, AbuseEvidence, AbuseReport, CaseEntry, CaseEntryFile
from privacy.services import holds
from privacy.services.erasure import erasure_plan, execute_erasure
from privacy.services.retention import sweep
from privacy.storage.models import StorageAccessCheck, StorageAccessSession, StorageGrant
from tests.accounts.factories import CustomerFactory, ServiceFactory, StaffFactory
from tests.privacy.abuse import samples

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 4, 12, tzinfo=dt.UTC)
LONG_AFTER = dt.date(2045, 1, 1)
LONDON = timezone.get_default_timezone()


def test_the_children_declare_the_records_they_belong_to():
    assert owner_paths(AbuseEvidence) == ("report",)
    assert owner_paths(AbuseReport) == ("case",)
    assert owner_paths(CaseEntry) == ("case",)
    assert owner_paths(CaseEntryFile) == ("entry",)
    assert owner_paths(AbuseCase) == ("service",)
    assert owner_paths(StorageAccessSession) == ("grant",)
    assert owner_paths(StorageAccessCheck) == ("grant", "service")
    assert owner_paths(StorageGrant) == ("service",)


def _closed_case(sample: dict) -> AbuseCase:
    report = intake.file_report(parsers.parse_xarf(json.dumps(sample)), now=NOW, actor=System("tests"))
    case = cases.set_status(report.case, status=AbuseCase.Status.RESOLVED, actor=StaffFactory())
    AbuseCase.objects.filter(pk=case.pk).update(closed_at=dt.datetime(2026, 3, 5, tzinfo=dt.UTC))
    return AbuseCase.objects.get(pk=case.pk)


@pytest.fixture
def two_cases(hosted):
    """Two closed cases about the same service, each with a report and its evidence."""
    held = _closed_case(samples.PER_CATEGORY["messaging"]())
    other = _closed_case(samples.PER_CATEGORY["connection"]())
    assert AbuseEvidence.objects.filter(report__case=held).exists()
    assert AbuseEvidence.objects.filter(report__case=other).exists()
    return held, other


def test_a_hold_on_a_case_keeps_its_reports_evidence_and_history_through_the_sweep(
    two_cases, django_capture_on_commit_callbacks
):
    held, other = two_cases
    evidence = AbuseEvidence.objects.get(report__case=held)
    holds.place_hold(held.customer, reason="Police production order", actor=StaffFactory(), target=held)

    with django_capture_on_commit_callbacks(execute=True):
        report = sweep(dry_run=False, today=dt.date(2028, 1, 1))

    assert AbuseCase.objects.filter(pk=held.pk).exists()
    assert AbuseReport.objects.filter(case=held).exists() and CaseEntry.objects.filter(case=held).exists()
    assert AbuseEvidence.objects.filter(pk=evidence.pk).exists() and default_storage.exists(evidence.file.name)
    assert holds.is_held(evidence)
    entry = next(m for m in report.models if m.model == "privacy.AbuseEvidence")
    assert entry.held == 1
    # The other case, past its twelve months and not held, went with its reports and evidence.
    assert not AbuseReport.objects.filter(case=other).exists()
    assert not AbuseEvidence.objects.filter(report__case=other).exists()


def test_a_hold_on_the_service_keeps_its_cases_and_their_evidence(two_cases):
    held, other = two_cases
    holds.place_hold(held.customer, reason="Claim about the service", actor=StaffFactory(), target=held.service)

    sweep(dry_run=False, today=dt.date(2028, 1, 1))

    assert AbuseEvidence.objects.filter(report__case__in=[held, other]).count() == 2


def test_a_hold_on_a_case_is_named_for_its_evidence_in_the_erasure(two_cases, provider):
    held, _other = two_cases
    holds.place_hold(held.customer, reason="Police production order", actor=StaffFactory(), target=held)

    plan = erasure_plan(customer=held.customer)

    for model in ("privacy.AbuseEvidence", "privacy.AbuseReport", "privacy.CaseEntry"):
        items = [item for item in plan if item["model"] == model and item.get("held")]
        assert items and items[0]["count"] == 1, model
    execute_erasure(customer=held.customer, actor=StaffFactory())
    evidence = AbuseEvidence.objects.get(report__case=held)
    assert holds.is_held(evidence) and default_storage.exists(evidence.file.name)


def _grant_with_session(customer: Customer, staff) -> tuple[StorageGrant, StorageAccessSession]:
    service = ServiceFactory(customer=customer, started_on=dt.date(2010, 1, 1), ended_on=dt.date(2012, 1, 1))
    start = dt.datetime(2011, 5, 1, 9, tzinfo=dt.UTC)
    grant = StorageGrant.objects.create(
        customer=customer, service=service, route=StorageGrant.Route.CUSTOMER_REQUEST, status="approved",
        purpose="Restore a deleted file", starts_at=start, ends_at=start + dt.timedelta(hours=4),
        requested_by=staff, approved_by=staff, approved_at=start,
    )  # fmt: skip
    session = StorageAccessSession.objects.create(
        grant=grant, staff=staff, started_at=start, ended_at=start + dt.timedelta(hours=1),
        what_was_done="Restored /var/www/index.html", source=StorageAccessSession.Source.STAFF,
    )  # fmt: skip
    StorageAccessCheck.objects.create(
        customer=customer, service=service, staff=staff, staff_email=staff.email, grant=grant, allowed=True,
        answer="Allowed under the grant", checked_at=start,
    )  # fmt: skip
    return grant, session


def test_a_hold_on_a_grant_keeps_its_sessions_and_checks_through_the_sweep():
    customer = CustomerFactory()
    staff = StaffFactory()
    held, held_session = _grant_with_session(customer, staff)
    other, other_session = _grant_with_session(customer, staff)
    Customer.objects.filter(pk=customer.pk).update(
        status=Customer.Status.CLOSED, closed_at=dt.datetime(2012, 1, 1, 12, tzinfo=LONDON)
    )
    holds.place_hold(customer, reason="Claim about a restore", actor=StaffFactory(), target=held)

    report = sweep(dry_run=False, today=LONG_AFTER)

    assert StorageAccessSession.objects.filter(pk=held_session.pk).exists()
    assert StorageAccessCheck.objects.filter(grant=held).exists()
    assert holds.hold_reasons(StorageAccessSession, StorageAccessSession.objects.filter(pk=held_session.pk)) == [
        "Claim about a restore"
    ]
    entry = next(m for m in report.models if m.model == "privacy.StorageAccessSession")
    assert entry.held == 1
    assert not StorageAccessSession.objects.filter(pk=other_session.pk).exists()
    assert not StorageAccessCheck.objects.filter(grant=other).exists()


def test_a_hold_on_a_grant_is_named_for_its_sessions_in_the_erasure(provider):
    customer = CustomerFactory()
    held, session = _grant_with_session(customer, StaffFactory())
    holds.place_hold(customer, reason="Claim about a restore", actor=StaffFactory(), target=held)

    plan = erasure_plan(customer=customer)

    [item] = [i for i in plan if i["model"] == "privacy.StorageAccessSession" and i.get("held")]
    assert item["count"] == 1 and "Claim about a restore" in item["reason"]
    execute_erasure(customer=customer, actor=StaffFactory())
    session.refresh_from_db()
    assert session.what_was_done == "Restored /var/www/index.html" and holds.is_held(session)
