from __future__ import annotations

import base64
import io
import mailbox
import subprocess
import sys

import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from accounts import roles
from accounts.correspondence import gateway, inbound
from accounts.correspondence.models import MailKind, Message
from tests.accounts.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def contact(customer, provider):
    return MembershipFactory(customer=customer, role=roles.Role.OWNER, user=UserFactory(email="jo@customer.example"))


def raw(*lines: str) -> bytes:
    return "\r\n".join(lines).encode()


PLAIN = raw(
    "From: Jo Bloggs <Jo@Customer.Example>",
    "To: support@hosting.example",
    "Subject: Server down?",
    "Message-ID: <abc123@customer.example>",
    "Date: Sun, 22 Nov 2026 09:00:00 +0000",
    "",
    "Is web-01 down?",
)

# Messages shaped like those real mail clients and broken scripts send.
CORPUS = {
    "multipart_alternative": raw(
        "From: jo@customer.example",
        "To: billing@hosting.example",
        "Subject: =?utf-8?q?Factura_=E2=82=AC?=",
        "MIME-Version: 1.0",
        'Content-Type: multipart/alternative; boundary="b1"',
        "",
        "--b1",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: quoted-printable",
        "",
        "Caf=C3=A9 invoice",
        "--b1",
        "Content-Type: text/html; charset=utf-8",
        "",
        '<p onclick="x()">Caf\u00e9 <script>alert(1)</script><b>bold</b><img src=http://tracker/x.png></p>',
        "--b1--",
    ),
    "attachment_base64": raw(
        "From: jo@customer.example",
        "To: support@hosting.example",
        "Subject: logs",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="b2"',
        "",
        "--b2",
        "Content-Type: text/plain",
        "",
        "See logs.",
        "--b2",
        "Content-Type: application/gzip",
        'Content-Disposition: attachment; filename="logs.tar.gz"',
        "Content-Transfer-Encoding: base64",
        "",
        base64.b64encode(b"\x1f\x8b binary").decode(),
        "--b2--",
    ),
    "latin1_unknown_charset": raw(
        "From: jo@customer.example",
        "Subject: charset",
        "Content-Type: text/plain; charset=x-unknown-8bit",
        "",
        "caf\xe9",
    ).replace(b"caf\xc3\xa9", b"caf\xe9"),
    "malformed_headers": raw(
        "From: <<<jo@customer.example",
        "To: ,,,@@",
        "Subject: =?broken?Q?=ZZ?=",
        "Message-ID: no-angle-brackets",
        "Content-Type: multipart/mixed; boundary=",
        "",
        "body without parts",
    ),
    "no_sender": raw("To: support@hosting.example", "Subject: who am I", "", "anonymous"),
    "bare_lf_newlines": b"From: jo@customer.example\nSubject: unix\n\nline one\nline two\n",
    "huge_body": raw("From: jo@customer.example", "Subject: big", "", "x" * 3_000_000),
    "not_an_email": b"\x00\x01\x02 this is not an email at all \xff\xfe",
    "empty": b"",
    "nested_message_rfc822": raw(
        "From: jo@customer.example",
        "Subject: fwd",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="o"',
        "",
        "--o",
        "Content-Type: text/plain",
        "",
        "forwarding",
        "--o",
        "Content-Type: message/rfc822",
        "",
        "From: someone@else.example",
        "Subject: inner",
        "",
        "inner body",
        "--o--",
    ),
}


def test_plain_message_from_a_contact_is_matched_to_their_customer(contact):
    message = inbound.receive(PLAIN)
    assert message.customer == contact.customer
    assert message.status == Message.Status.RECEIVED
    assert message.from_address == "jo@customer.example"
    assert message.body_text.strip() == "Is web-01 down?"
    assert message.message_id == "abc123@customer.example"
    assert message.raw.read() == PLAIN


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_every_corpus_message_is_stored_without_crashing(name, contact):
    message = inbound.receive(CORPUS[name])
    assert message.pk
    assert message.raw.read() == CORPUS[name]
    assert message.status in {Message.Status.RECEIVED, Message.Status.QUARANTINED}
    if message.status == Message.Status.QUARANTINED:
        assert message.parse_error  # staff are told why


def test_html_is_sanitised_before_display_and_kind_follows_the_address(contact):
    message = inbound.receive(CORPUS["multipart_alternative"])
    assert message.subject == "Factura €"
    assert message.kind == MailKind.BILLING
    assert "<script>" not in message.body_html and "onclick" not in message.body_html
    assert "tracker" not in message.body_html
    assert "<b>bold</b>" in message.body_html
    assert message.body_text.strip() == "Café invoice"


def test_attachments_are_stored_with_hashes(contact):
    message = inbound.receive(CORPUS["attachment_base64"])
    attachment = message.attachments.get()
    assert attachment.filename == "logs.tar.gz"
    assert attachment.file.read() == b"\x1f\x8b binary"


