"""Mail to the abuse address reaches the abuse desk through the inbound archive."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.correspondence import inbound
from accounts.correspondence.models import Message
from privacy.abuse import intake
from privacy.abuse.models import AbuseCase, AbuseReport
from tests.privacy.abuse import samples


@pytest.fixture(autouse=True)
def _after_the_events(monkeypatch):
    """The samples describe events on 3 March 2026; the reports arrive the day after."""
    now = dt.datetime(2026, 3, 4, 12, tzinfo=dt.UTC)
    monkeypatch.setattr(timezone, "now", lambda: now)


@pytest.mark.django_db
def test_a_xarf_report_mailed_to_the_abuse_address_opens_a_case(hosted):
    message = inbound.receive(samples.xarf_email(samples.PER_CATEGORY["messaging"]()))

    [report] = AbuseReport.objects.all()
    assert report.message == message and report.status == AbuseReport.Status.MATCHED
    assert report.case.service == hosted
    message.refresh_from_db()
    assert message.kind == "abuse"


@pytest.mark.django_db
def test_arf_and_x_arf_reports_by_mail(hosted):
    inbound.receive(samples.arf_email())
    inbound.receive(samples.xarf_v3_email())

    assert sorted(AbuseReport.objects.values_list("format", flat=True)) == ["arf", "xarf3"]
    assert set(AbuseCase.objects.values_list("type", flat=True)) == {"spam", "login_attack"}


@pytest.mark.django_db
def test_the_same_email_delivered_twice_files_its_report_once(hosted):
    raw = samples.arf_email()

    inbound.receive(raw)
    inbound.receive(raw)

    assert AbuseReport.objects.count() == 1


@pytest.mark.django_db
def test_the_same_report_in_two_emails_is_a_duplicate(hosted):
    inbound.receive(samples.arf_email(message_id="same@fbl.mailbox.example"))
    inbound.receive(
        samples.arf_email(message_id="same@fbl.mailbox.example").replace(b"Date: Tue", b"X-Relay: 2\r\nDate: Tue")
    )

    assert sorted(AbuseReport.objects.values_list("status", flat=True)) == ["duplicate", "matched"]


@pytest.mark.django_db
def test_mail_to_the_abuse_address_from_a_customers_contact_still_goes_to_the_desk(hosted):
    raw = samples.text_email(
        "Our own server 198.51.100.25 was hacked at 2026-03-03 10:00Z", sender="owner@customer.example"
    )

    message = inbound.receive(raw)

    assert message.customer == hosted.customer
    assert AbuseReport.objects.get().message == message


@pytest.mark.django_db
def test_an_unreadable_report_is_kept_and_queued_not_dropped(hosted):
    message = inbound.receive(samples.xarf_email({}).replace(b"{}", b'{"xarf_version": "4.0.0", broken'))

    [report] = AbuseReport.objects.all()
    assert report.status == AbuseReport.Status.MALFORMED
    assert "not valid JSON" in report.problem
    assert report.message == message and message.raw  # the raw message is kept by the archive


@pytest.mark.django_db
def test_when_the_desk_fails_the_message_stays_in_quarantine(hosted, monkeypatch):
    def broken(message):
        raise RuntimeError("disk full")

    monkeypatch.setattr(intake, "receive_message", broken)

    message = inbound.receive(samples.text_email("spam from 198.51.100.25"))

    assert message.pk and message.status == Message.Status.QUARANTINED
    assert AbuseReport.objects.count() == 0


@pytest.mark.django_db
def test_the_pipe_command_files_abuse_reports(hosted, monkeypatch, capsys):
    import io
    import sys

    raw = samples.xarf_email(samples.PER_CATEGORY["connection"]())
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))

    call_command("receive_email")

    assert AbuseReport.objects.get().case.type == "login_attack"


@pytest.mark.django_db
def test_no_automatic_reply_to_an_unverified_sender(hosted, settings):
    settings.PORTAL_MAIL_AUTHSERV_ID = "mx.hosting.example"
    # A forger can write any header; only our own server's counts.
    raw = b"Authentication-Results: mx.forger.example; dmarc=pass header.from=home.example\r\n" + samples.text_email(
        "Attack from 198.51.100.25 at 2026-03-03 10:00Z"
    )

    message = inbound.receive(raw)

    assert message.sender_verified is False
    assert AbuseReport.objects.get().sender_verified is False

    assert not Message.objects.filter(direction=Message.Direction.OUTBOUND).exists()


def _verified_by_our_server(raw: bytes, domain: str) -> bytes:
    return f"Authentication-Results: mx.hosting.example; dmarc=pass header.from={domain}\r\n".encode() + raw


@pytest.mark.django_db
def test_a_verified_person_is_told_their_report_arrived_machines_are_not(hosted, settings):
    settings.PORTAL_MAIL_AUTHSERV_ID = "mx.hosting.example"

    person = inbound.receive(
        _verified_by_our_server(samples.text_email("Attack from 198.51.100.25 at 2026-03-03 10:00Z"), "home.example")
    )
    inbound.receive(_verified_by_our_server(samples.arf_email(), "mailbox.example"))

    assert person.sender_verified is True
    assert AbuseReport.objects.filter(sender_verified=True).count() == 2

    [ack] = Message.objects.filter(direction=Message.Direction.OUTBOUND)
    assert ack.to_addresses == ["jo.bloggs@home.example"] and ack.kind == "abuse"
    assert ack.from_address == "abuse@hosting.example"
