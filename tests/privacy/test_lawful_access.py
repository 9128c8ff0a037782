"""The lawful-access register: verification and a second approval before any disclosure,
a hold on recording, the ledger entry withheld while a duty applies, the customer told
on the day it ends, and the transparency report."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.audit import AuditEvent, System
from accounts.correspondence.models import Message
from privacy import tasks
from privacy.lawful import services
from privacy.lawful.models import Instrument, LawfulDemand, LawfulDisclosure, TransparencyReport
from privacy.models import DisclosureEntry, LegalHold
from privacy.services.holds import is_held
from tests.accounts.factories import MembershipFactory, ServiceFactory
from tests.privacy.storage_helpers import staff_with

pytestmark = pytest.mark.django_db

CHECKLIST = {
    "authenticity_checked": True,
    "authenticity_note": "Called the force's disclosure unit on the number published on police.uk",
    "instrument_valid": True,
    "instrument_note": "Signed by a circuit judge on 2 March; in force",
    "scope_specific": True,
    "scope_note": "One customer, subscriber details, January only",
}


@pytest.fixture
def officers(db):
    return staff_with("handle_lawful_demand", totp=True), staff_with("handle_lawful_demand", totp=True)


def _record(customer, actor, *, instrument=Instrument.PACE_PRODUCTION_ORDER, place_hold=True, received_at=None):
    return services.record_demand(
        actor=actor,
        authority="Metropolitan Police Service",
        officer_name="DC Jane Smith",
        officer_contact="jane.smith@met.police.example",
        channel=LawfulDemand.Channel.EMAIL,
        instrument=instrument,
        instrument_reference="PO/2026/0042",
        instrument_date=dt.date(2026, 3, 2),
        customers=[customer],
        data_requested="Subscriber details and login records for January 2026",
        categories=["identity", "account"],
        period_from=dt.date(2026, 1, 1),
        period_to=dt.date(2026, 1, 31),
        deadline=dt.date(2026, 3, 20),
        place_hold=place_hold,
        received_at=received_at,
    )


def _approved(customer, first, second, *, instrument=Instrument.PACE_PRODUCTION_ORDER, outcome="complied", **kw):
    demand = _record(customer, first, instrument=instrument, **kw)
    checklist = {**CHECKLIST, "necessity_assessment": "Needed to identify a fraud suspect; minimum data"}
    services.sign_off_verification(demand, actor=first, **checklist)
    scope = "" if outcome == "refused" else "Subscriber name and address"
    services.decide(demand, actor=first, outcome=outcome, reason="Valid order", disclosed_scope=scope)
    return services.approve_decision(demand, actor=second)


def _disclose(demand, actor, **duty):
    return services.disclose(
        demand,
        actor=actor,
        content=b"name,address\nAnn,1 High St\n",
        filename="answer.csv",
        sent_to="disclosure.unit@met.police.example",
        **({"duty": "none"} | duty),
    )


def test_recording_a_demand_needs_the_permission_and_can_place_a_hold(customer, officers):
    with pytest.raises(PermissionDenied):
        _record(customer, staff_with("request_storage_access"))

    demand = _record(customer, officers[0])

    hold = LegalHold.objects.get()
    assert hold.customer == customer and f"#{demand.pk}" in hold.reason
    assert list(demand.holds.all()) == [hold]
    assert is_held(ServiceFactory(customer=customer))


def test_no_disclosure_before_the_checklist_and_a_second_approval(customer, officers, provider):
    first, second = officers
    demand = _record(customer, first)

    with pytest.raises(ValidationError, match="checklist"):
        _disclose(demand, first)
    with pytest.raises(ValidationError, match="independently"):
        services.sign_off_verification(demand, actor=first, **{**CHECKLIST, "authenticity_checked": False})
    services.sign_off_verification(demand, actor=first, **CHECKLIST)
    with pytest.raises(ValidationError, match="checklist"):
        _disclose(demand, first)
    services.decide(demand, actor=first, outcome="partly", reason="Only January", disclosed_scope="Name only")
    with pytest.raises(ValidationError, match="checklist"):
        _disclose(demand, first)
    with pytest.raises(ValidationError, match="second person"):
        services.approve_decision(demand, actor=first)

    services.approve_decision(demand, actor=second)
    disclosure = _disclose(demand, second)

    assert disclosure.package_sha256 == hashlib.sha256(b"name,address\nAnn,1 High St\n").hexdigest()
    assert disclosure.entry.artefact_sha256 == disclosure.package_sha256
    assert disclosure.entry.recipient_kind == "authority"
    assert "PO/2026/0042" in disclosure.entry.legal_basis
    with pytest.raises(ValidationError):
        _disclose(demand, second)  # packaged once
    assert DisclosureEntry.objects.count() == 1


def test_a_voluntary_request_needs_a_necessity_assessment(customer, officers):
    demand = _record(customer, officers[0], instrument=Instrument.DPA_SCHEDULE_2)

    with pytest.raises(ValidationError, match="necessary and proportionate"):
        services.sign_off_verification(demand, actor=officers[0], **CHECKLIST)


def test_a_refusal_closes_the_demand_and_discloses_nothing(customer, officers):
    demand = _approved(customer, *officers, outcome="refused")

    assert demand.status == LawfulDemand.Status.REFUSED
    with pytest.raises(ValidationError):
        _disclose(demand, officers[1])


def test_without_a_duty_the_customer_is_told_at_once(customer, officers, provider):
    billing = MembershipFactory(customer=customer, role="billing").user
    demand = _approved(customer, *officers)

    disclosure = _disclose(demand, officers[1])

    mail = Message.objects.get(kind="legal", customer=customer)
    assert billing.email in mail.to_addresses
    assert "Metropolitan Police Service" in mail.body_text and "PO/2026/0042" in mail.body_text
    assert "Subscriber name and address" in mail.body_text
    assert DisclosureEntry.objects.visible_to_customer(customer).get() == disclosure.entry


def test_no_email_while_a_duty_applies_and_both_appear_on_the_day_it_ends(customer, officers, provider, owner):
    demand = _approved(customer, *officers)
    ends_on = timezone.localdate() + dt.timedelta(days=10)
    disclosure = _disclose(demand, officers[1], duty="until", duty_ends_on=ends_on, duty_basis="Order para 4")
    client = Client()
    client.force_login(owner)

    with pytest.raises(services.DutyInForce):
        services.notify_customers(disclosure, actor=System("tests"))
    with time_machine.travel(timezone.make_aware(dt.datetime.combine(ends_on - dt.timedelta(days=1), dt.time(7, 30)))):
        assert tasks.tell_customers_of_ended_duties.delay().get() == 0
        assert "Metropolitan" not in client.get(reverse("privacy:disclosures")).content.decode()
    assert not Message.objects.filter(kind="legal").exists()

    with time_machine.travel(timezone.make_aware(dt.datetime.combine(ends_on, dt.time(7, 30)))):
        assert tasks.tell_customers_of_ended_duties.delay().get() == 1
        assert tasks.tell_customers_of_ended_duties.delay().get() == 0  # once
        assert "Metropolitan Police Service" in client.get(reverse("privacy:disclosures")).content.decode()
    mail = Message.objects.get(kind="legal")
    assert "a legal duty not to (Order para 4)" in mail.body_text


def test_an_ipa_demand_is_never_told_without_the_authoritys_permission(customer, owner, officers, provider):
    demand = _approved(customer, *officers, instrument=Instrument.IPA_COMMUNICATIONS_DATA)

    with pytest.raises(ValidationError, match="Investigatory Powers Act"):
        _disclose(demand, officers[1])
    disclosure = _disclose(demand, officers[1], duty="indefinite", duty_basis="IPA 2016 s.82")
    assert tasks.tell_customers_of_ended_duties.delay().get() == 0
    with pytest.raises(services.DutyInForce):
        services.notify_customers(disclosure, actor=System("tests"))
    assert not Message.objects.filter(kind="legal").exists()

    services.lift_duty(disclosure, actor=officers[0], evidence="Authority's letter of 3 May permitting notice")

    assert Message.objects.filter(kind="legal", customer=customer).count() == 1
    assert DisclosureEntry.objects.visible_to_customer(customer).get() == disclosure.entry


def test_staff_are_reminded_of_withheld_disclosures_at_the_interval(customer, officers, provider, settings):
    settings.PORTAL_WITHHELD_REVIEW_DAYS = 30
    demand = _approved(customer, *officers, instrument=Instrument.IPA_COMMUNICATIONS_DATA)
    disclosure = _disclose(demand, officers[1], duty="indefinite", duty_basis="IPA 2016 s.82")
    sent = disclosure.sent_at

    with time_machine.travel(sent + dt.timedelta(days=29)):
        assert tasks.send_withheld_review_reminders.delay().get() == 0
    with time_machine.travel(sent + dt.timedelta(days=31)):
        assert tasks.send_withheld_review_reminders.delay().get() == 1
        reminder = Message.objects.get(template="lawful_review_reminder")
        assert provider.privacy_email in reminder.to_addresses and "PO/2026/0042" in reminder.body_text
        services.mark_reviewed(disclosure, actor=officers[0])
        assert services.send_review_reminders() == 0


def test_the_demand_goes_through_its_steps_in_the_admin(customer, officers, provider):
    first, second = officers
    client = Client()
    client.force_login(first)
    response = client.post(
        reverse("admin:privacy_lawfuldemand_add"),
        {
            "authority": "National Crime Agency",
            "officer_name": "Officer Lee",
            "officer_contact": "lee@nca.example",
            "channel": "email",
            "instrument": "court_order",
            "instrument_reference": "CO-77",
            "instrument_date": "2026-02-01",
            "received_at_0": "2026-02-02",
            "received_at_1": "10:00:00",
            "customers": [customer.pk],
            "data_requested": "Billing records",
            "categories": ["financial"],
            "place_hold": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    demand = LawfulDemand.objects.get()
    step = reverse("admin:privacy_lawfuldemand_step", args=[demand.pk])

    client.post(step, {"step": "verify", **{k: ("on" if v is True else v) for k, v in CHECKLIST.items()}})
    client.post(step, {"step": "decide", "outcome": "complied", "reason": "Valid", "disclosed_scope": "Invoices"})
    client.post(step, {"step": "approve"})  # the same person: refused
    demand.refresh_from_db()
    assert demand.status == LawfulDemand.Status.DECIDED

    other = Client()
    other.force_login(second)
    other.post(step, {"step": "approve"})
    other.post(
        step,
        {
            "step": "disclose",
            "package": SimpleUploadedFile("invoices.zip", b"PK..."),
            "sent_to": "disclosures@nca.example",
            "duty": "indefinite",
            "duty_basis": "Order para 7",
        },
    )
    disclosure = LawfulDisclosure.objects.get()
    assert disclosure.sent_by == second and disclosure.entry.withheld
    page = other.get(step).content.decode()
    assert "in force, the customer may not be told" in page


def test_the_transparency_report_counts_by_instrument_and_outcome(customer, officers, client):
    first, second = officers
    in_2025 = dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC)
    _approved(customer, first, second, received_at=in_2025, place_hold=False)
    _approved(customer, first, second, received_at=in_2025, place_hold=False, outcome="partly")
    _approved(customer, first, second, instrument=Instrument.DPA_SCHEDULE_2, received_at=in_2025, outcome="refused")
    _record(customer, first, received_at=in_2025)  # not decided: not counted
    _approved(customer, first, second, received_at=dt.datetime(2024, 6, 1, 12, tzinfo=dt.UTC))

    with pytest.raises(PermissionDenied):
        services.publish_transparency_report(2025, actor=first)
    publisher = staff_with("publish_transparency_report")
    report = services.publish_transparency_report(2025, actor=publisher)

    assert report.counts == {
        "pace_production_order": {"complied": 1, "partly": 1, "refused": 0},
        "dpa_schedule_2": {"complied": 0, "partly": 0, "refused": 1},
    }
    page = client.get(reverse("transparency:year", args=[2025])).content.decode()
    assert "Production order under PACE 1984 Schedule 1" in page
    assert customer.registered_name not in page and "Metropolitan" not in page
    assert client.get(reverse("transparency:latest")).status_code == 200
    assert client.get(reverse("transparency:year", args=[2024])).status_code == 404
    with pytest.raises(ValidationError, match="not over yet"):
        services.publish_transparency_report(timezone.localdate().year, actor=publisher)
    assert TransparencyReport.objects.count() == 1


def test_every_step_is_audited_without_naming_the_customer(customer, officers, provider):
    demand = _approved(customer, *officers, instrument=Instrument.IPA_COMMUNICATIONS_DATA)
    _disclose(demand, officers[1], duty="indefinite", duty_basis="IPA 2016 s.82")

    events = AuditEvent.objects.about(demand).order_by("pk")
    assert [e.action for e in events] == [
        "lawful_demand.recorded",
        "lawful_demand.verified",
        "lawful_demand.decided",
        "lawful_demand.approved",
        "lawful_demand.disclosed",
    ]
    assert events[3].actor == officers[1]
    # Nothing of the register reaches the customer's export or Activity page.
    assert not AuditEvent.objects.filter(customer=customer, action__startswith="lawful").exists()