def test_oversized_attachment_is_kept_only_in_the_raw_message(contact, settings):
    settings.PORTAL_INBOUND_MAX_ATTACHMENT_BYTES = 3
    message = inbound.receive(CORPUS["attachment_base64"])
    assert not message.attachments.exists()
    assert "over the size limit" in message.parse_error
    assert message.status == Message.Status.RECEIVED


def test_huge_body_is_truncated_for_display_but_kept_raw(contact):
    message = inbound.receive(CORPUS["huge_body"])
    assert len(message.body_text) == inbound.MAX_BODY_CHARS
    assert len(message.raw.read()) > 3_000_000


def test_unparseable_message_is_quarantined_raw_with_the_error(contact):
    message = inbound.receive(CORPUS["empty"])
    assert message.status == Message.Status.QUARANTINED
    assert message.parse_error.startswith("Could not read this message")
    assert message.customer is None


def test_unknown_sender_waits_in_quarantine(provider):
    message = inbound.receive(PLAIN)
    assert message.status == Message.Status.QUARANTINED
    assert "not the address of any contact" in message.parse_error


def test_unverified_address_does_not_match(customer, provider):
    MembershipFactory(customer=customer, user=UserFactory(email="jo@customer.example", verified=False))
    assert inbound.receive(PLAIN).status == Message.Status.QUARANTINED


def test_sender_in_two_customers_is_quarantined_for_staff_to_choose(contact):
    MembershipFactory(user=contact.user, role=roles.Role.TECHNICAL)
    message = inbound.receive(PLAIN)
    assert message.status == Message.Status.QUARANTINED
    assert "contact of 2 customers" in message.parse_error


def test_verified_reply_to_our_message_joins_its_thread_even_from_another_address(contact, settings):
    settings.PORTAL_MAIL_AUTHSERV_ID = "mx.provider.example"
    ours = gateway.send_mail(
        kind=MailKind.ABUSE,
        template="staff_reply",
        customer=contact.customer,
        context={"subject": "Abuse report", "body": "Please check"},
        idempotency_key="a1",
    )
    answer = raw(
        "Authentication-Results: mx.provider.example; dmarc=pass header.from=elsewhere.example",
        "From: someone-new@elsewhere.example",
        "Subject: Re: Abuse report",
        f"In-Reply-To: <{ours.message_id}>",
        f"References: <{ours.message_id}>",
        "",
        "Fixed it.",
    )
    message = inbound.receive(answer)
    assert message.customer == contact.customer
    assert message.in_reply_to == ours and message.thread == ours
    assert message.kind == MailKind.ABUSE and message.sender_verified


def test_same_bytes_delivered_twice_are_stored_once(contact):
    first = inbound.receive(PLAIN)
    again = inbound.receive(PLAIN)
    assert first.pk == again.pk
    assert Message.objects.filter(direction=Message.Direction.INBOUND).count() == 1


def test_staff_assign_and_reject_quarantined_messages(customer, provider):
    staff = UserFactory(is_staff=True)
    held = inbound.receive(PLAIN)
    inbound.assign(held, customer, actor=staff)
    held.refresh_from_db()
    assert held.customer == customer and held.status == Message.Status.RECEIVED and held.triaged_by == staff
    spam = inbound.receive(raw("From: spam@spam.example", "Subject: win", "", "buy"))
    inbound.reject(spam, actor=staff)
    assert Message.objects.get(pk=spam.pk).status == Message.Status.REJECTED  # rejected, still kept


@hsettings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=2000) | st.text(max_size=2000).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_arbitrary_bytes_are_always_stored_never_crash(provider, data):
    message = inbound.receive(data)
    assert message.pk and message.raw_sha256


def test_receive_email_command_reads_standard_input(contact, tmp_path, settings):
    out = io.StringIO()
    stdin = io.TextIOWrapper(io.BytesIO(PLAIN))
    old, sys.stdin = sys.stdin, stdin
    try:
        call_command("receive_email", stdout=out)
    finally:
        sys.stdin = old
    assert "Received" in out.getvalue()
    assert Message.objects.get().customer == contact.customer


def test_fetch_email_stores_a_maildir_and_empties_it(contact, tmp_path):
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    for data in (PLAIN, CORPUS["attachment_base64"], CORPUS["not_an_email"]):
        box.add(data)
    out = io.StringIO()
    call_command("fetch_email", str(tmp_path / "Maildir"), stdout=out)
    assert "Stored 3 message(s)" in out.getvalue()
    assert len(box) == 0
    assert Message.objects.count() == 3
    call_command("fetch_email", str(tmp_path / "Maildir"), stdout=out)  # a rerun stores nothing twice
    assert Message.objects.count() == 3


