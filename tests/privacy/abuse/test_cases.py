"""Working a case: the customer told (minimised), the complainant answered and operators
notified (both in the ledger, neither naming the customer), deadlines by severity."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.audit import System
from accounts.correspondence.models import Message
from privacy.abuse import cases, intake, parsers
from privacy.abuse.models import AbuseCase, AbuseReport, CaseEntry
from privacy.models import DisclosureEntry
from tests.accounts.factories import StaffFactory
from tests.privacy.abuse import samples

NOW = dt.datetime(2026, 3, 4, 12, tzinfo=dt.UTC)


def _file(sample: dict, **fields) -> AbuseReport:
    data = parsers.parse_xarf(json.dumps(sample))
    for name, value in fields.items():
        setattr(data, name, value)
    return intake.file_report(data, now=NOW, actor=System("abuse intake"))


@pytest.fixture
def staff(db):
    return StaffFactory()


@pytest.fixture
def case(hosted):
    person = samples.PER_CATEGORY["connection"](
        description="Jo Bloggs (jo.bloggs@home.example) saw 400 SSH logins from 198.51.100.25"
    )
    _file(person, reporter_is_organisation=False, reporter_org="", reporter_contact="jo.bloggs@home.example")
    report = _file(samples.PER_CATEGORY["connection"]())
    AbuseCase.objects.filter(pk=report.case_id).update(severity="high")
    return AbuseCase.objects.get(pk=report.case_id)


@pytest.mark.django_db
def test_telling_the_customer_emails_technical_contacts_and_owners_with_a_deadline(case, staff):
    told_at = timezone.now()

    entry = cases.tell_customer(case, actor=staff, instructions="Stop the SSH brute force and secure the server.")

    message = entry.outbound
    assert message.kind == "abuse"
    assert message.to_addresses == ["owner@customer.example", "tech@customer.example"]  # not billing
    assert "web-01" in message.body_text and "198.51.100.25" in message.body_text
    assert "Stop the SSH brute force" in message.body_text
    case.refresh_from_db()
    assert case.status == AbuseCase.Status.WAITING
    assert dt.timedelta(hours=23, minutes=59) < case.deadline - told_at <= dt.timedelta(hours=24, minutes=1)
    assert message.related == case


@pytest.mark.django_db
def test_the_customer_never_sees_a_private_reporters_address_but_sees_an_organisations_name(case, staff):
    message = cases.tell_customer(case, actor=staff, instructions="Fix it.").outbound

    assert "jo.bloggs@home.example" not in message.body_text
    assert "Jo Bloggs (jo.bloggs" not in message.body_text
    assert "A member of the public" in message.body_text
    assert "Mailbox Example" in message.body_text  # an organisation is named


@pytest.mark.django_db
def test_a_reporter_who_agreed_is_named(hosted, staff):
    report = _file(
        samples.PER_CATEGORY["connection"](description="Reported by jo.bloggs@home.example"),
        reporter_is_organisation=False,
        reporter_may_be_named=True,
        reporter_org="Jo Bloggs",
    )

    message = cases.tell_customer(report.case, actor=staff, instructions="Fix it.").outbound

    assert "Jo Bloggs" in message.body_text and "jo.bloggs@home.example" in message.body_text


@pytest.mark.django_db
def test_only_evidence_marked_as_needed_is_attached(hosted, staff):
    report = _file(samples.PER_CATEGORY["messaging"]())
    other = _file(samples.PER_CATEGORY["messaging"](evidence=[samples.evidence(b"private trap details")]))
    assert other.case == report.case
    report.evidence.update(shared_with_customer=True)

    message = cases.tell_customer(report.case, actor=staff, instructions="Fix it.").outbound

    [attachment] = message.attachments.all()
    assert attachment.sha256 == report.evidence.get().sha256


@pytest.mark.django_db
@pytest.mark.parametrize(("severity", "hours"), [("critical", 4), ("high", 24), ("normal", 72), ("low", 168)])
def test_deadlines_follow_severity(case, staff, severity, hours):
    case = cases.update_case(case, actor=staff, severity=severity)
    before = timezone.now()

    cases.tell_customer(case, actor=staff, instructions="Fix it.")

    case.refresh_from_db()
    assert abs((case.deadline - before) - dt.timedelta(hours=hours)) < dt.timedelta(minutes=1)


@pytest.mark.django_db
def test_answering_the_complainant_is_in_the_ledger_and_does_not_name_the_customer(case, staff):
    report = case.reports.exclude(reporter_is_organisation=False).first()

    entry = cases.answer_complainant(case, report=report, actor=staff, text="We had the customer stop the attack.")

    message = entry.outbound
    assert message.to_addresses == [report.reporter_contact] and message.customer is None
    assert case.customer.registered_name not in message.body_text
    disclosure = entry.disclosure
    assert disclosure.recipient_kind == DisclosureEntry.Recipient.COMPLAINANT
    assert disclosure.recipient_address == report.reporter_contact
    assert disclosure.categories == ["network"]
    assert list(disclosure.customers.all()) == [case.customer]


@pytest.mark.django_db
def test_an_answer_naming_the_customer_is_refused_unless_needed(case, staff):
    report = case.reports.first()
    text = f"{case.customer.registered_name} has fixed it."

    with pytest.raises(ValidationError, match="identifies the customer"):
        cases.answer_complainant(case, report=report, actor=staff, text=text)
    assert not DisclosureEntry.objects.exists()

    entry = cases.answer_complainant(case, report=report, actor=staff, text=text, identity_needed=True)
    assert entry.disclosure.categories == ["identity", "network"]


@pytest.mark.django_db
def test_notifying_an_operator_sends_the_minimum_records_it_and_tells_the_customer(case, staff):
    entry = cases.notify_operators(case, actor=staff, operator="Victim Net", address="abuse@victim.example")

    notice = entry.outbound
    assert notice.to_addresses == ["abuse@victim.example"]
    assert "198.51.100.25" in notice.body_text and "Login attack" in notice.body_text
    for secret in (case.customer.registered_name, "web-01", "owner@customer.example", "jo.bloggs"):
        assert secret not in notice.body_text
    assert entry.disclosure.recipient_kind == DisclosureEntry.Recipient.NETWORK_OPERATOR
    assert entry.disclosure.recipient == "Victim Net"
    told = Message.objects.get(template="abuse_operators_told")
    assert told.customer == case.customer and "Victim Net" in told.body_text


@pytest.mark.django_db
def test_closing_a_case_starts_its_retention_and_reopening_stops_it(case, staff):
    closed = cases.set_status(case, status=AbuseCase.Status.RESOLVED, actor=staff, note="Customer fixed it")
    assert closed.closed_at is not None

    reopened = cases.set_status(case, status=AbuseCase.Status.ESCALATED, actor=staff)
    assert reopened.closed_at is None
    assert [e.text for e in case.entries.filter(kind=CaseEntry.Kind.STATUS)] == [
        "New → Resolved: Customer fixed it",
        "Resolved → Escalated",
    ]


@pytest.mark.django_db
def test_staff_put_an_unmatched_report_on_a_service(hosted, staff):
    report = _file(samples.PER_CATEGORY["messaging"](ip="192.0.2.99"))
    assert report.status == AbuseReport.Status.UNMATCHED

    cases.assign_report(report, service=hosted, actor=staff)

    report.refresh_from_db()
    assert report.status == AbuseReport.Status.MATCHED and report.case.service == hosted
    assert "it was unmatched: 192.0.2.99 is not an address" in report.case.entries.get().text


@pytest.mark.django_db
def test_a_dismissed_report_is_kept_with_the_reason(hosted, staff):
    report = _file(samples.PER_CATEGORY["messaging"](ip="bad.example"))

    cases.dismiss_report(report, actor=staff, reason="A test message from the reporter")

    report.refresh_from_db()
    assert report.status == AbuseReport.Status.DISMISSED and "A test message" in report.problem


@pytest.mark.django_db
def test_containment_suspends_and_restores_the_service_with_its_history_and_the_customer_told(case, staff):
    from accounts.audit import AuditEvent
    from accounts.models import Service, ServiceStatusChange

    cases.contain(case, actor=staff, reason="Sending spam after the deadline passed")

    service = Service.objects.get(pk=case.service_id)
    assert service.status == Service.Status.SUSPENDED
    change = ServiceStatusChange.objects.get(service=service)
    assert (change.source, change.reason) == ("abuse", "Sending spam after the deadline passed")
    assert Message.objects.filter(customer=case.customer, template="service_suspended").exists()
    assert case.entries.filter(kind=CaseEntry.Kind.SUSPENDED).exists()

    with pytest.raises(ValidationError):
        cases.contain(case, actor=staff, reason="again")  # already suspended: nothing half-applied
    assert case.entries.filter(kind=CaseEntry.Kind.SUSPENDED).count() == 1

    cases.restore(case, actor=staff, reason="The customer removed the mailer")
    assert Service.objects.get(pk=case.service_id).status == Service.Status.ACTIVE
    assert Message.objects.filter(customer=case.customer, template="service_restored").exists()
    assert case.entries.filter(kind=CaseEntry.Kind.RESTORED).exists()
    assert AuditEvent.objects.filter(action="service.suspended").exists()


@pytest.mark.django_db
def test_case_work_is_in_the_audit_trail(case, staff):
    from accounts.audit import AuditEvent

    cases.tell_customer(case, actor=staff, instructions="Fix it.")
    cases.set_status(case, status=AbuseCase.Status.RESOLVED, actor=staff)

    actions = set(AuditEvent.objects.about(case).values_list("action", flat=True))
    assert {"abuse_case.customer_told", "abuse_case.resolved"} <= actions
    filed = AuditEvent.objects.filter(action="abuse_report.filed").first()
    assert filed.actor_label == "System (abuse intake)" and filed.customer == case.customer
