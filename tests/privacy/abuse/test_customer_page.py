"""The customer's Abuse reports page: technical contacts and owners only, minimised, with answers."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from accounts import roles
from accounts.audit import System
from accounts.models import Membership
from privacy.abuse import cases, intake, parsers
from privacy.abuse.models import CaseEntry
from tests.accounts.factories import StaffFactory
from tests.privacy.abuse import samples

NOW = dt.datetime(2026, 3, 4, 12, tzinfo=dt.UTC)


@pytest.fixture
def case(hosted):
    data = parsers.parse_xarf(
        json.dumps(samples.PER_CATEGORY["connection"](description="Seen by jo.bloggs@home.example from 198.51.100.25"))
    )
    data.reporter_is_organisation, data.reporter_org = False, ""
    report = intake.file_report(data, now=NOW, actor=System("tests"))
    staff = StaffFactory()
    cases.add_note(report.case, actor=staff, text="Internal: customer is a repeat offender")
    cases.tell_customer(report.case, actor=staff, instructions="Stop the attack.")
    return report.case


def _client_for(customer, role) -> Client:
    membership = Membership.objects.get(customer=customer, role=role)
    client = Client()
    client.force_login(membership.user)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("role", [roles.Role.OWNER, roles.Role.TECHNICAL])
def test_owners_and_technical_contacts_see_their_cases_minimised(case, role):
    client = _client_for(case.customer, role)

    listing = client.get(reverse("abuse:case_list")).content.decode()
    page = client.get(reverse("abuse:case_detail", args=[case.pk])).content.decode()

    assert f"#{case.pk}" in listing and "Login attack" in listing and "Abuse reports" in listing
    assert "198.51.100.25" in page and "Waiting for customer" in page
    assert "Stop the attack." in page  # what they were told
    assert "jo.bloggs@home.example" not in page and "[address removed]" in page
    assert "repeat offender" not in page  # staff notes stay internal


@pytest.mark.django_db
def test_billing_contacts_are_told_they_may_not(case):
    client = _client_for(case.customer, roles.Role.BILLING)

    response = client.get(reverse("abuse:case_list"))
    detail = client.get(reverse("abuse:case_detail", args=[case.pk]))

    assert response.status_code == 403 and detail.status_code == 403
    assert "only owners and technical contacts may" in response.content.decode()
    assert "Abuse reports" not in client.get(reverse("portal:dashboard")).content.decode()


@pytest.mark.django_db
def test_another_customers_case_is_not_found(case, other_customer_client):
    assert other_customer_client.get(reverse("abuse:case_detail", args=[case.pk])).status_code == 404
    assert f"#{case.pk}" not in other_customer_client.get(reverse("abuse:case_list")).content.decode()


@pytest.mark.django_db
def test_a_technical_contact_answers_with_an_attachment(case):
    client = _client_for(case.customer, roles.Role.TECHNICAL)
    upload = SimpleUploadedFile("fixed.log", b"sshd now only accepts keys", content_type="text/plain")

    response = client.post(
        reverse("abuse:case_detail", args=[case.pk]), {"text": "We closed SSH to the world.", "files": [upload]}
    )

    assert response.status_code == 302
    entry = case.entries.get(kind=CaseEntry.Kind.CUSTOMER_ANSWER)
    assert entry.text == "We closed SSH to the world." and entry.author.email == "tech@customer.example"
    [stored] = entry.files.all()
    assert stored.filename == "fixed.log" and stored.file.open("rb").read() == b"sshd now only accepts keys"
    page = client.get(reverse("abuse:case_detail", args=[case.pk])).content.decode()
    assert "We closed SSH to the world." in page
    download = client.get(reverse("abuse:answer_file", args=[case.pk, stored.pk]))
    assert b"".join(download.streaming_content) == b"sshd now only accepts keys"


@pytest.mark.django_db
def test_an_empty_answer_is_refused_and_nothing_is_stored(case):
    client = _client_for(case.customer, roles.Role.OWNER)

    response = client.post(reverse("abuse:case_detail", args=[case.pk]), {"text": ""})

    assert response.status_code == 200 and "This field is required" in response.content.decode()
    assert not case.entries.filter(kind=CaseEntry.Kind.CUSTOMER_ANSWER).exists()


@pytest.mark.django_db
def test_only_shared_evidence_can_be_downloaded(case):
    client = _client_for(case.customer, roles.Role.OWNER)
    item = case.reports.get().evidence.get()
    url = reverse("abuse:evidence", args=[case.pk, item.pk])

    assert client.get(url).status_code == 404
    item.shared_with_customer = True
    item.save()
    assert client.get(url).status_code == 200


@pytest.mark.django_db
def test_a_reply_by_email_to_the_notice_joins_the_case(case):
    from accounts.correspondence import inbound

    notice = case.entries.get(kind=CaseEntry.Kind.CUSTOMER_TOLD).outbound
    raw = (
        "From: tech@customer.example\r\nTo: abuse@hosting.example\r\nSubject: Re: abuse\r\n"
        f"Message-ID: <reply-1@customer.example>\r\nIn-Reply-To: <{notice.message_id}>\r\n\r\nFixed it, sorry.\r\n"
    ).encode()

    inbound.receive(raw)

    answer = case.entries.get(kind=CaseEntry.Kind.CUSTOMER_ANSWER)
    assert "Fixed it, sorry." in answer.text
    assert case.reports.count() == 1  # not filed as a new report