def test_receive_email_as_an_mta_pipe(tmp_path):
    """The real command as Postfix runs it, on its own database: exit 0 once stored."""
    env = {"PATH": "/usr/bin:/bin", "PORTAL_VAR_DIR": str(tmp_path), "HOME": str(tmp_path)}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], check=True, env=env, timeout=120)
    result = subprocess.run(
        [sys.executable, "manage.py", "receive_email"], input=PLAIN, capture_output=True, timeout=60, env=env
    )
    assert result.returncode == 0, result.stderr
    assert b"(Quarantined) for quarantine" in result.stdout
    assert list((tmp_path / "private" / "mail" / "raw").rglob("*.eml"))


# Deduplication is on identical bytes only. A different message that reuses a stored
# message's Message-ID (a relay adding a header, a broken client, a forger) is its own
# message: stored, flagged, threaded by its other headers, and the first one untouched.

REUSED_ID = raw(
    "From: Jo Bloggs <jo@customer.example>",
    "To: support@hosting.example",
    "Subject: Something else entirely",
    "Message-ID: <abc123@customer.example>",
    "",
    "A different message with the same Message-ID.",
)


def _receive_email(data: bytes) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    old, sys.stdin = sys.stdin, io.TextIOWrapper(io.BytesIO(data))
    try:
        call_command("receive_email", stdout=out, stderr=err)
        code = 0
    except SystemExit as exit:
        code = exit.code
    finally:
        sys.stdin = old
    return code, out.getvalue(), err.getvalue()


def _raw_files(settings) -> set[str]:
    root = settings.PRIVATE_STORAGE_DIR
    return {str(path.relative_to(root)) for path in (root / "mail" / "raw").rglob("*.eml")}


def test_receive_email_stores_a_different_message_that_reuses_a_message_id(contact, settings):
    assert _receive_email(PLAIN)[0] == 0
    code, out, _ = _receive_email(REUSED_ID)
    assert code == 0
    first, second = Message.objects.filter(direction=Message.Direction.INBOUND).order_by("pk")
    assert f"Stored message {second.pk}" in out
    assert first.message_id == "abc123@customer.example" and first.reused_message_id == ""
    assert first.raw.read() == PLAIN and first.subject == "Server down?"
    assert second.raw.read() == REUSED_ID and second.subject == "Something else entirely"
    assert second.reused_message_id == "abc123@customer.example"
    assert second.message_id != first.message_id
    assert "reuses the Message-ID <abc123@customer.example>" in second.parse_error
    # Threaded by other evidence (here the sender's address), not by the reused identifier.
    assert second.customer == contact.customer and second.status == Message.Status.RECEIVED
    assert second.thread is None and second.in_reply_to is None
    assert _raw_files(settings) == {first.raw.name, second.raw.name}  # every raw file is referenced


def test_a_relayed_copy_with_an_extra_header_is_its_own_flagged_message(contact):
    first = inbound.receive(PLAIN)
    relayed = inbound.receive(b"Received: from relay\r\n" + PLAIN)
    assert relayed.pk != first.pk
    assert relayed.reused_message_id == first.message_id


def test_fetch_email_stores_messages_sharing_a_message_id_and_empties_the_maildir(contact, tmp_path, settings):
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    for data in (PLAIN, REUSED_ID, PLAIN):  # the third is the first again, byte for byte
        box.add(data)
    out = io.StringIO()
    call_command("fetch_email", str(tmp_path / "Maildir"), stdout=out)
    assert "Stored 3 message(s); 0 left" in out.getvalue()
    assert len(box) == 0
    stored = Message.objects.filter(direction=Message.Direction.INBOUND)
    assert stored.count() == 2
    assert {m.raw.read() for m in stored} == {PLAIN, REUSED_ID}
    assert stored.exclude(reused_message_id="").count() == 1
    assert _raw_files(settings) == {m.raw.name for m in stored}


def test_two_messages_with_one_message_id_arriving_at_once_are_both_stored(contact, monkeypatch):
    first = inbound.receive(PLAIN)
    # The second arrival looked before the first was committed: it saw the Message-ID free.
    real = inbound.message_id_taken
    calls = iter([False])
    monkeypatch.setattr(inbound, "message_id_taken", lambda mid: next(calls, None) or real(mid))
    second = inbound.receive(REUSED_ID)
    assert second.pk != first.pk
    assert second.reused_message_id == "abc123@customer.example"
    assert "reuses the Message-ID" in second.parse_error
    assert second.raw.read() == REUSED_ID


# What PostgreSQL cannot store (NUL characters in text, values longer than a column)
# is made storable with a note and quarantined for staff; the raw bytes stay exact.
# These run on whichever database the suite runs on: CI runs them on PostgreSQL.

