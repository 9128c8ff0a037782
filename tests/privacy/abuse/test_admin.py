"""The abuse desk works in the admin: the staff form, the queue, and a case's actions."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from accounts import roles
from accounts.correspondence.models import Message
from privacy.abuse.models import AbuseCase, AbuseReport, CaseEntry
from tests.accounts.factories import StaffFactory, enable_totp


def _desk_client(group: str = roles.ABUSE_GROUP) -> Client:
    staff = StaffFactory()
    staff.groups.add(Group.objects.get(name=group))
    enable_totp(staff)
    client = Client()
    client.force_login(staff)
    return client


def _staff_report(client, **overrides):
    data = {
        "reporter_org": "",
        "reporter_contact": "caller@home.example",
        "kind": "connection/ddos",
        "source_ip": "198.51.100.25",
        "source_port": "",
        "event_time": "2026-03-03 10:00",
        "summary": "Caller says their router is flooded from 198.51.100.25",
        "evidence": [SimpleUploadedFile("pcap-summary.txt", b"10:00 flood", content_type="text/plain")],
        "share_evidence": "on",
        **overrides,
    }
    return client.post(reverse("admin:privacy_abusereport_add"), data)


@pytest.mark.django_db
def test_the_abuse_desk_enters_a_report_taken_by_phone(hosted):
    client = _desk_client()

    response = _staff_report(client)

    assert response.status_code == 302, response.content.decode()[:2000]
    report = AbuseReport.objects.get()
    assert report.format == "staff" and report.status == AbuseReport.Status.MATCHED
    assert report.event_time == dt.datetime(2026, 3, 3, 10, 0, tzinfo=dt.UTC)  # London in winter is UTC
    assert report.case.type == "ddos" and report.case.severity == "high"
    assert report.entered_by is not None
    [item] = report.evidence.all()
    assert item.shared_with_customer and item.size == len(b"10:00 flood")


@pytest.mark.django_db
def test_the_staff_form_names_bad_input_and_files_nothing(hosted):
    response = _staff_report(_desk_client(), source_ip="not an address")

    assert response.status_code == 200 and "Enter a valid IPv4 or IPv6 address" in response.content.decode()
    assert not AbuseReport.objects.exists()


@pytest.mark.django_db
def test_telling_the_customer_from_the_case_page(hosted):
    client = _desk_client()
    _staff_report(client)
    case = AbuseCase.objects.get()

    page = client.get(reverse("admin:privacy_abusecase_change", args=[case.pk])).content.decode()
    assert "Tell the customer" in page and "Suspend the service" in page
    response = client.post(
        reverse("admin:privacy_abusecase_action", args=[case.pk, "tell"]), {"instructions": "Stop the flood."}
    )

    assert response.status_code == 302
    notice = Message.objects.get(template="abuse_case_notice")
    assert "Stop the flood." in notice.body_text
    assert "caller@home.example" not in notice.body_text
    assert [a.filename for a in notice.attachments.all()] == [f"evidence-{case.reports.get().evidence.get().pk}.txt"]


@pytest.mark.django_db
def test_containment_needs_its_own_permission(hosted):
    _staff_report(_desk_client())
    case = AbuseCase.objects.get()
    support = _desk_client(roles.SUPPORT_GROUP)

    response = support.post(reverse("admin:privacy_abusecase_action", args=[case.pk, "suspend"]), {"reason": "x"})

    assert response.status_code == 403
    assert not case.entries.filter(kind=CaseEntry.Kind.SUSPENDED).exists()


@pytest.mark.django_db
def test_staff_put_an_unmatched_report_on_a_service_from_the_queue(hosted):
    client = _desk_client()
    _staff_report(client, source_ip="192.0.2.77")
    report = AbuseReport.objects.get()
    assert report.status == AbuseReport.Status.UNMATCHED

    queue = client.get(reverse("admin:privacy_abusereport_changelist") + "?queue=waiting").content.decode()
    assert "192.0.2.77" in queue
    response = client.post(reverse("admin:privacy_abusereport_match", args=[report.pk]), {"service": hosted.pk})

    assert response.status_code == 302
    report.refresh_from_db()
    assert report.case.service == hosted


@pytest.mark.django_db
def test_closing_cases_from_the_list(hosted):
    client = _desk_client()
    _staff_report(client)
    case = AbuseCase.objects.get()

    response = client.post(
        reverse("admin:privacy_abusecase_changelist"), {"action": "resolve_selected", "_selected_action": [case.pk]}
    )

    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == "resolved" and case.closed_at is not None
    assert case.entries.get(kind=CaseEntry.Kind.STATUS).text == "New → Resolved"


@pytest.mark.django_db
def test_the_staff_form_shows_each_field_with_its_label_and_help(hosted):
    page = _desk_client().get(reverse("admin:privacy_abusereport_add")).content.decode()
    for name in ("reporter_contact", "kind", "source_ip", "event_time", "summary", "evidence", "share_evidence"):
        assert f'for="id_{name}"' in page and f'name="{name}"' in page, name
    assert 'class="help"' in page
