"""Evidence kept a set time after the case closes, unless held; exports minimised; security.txt."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone

from accounts.audit import System
from accounts.models import ProviderDetails
from core.registry import declaration_for
from privacy.abuse import cases, intake, parsers
from privacy.abuse.models import AbuseCase, AbuseEvidence, AbuseReport
from privacy.models import DataExport
from privacy.services import export as export_service
from privacy.services import holds
from privacy.services.retention import sweep
from tests.accounts.factories import StaffFactory, enable_totp
from tests.privacy.abuse import samples

NOW = dt.datetime(2026, 3, 4, 12, tzinfo=dt.UTC)


@pytest.fixture
def closed_case(hosted):
    data = parsers.parse_xarf(json.dumps(samples.PER_CATEGORY["messaging"]()))
    report = intake.file_report(data, now=NOW, actor=System("tests"))
    case = cases.set_status(report.case, status=AbuseCase.Status.RESOLVED, actor=StaffFactory())
    AbuseCase.objects.filter(pk=case.pk).update(closed_at=dt.datetime(2026, 3, 5, tzinfo=dt.UTC))
    return case


def test_retention_is_declared_from_the_setting():
    for model in (AbuseCase, AbuseReport, AbuseEvidence):
        declaration = declaration_for(model)
        assert declaration.retention.months == 12
        assert "12 months after the case closes" in declaration.retention.description


@pytest.mark.django_db
def test_the_sweep_removes_a_closed_cases_evidence_after_twelve_months(closed_case, django_capture_on_commit_callbacks):
    evidence = AbuseEvidence.objects.get(report__case=closed_case)
    stored = evidence.file.name

    sweep(dry_run=False, today=dt.date(2027, 3, 4))
    assert AbuseEvidence.objects.filter(pk=evidence.pk).exists()  # a day early

    with django_capture_on_commit_callbacks(execute=True):
        sweep(dry_run=False, today=dt.date(2027, 3, 5))
    assert not AbuseEvidence.objects.filter(pk=evidence.pk).exists()
    assert not AbuseReport.objects.filter(case=closed_case).exists()
    assert not default_storage.exists(stored)


@pytest.mark.django_db
def test_an_open_case_is_kept(hosted):
    report = intake.file_report(
        parsers.parse_xarf(json.dumps(samples.PER_CATEGORY["messaging"]())), now=NOW, actor=System("tests")
    )

    sweep(dry_run=False, today=dt.date(2030, 1, 1))

    assert AbuseReport.objects.filter(pk=report.pk).exists()


@pytest.mark.django_db
def test_a_legal_hold_keeps_the_evidence(closed_case):
    holds.place_hold(closed_case.customer, reason="Police production order", actor=StaffFactory())

    sweep(dry_run=False, today=dt.date(2027, 6, 1))

    assert AbuseEvidence.objects.filter(report__case=closed_case).exists()


@pytest.mark.django_db
def test_an_unmatched_report_goes_twelve_months_after_it_arrived(db):
    report = intake.file_report(
        parsers.parse_xarf(json.dumps(samples.PER_CATEGORY["messaging"](ip="192.0.2.1"))),
        now=NOW,
        actor=System("tests"),
    )

    sweep(dry_run=False, today=dt.date(2027, 3, 3))
    assert AbuseReport.objects.filter(pk=report.pk).exists()
    sweep(dry_run=False, today=dt.date(2027, 3, 4))
    assert not AbuseReport.objects.filter(pk=report.pk).exists()


@pytest.mark.django_db
def test_the_customers_export_has_their_cases_without_the_reporters_details(closed_case):
    owner = closed_case.customer.memberships.get(role="owner").user
    export = export_service.build_export(
        DataExport.objects.create(requested_by=owner, customer=closed_case.customer).pk
    )

    with default_storage.open(export.file.name, "rb") as handle, zipfile.ZipFile(io.BytesIO(handle.read())) as archive:
        everything = b"".join(archive.read(name) for name in archive.namelist()).decode("utf-8", "replace")
        names = archive.namelist()

    assert any("abusecase" in name for name in names) and any("abusereport" in name for name in names)
    assert "198.51.100.25" in everything and "login_attack" not in everything
    assert "abuse-reports@mailbox.example" not in everything  # the reporter's contact stays with us


@pytest.mark.django_db
def test_security_txt_from_provider_details(provider):
    provider.security_txt_expires = timezone.now() + dt.timedelta(days=200)
    provider.security_contact = "mailto:security@hosting.example"
    provider.security_policy_url = "https://hosting.example/disclosure"
    provider.save()

    response = Client().get("/.well-known/security.txt")

    body = response.content.decode()
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    assert "Contact: mailto:security@hosting.example\n" in body
    assert "Contact: mailto:abuse@hosting.example\n" in body
    assert f"Expires: {provider.security_txt_expires.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%SZ}\n" in body
    assert "Policy: https://hosting.example/disclosure" in body
    assert "Canonical: http://testserver/.well-known/security.txt" in body


@pytest.mark.django_db
def test_security_txt_without_an_expiry_or_expired_is_not_served(provider):
    assert Client().get("/.well-known/security.txt").status_code == 404
    ProviderDetails.objects.update(security_txt_expires=timezone.now() - dt.timedelta(days=1))
    assert Client().get("/.well-known/security.txt").status_code == 404


@pytest.mark.django_db
def test_staff_are_warned_before_security_txt_expires(provider):
    ProviderDetails.objects.update(security_txt_expires=timezone.now() + dt.timedelta(days=10))
    staff = StaffFactory(is_superuser=True)
    enable_totp(staff)
    client = Client()
    client.force_login(staff)

    page = client.get("/admin/").content.decode()

    assert "security.txt expires on" in page.lower()