LONG_FROM = "x" * 400 + "@customer.example"
UNSTORABLE = {
    "nul_in_body": raw("From: jo@customer.example", "Subject: nul", "Message-ID: <n1@c.example>", "", "a\x00b"),
    "nul_in_subject": raw("From: jo@customer.example", "Subject: a\x00b", "Message-ID: <n2@c.example>", "", "x"),
    "nul_in_a_header": raw("From: jo@customer.example", "X-Mailer: a\x00b", "Message-ID: <n3@c.example>", "", "x"),
    "nul_in_attachment_filename": raw(
        "From: jo@customer.example",
        "Message-ID: <n4@c.example>",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="b"',
        "",
        "--b",
        "Content-Type: text/plain",
        "",
        "see attached",
        "--b",
        "Content-Type: application/octet-stream",
        'Content-Disposition: attachment; filename="a\x00b.txt"',
        "",
        "data",
        "--b--",
    ),
    "from_longer_than_its_column": raw(f"From: {LONG_FROM}", "Message-ID: <n5@c.example>", "", "x"),
}


def _stored_fields(message: Message) -> str:
    attachments = [(a.filename, a.content_type) for a in message.attachments.all()]
    return repr((message.subject, message.body_text, message.from_address, message.headers, attachments))


@pytest.mark.postgres
@pytest.mark.parametrize("name", sorted(UNSTORABLE))
def test_receive_email_quarantines_what_the_database_cannot_hold(name, contact):
    code, _out, err = _receive_email(UNSTORABLE[name])
    assert code == 0, err  # never a temporary failure the MTA retries until it bounces
    message = Message.objects.get(direction=Message.Direction.INBOUND)
    assert message.status == Message.Status.QUARANTINED
    assert "Quarantined for staff to check" in message.parse_error
    assert message.raw.read() == UNSTORABLE[name]  # the original, exactly
    assert "\x00" not in _stored_fields(message)
    assert len(message.from_address) <= Message._meta.get_field("from_address").max_length
    if name == "from_longer_than_its_column":
        assert "Cut to fit: the From address" in message.parse_error
        assert message.from_address == LONG_FROM[:320]
    else:
        assert "NUL characters" in message.parse_error
        assert "\ufffd" in _stored_fields(message)


@pytest.mark.postgres
def test_fetch_email_stores_unstorable_messages_and_is_done_with_them(contact, tmp_path):
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    for data in UNSTORABLE.values():
        box.add(data)
    out = io.StringIO()
    call_command("fetch_email", str(tmp_path / "Maildir"), stdout=out)
    assert f"Stored {len(UNSTORABLE)} message(s); 0 left" in out.getvalue()
    assert len(box) == 0
    assert Message.objects.filter(status=Message.Status.QUARANTINED).count() == len(UNSTORABLE)


@pytest.mark.postgres
def test_staff_assign_a_cleaned_message_to_its_customer(contact, customer):
    message = inbound.receive(UNSTORABLE["nul_in_body"])
    assert message.customer == contact.customer  # matched, held for a look
    inbound.assign(message, customer, actor=UserFactory(is_staff=True))
    assert Message.objects.get(pk=message.pk).status == Message.Status.RECEIVED


def test_a_failure_after_the_raw_bytes_are_safe_ends_in_quarantine_not_a_retry(contact, monkeypatch):
    def broken(message, attachments):
        if attachments:
            raise RuntimeError("the attachment table refused a value")

    monkeypatch.setattr(inbound, "store_attachments", broken)
    code, _out, err = _receive_email(CORPUS["attachment_base64"])
    assert code == 0, err
    message = Message.objects.get(direction=Message.Direction.INBOUND)
    assert message.status == Message.Status.QUARANTINED
    assert "RuntimeError: the attachment table refused a value" in message.parse_error
    assert message.raw.read() == CORPUS["attachment_base64"]
    assert not message.attachments.exists()


@pytest.mark.postgres
def test_a_database_error_while_reading_ends_in_quarantine_inside_a_transaction_too(contact, monkeypatch):
    """On PostgreSQL a failed statement aborts the transaction it is in: the quarantine
    still gets stored, in a caller's transaction as much as in the command's."""
    from django.db import connection, transaction

    def broken(to_addresses):
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")

    monkeypatch.setattr(inbound, "kind_for", broken)
    with transaction.atomic():
        message = inbound.receive(PLAIN)
        assert Message.objects.get(pk=message.pk).status == Message.Status.QUARANTINED
    assert "no_such_table" in message.parse_error
    assert message.raw.read() == PLAIN


def test_receive_email_asks_the_mta_to_retry_only_when_nothing_could_be_stored(contact, monkeypatch):
    from django.db import OperationalError

    def down(**fields):
        raise OperationalError("the database is down")

    monkeypatch.setattr(Message.objects, "create", down)
    code, _, err = _receive_email(PLAIN)
    assert code == 75
    assert "the database is down" in err
