from __future__ import annotations

import datetime as dt
import email
import email.policy
import hashlib
import pathlib

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts import roles
from accounts.correspondence import delivery, gateway
from accounts.correspondence.models import MailKind, Message
from accounts.tasks import requeue_due_messages
from tests.accounts.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def contacts(customer, provider):
    make = lambda role, email: MembershipFactory(customer=customer, role=role, user=UserFactory(email=email))  # noqa: E731
    return {
        "owner": make(roles.Role.OWNER, "owner@customer.example"),
        "billing": make(roles.Role.BILLING, "accounts@customer.example"),
        "technical": make(roles.Role.TECHNICAL, "ops@customer.example"),
    }


def reply(customer, key="k1", **extra):
    return gateway.send_mail(
        kind=extra.pop("kind", MailKind.BILLING),
        template="staff_reply",
        context={"subject": "Your invoice", "body": "Your invoice is attached."},
        customer=customer,
        idempotency_key=key,
        **extra,
    )


def parsed(envelope):
    return email.message_from_bytes(envelope.content, policy=email.policy.default)


@pytest.mark.parametrize("kind", ["marketing", "newsletter", ""])
def test_marketing_and_unknown_kinds_are_refused(customer, contacts, kind):
    with pytest.raises(gateway.UnknownMailKind, match="not a kind of mail we send"):
        reply(customer, kind=kind)
    assert not Message.objects.exists()


def test_billing_mail_goes_to_billing_contacts_and_owners_only(customer, contacts, smtp_server):
    message = reply(customer)
    assert message.to_addresses == ["accounts@customer.example", "owner@customer.example"]
    assert [sorted(e.rcpt_tos) for e in smtp_server.received] == [message.to_addresses]


def test_abuse_mail_goes_to_technical_contacts_and_owners(customer, contacts, smtp_server):
    message = reply(customer, kind=MailKind.ABUSE)
    assert message.to_addresses == ["ops@customer.example", "owner@customer.example"]
    assert message.from_address == "abuse@hosting.example"


def test_same_idempotency_key_stores_once_and_sends_once(customer, contacts, smtp_server):
    first = reply(customer, key="invoice-42")
    second = reply(customer, key="invoice-42")
    assert first.pk == second.pk
    assert Message.objects.count() == 1
    assert len(smtp_server.received) == 1
    assert Message.objects.get().status == Message.Status.SENT


def test_a_repeat_after_the_contacts_left_returns_the_stored_message(customer, contacts, smtp_server):
    """The repeat finds no recipients now, but the key was sent before: that message, no error."""
    first = reply(customer, key="invoice-43")
    customer.memberships.all().delete()
    assert reply(customer, key="invoice-43").pk == first.pk
    assert Message.objects.count() == 1 and len(smtp_server.received) == 1
    with pytest.raises(gateway.NoRecipients):
        reply(customer, key="invoice-44")  # a new message with nobody to receive it


def test_sent_mail_carries_disclosures_auto_submitted_and_our_message_id(customer, contacts, smtp_server):
    message = reply(customer)
    sent = parsed(smtp_server.received[0])
    assert sent["Auto-Submitted"] == "auto-generated"
    assert sent["Message-ID"] == f"<{message.message_id}>"
    text = sent.get_body(("plain",)).get_content()
    html = sent.get_body(("html",)).get_content()
    for body in (text, html, message.body_text, message.body_html):
        assert "Example Hosting Ltd is registered in England and Wales, company number 01234567" in body
        assert "VAT number GB980780684" in body
        assert "never send advertising" in body


@pytest.mark.parametrize(
    "template", sorted({p.name.split(".")[0] for p in pathlib.Path().glob("*/templates/mail/*.subject.txt")})
)
def test_every_mail_template_gets_the_trading_disclosures(customer, contacts, template):
    original = reply(customer, key=f"orig-{template}")
    message = gateway.send_mail(
        kind=MailKind.SERVICE,
        template=template,
        customer=customer,
        context={"original": original, "body": "Hello", "subject": "Hi"},
        idempotency_key=f"t-{template}",
    )
    assert "company number 01234567" in message.body_text
    assert "company number 01234567" in message.body_html
    assert message.subject


@pytest.mark.parametrize(
    ("app", "templates"),
    [
        ("accounts", {"acknowledgement", "footer", "invitation", "staff_reply"}),
        ("billing", {"invoice", "payment_request_cancelled"}),
        ("privacy", {"policy_change", "privacy_request_confirm", "privacy_request_reminder"}),
    ],
)
def test_each_app_keeps_the_mail_templates_it_sends(app, templates):
    kept = {p.name.split(".")[0] for p in pathlib.Path(app, "templates", "mail").glob("*.txt")}
    assert templates <= kept
    others = {p.name.split(".")[0] for p in pathlib.Path().glob("*/templates/mail/*.txt") if p.parts[0] != app}
    assert not templates & others, "a template name in two apps: only the first app's would be used"


def test_rolled_back_transaction_stores_and_sends_nothing(customer, contacts, smtp_server):
    with pytest.raises(RuntimeError), transaction.atomic():
        reply(customer)
        raise RuntimeError("the caller failed after asking for the email")
    assert not Message.objects.exists()
    assert smtp_server.received == []


def test_attachments_are_stored_privately_with_their_hash_and_sent(customer, contacts, smtp_server, settings):
    pdf = b"%PDF-1.7 pretend invoice"
    message = reply(customer, attachments=[gateway.Attachment("INV-1.pdf", pdf, "application/pdf")])
    stored = message.attachments.get()
    assert stored.sha256 == hashlib.sha256(pdf).hexdigest()
    assert stored.file.read() == pdf
    assert str(settings.PRIVATE_STORAGE_DIR) in stored.file.path
    sent_parts = list(parsed(smtp_server.received[0]).iter_attachments())
    assert [(p.get_filename(), p.get_content()) for p in sent_parts] == [("INV-1.pdf", pdf)]


def test_stored_messages_cannot_be_rewritten_or_deleted(customer, contacts):
    message = reply(customer)
    message.subject = "Something else"
    with pytest.raises(ValidationError, match="cannot be changed"):
        message.save()
    with pytest.raises(ValidationError):
        message.delete()
    assert Message.objects.get().subject == "Your invoice"


def test_smtp_4xx_is_retried_later_and_then_sent_once(customer, contacts, smtp_server):
    smtp_server.fail_next("451 4.3.0 Try again later")
    message = reply(customer)
    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED
    assert message.attempts == 1 and "451" in message.last_error
    assert message.next_attempt_at > timezone.now()
    assert requeue_due_messages() == 0  # not due yet
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now() - dt.timedelta(minutes=5))
    assert requeue_due_messages() == 1
    message.refresh_from_db()
    assert message.status == Message.Status.SENT and message.attempts == 2
    assert len(smtp_server.received) == 1


def test_smtp_5xx_fails_for_good_and_is_recorded(customer, contacts, smtp_server):
    smtp_server.fail_next("554 5.7.1 Rejected")
    message = reply(customer)
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert "554" in message.last_error
    assert requeue_due_messages() == 0
    assert smtp_server.received == []


def test_mail_server_down_is_transient(customer, contacts, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, False, 2
    message = reply(customer)
    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED and message.last_error


def test_gives_up_after_max_attempts(customer, contacts, smtp_server):
    smtp_server.fail_next(*["421 4.7.0 busy"] * delivery.MAX_ATTEMPTS)
    message = reply(customer)
    for _ in range(delivery.MAX_ATTEMPTS - 1):
        Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now() - dt.timedelta(hours=3))
        requeue_due_messages()
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED and message.attempts == delivery.MAX_ATTEMPTS


def test_broker_down_at_send_time_loses_nothing(customer, contacts, smtp_server, settings):
    from portal.celery import app

    app.conf.task_always_eager = False
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens there
    app.conf.broker_connection_retry = False
    app.conf.broker_connection_max_retries = 0
    app.conf.broker_transport_options = {"max_retries": 0}
    try:
        with transaction.atomic():
            message = reply(customer)
        # The caller's commit succeeded; the row waits in "queued".
        assert Message.objects.get(pk=message.pk).status == Message.Status.QUEUED
    finally:
        app.conf.task_always_eager = True
        app.conf.broker_url = ""
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now() - dt.timedelta(minutes=5))
    assert requeue_due_messages() == 1
    assert Message.objects.get(pk=message.pk).status == Message.Status.SENT
    assert len(smtp_server.received) == 1


def test_worker_dying_mid_send_neither_loses_nor_doubles(customer, contacts, smtp_server):
    """A worker claimed the message, then died before sending (or before recording the send)."""
    with transaction.atomic():
        message = reply(customer)
        # Simulate the dead worker's claim before the on-commit delivery runs.
        Message.objects.filter(pk=message.pk).update(status=Message.Status.SENDING, claimed_at=timezone.now())
    # The redelivered task finds the claim and does not send a second copy.
    assert delivery.deliver(message.pk).status == "skipped"
    assert smtp_server.received == []
    # After the sending timeout the sweep reclaims it and sends it once.
    Message.objects.filter(pk=message.pk).update(
        claimed_at=timezone.now() - Message.SENDING_TIMEOUT - dt.timedelta(minutes=5)
    )
    assert requeue_due_messages() == 1
    assert len(smtp_server.received) == 1
    assert Message.objects.get(pk=message.pk).status == Message.Status.SENT
    assert delivery.deliver(message.pk).status == "skipped"
    assert len(smtp_server.received) == 1


def test_customer_without_a_matching_contact_raises(customer, provider):
    MembershipFactory(customer=customer, role=roles.Role.TECHNICAL)
    with pytest.raises(gateway.NoRecipients):
        reply(customer)


def test_one_time_links_are_sent_but_never_kept_in_the_archive(customer, contacts, smtp_server):
    link = "https://portal.example/invitations/accept/s3cr3t-t0ken/"
    message = gateway.send_mail(
        kind=MailKind.SERVICE,
        template="staff_reply",
        customer=customer,
        context={"subject": "Join", "body": f"Accept here: {link}?a=1&b=2"},
        idempotency_key="secret-1",
        secrets=[f"{link}?a=1&b=2"],
    )
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert "s3cr3t" not in message.body_text + message.body_html + str(message.pending_secrets)
    assert "[one-time link 1: removed from our records once sent]" in message.body_text
    sent = parsed(smtp_server.received[0])
    assert f"{link}?a=1&b=2" in sent.get_body(("plain",)).get_content()
    assert "s3cr3t-t0ken" in sent.get_body(("html",)).get_content()


def test_invitation_mail_keeps_only_the_token_hash(customer, contacts, smtp_server):
    from accounts import services

    services.invite_contact(
        customer,
        email="new@customer.example",
        role=roles.Role.TECHNICAL,
        actor=contacts["owner"].user,
        link_base="https://p.example/",
    )
    stored = Message.objects.get(template="invitation")
    assert stored.to_addresses == ["new@customer.example"]
    assert "https://p.example/" not in stored.body_text
    assert "https://p.example/" in parsed(smtp_server.received[0]).get_body(("plain",)).get_content()


def test_allauth_password_reset_goes_through_the_gateway_with_the_link_masked(client, customer, contacts, smtp_server):
    from django.urls import reverse

    client.post(reverse("account_reset_password"), {"email": "ops@customer.example"})
    stored = Message.objects.get()
    assert stored.kind == MailKind.SECURITY
    assert stored.to_addresses == ["ops@customer.example"]
    assert stored.person == contacts["technical"].user
    assert "/accounts/password/reset/key/" not in stored.body_text
    assert "one-time link 1" in stored.body_text
    assert "company number 01234567" in stored.body_text
    delivered = parsed(smtp_server.received[0]).get_body(("plain",)).get_content()
    assert "/accounts/password/reset/key/" in delivered


def test_in_process_mode_retries_due_messages_with_a_send_once_a_minute(customer, contacts, smtp_server, monkeypatch):
    """Without a broker there is no beat: a send runs the sweep when EAGER_SWEEP_EVERY seconds
    have passed since the last one, as often as beat would, and not otherwise."""
    from accounts import tasks

    monkeypatch.setattr(tasks, "EAGER_SWEEP_EVERY", 1e9)  # longer than the test: the interval has not passed
    smtp_server.fail_next("451 4.3.0 Try again later")
    deferred = reply(customer, key="first")
    assert Message.objects.get(pk=deferred.pk).status == Message.Status.QUEUED
    Message.objects.filter(pk=deferred.pk).update(next_attempt_at=timezone.now() - dt.timedelta(minutes=5))
    reply(customer, key="second")  # due, but the sweep ran less than EAGER_SWEEP_EVERY ago
    assert Message.objects.get(pk=deferred.pk).status == Message.Status.QUEUED
    monkeypatch.setattr(tasks, "EAGER_SWEEP_EVERY", 0.0)  # now the interval has passed
    reply(customer, key="third")
    assert set(Message.objects.values_list("status", flat=True)) == {Message.Status.SENT}
    assert len(smtp_server.received) == 3


@pytest.mark.parametrize("policy", ["default", "SMTP"])
def test_emails_are_built_to_the_same_bytes_as_djangos_own(policy):
    import re

    from django.core.mail import EmailMultiAlternatives

    from accounts.correspondence.delivery import PortalEmail

    def build(cls):
        message = cls(
            subject="Invoice INV-2026-000001 from Exämple Hosting — a subject long enough to be folded over two lines",
            body="Amount due: £15.00\n",
            from_email="Exämple Billing <billing@hosting.example>",
            to=["Ann Ö <ann@customer.example>", "bob@customer.example"],
            headers={"Message-ID": "<1@portal.example>", "Date": "Sat, 05 Dec 2026 12:00:00 +0000"},
        )
        message.attach_alternative("<p>Amount due: £15.00</p>", "text/html")
        message.attach("INV-2026-000001.pdf", b"%PDF-1.7 \x00\xff" * 500, "application/pdf")
        raw = message.message(policy=getattr(email.policy, policy)).as_bytes()
        return re.sub(rb"={15}\d+==", b"BOUNDARY", raw)

    assert build(PortalEmail) == build(EmailMultiAlternatives)
    assert build(PortalEmail) == build(PortalEmail)  # and again, with the header classes already made


def test_the_smtp_bytes_are_djangos_own_written_in_fewer_steps():
    import re

    from django.core.mail import EmailMultiAlternatives

    from accounts.correspondence.delivery import PortalEmail

    def build(cls):
        message = cls(
            subject="Invoice INV-2026-000001 from Exämple Hosting — a subject long enough to be folded over two lines",
            body="Amount due: £15.00\r\nLine two\rline three\n\nand a last line without an end",
            from_email="Exämple Billing <billing@hosting.example>",
            to=["Ann Ö <ann@customer.example>", "bob@customer.example"],
            headers={"Message-ID": "<1@portal.example>", "Date": "Sat, 05 Dec 2026 12:00:00 +0000"},
        )
        message.attach_alternative("<p>Amount due: £15.00</p>\n" * 40, "text/html")
        message.attach("INV-2026-000001.pdf", bytes(range(256)) * 200, "application/pdf")
        message.attach("notes.txt", "From the start of a line\n" * 3, "text/plain")
        return message

    def same_boundaries(raw: bytes) -> bytes:
        for number, boundary in enumerate(dict.fromkeys(re.findall(rb'boundary="([^"]+)"', raw))):
            raw = raw.replace(boundary, b"BOUNDARY-%d" % number)
        return raw

    ours = build(PortalEmail).smtp_bytes()
    djangos = build(EmailMultiAlternatives).message(policy=email.policy.SMTP).as_bytes()

    assert ours.count(b"\r\n") > 300 and b"\r\r" not in ours and re.search(rb"[^\r]\n", ours) is None
    assert len(re.findall(rb'boundary="', ours)) == 2  # mixed, and the alternative inside it
    assert same_boundaries(ours) == same_boundaries(djangos)


def test_headers_kept_parsed_from_one_email_serve_the_next_unchanged():
    """Header values the last emails set are kept parsed and folded: an email setting
    the same name to the same value gets the same header, and one setting another value
    its own, each email byte for byte Django's."""
    import re

    from django.core.mail import EmailMultiAlternatives

    from accounts.correspondence import delivery
    from accounts.correspondence.delivery import PortalEmail

    def build(cls, n: int) -> bytes:
        message = cls(
            subject=f"Invoice INV-2026-{n:06d} from Exämple Hosting — long enough to be folded over two lines",
            body=f"Amount due: £{n}.00\n",
            from_email="Exämple Billing <billing@hosting.example>",
            to=[f"Ann Ö <ann{n}@customer.example>"],
            headers={"Message-ID": f"<{n}@portal.example>", "Date": "Sat, 05 Dec 2026 12:00:00 +0000"},
        )
        message.attach(f"INV-2026-{n:06d}.pdf", b"%PDF-1.7 " + bytes([n]) * 300, "application/pdf")
        return re.sub(rb"={15}\d+==", b"BOUNDARY", message.message(policy=email.policy.SMTP).as_bytes())

    for n in (1, 2, 1, 3, 2):
        ours = build(PortalEmail, n)
        assert ours == build(EmailMultiAlternatives, n)
        assert b"ann%d@customer.example" % n in ours and b"INV-2026-%06d.pdf" % n in ours
        assert b"ann%d@" % (n % 3 + 1) not in ours

    # Only headers that name nobody are kept: a recipient's address is parsed each time.
    registry = delivery._HeaderClasses()
    sender, recipient = "Billing <billing@hosting.example>", "Ann Ö <ann1@customer.example>"
    assert registry("From", sender) is registry("From", sender)
    assert registry("To", recipient) is not registry("To", recipient)


def test_a_boundary_is_never_one_the_message_already_holds(monkeypatch):
    from accounts.correspondence import delivery

    taken = "=" * 15 + f"{7:019d}=="
    picks = iter([7, 7, 8])
    monkeypatch.setattr(delivery.random, "randrange", lambda _top: next(picks))

    assert delivery._Generator._make_boundary(b"body\r\n--" + taken.encode() + b"\r\n") == "=" * 15 + f"{8:019d}=="


def test_delivery_builds_portal_emails(provider, customer):
    MembershipFactory(customer=customer, role=roles.Role.OWNER)
    message = reply(customer)

    built = delivery.build_email(message)

    assert isinstance(built, delivery.PortalEmail)
    assert built.message(policy=email.policy.SMTP)["Message-ID"] == f"<{message.message_id}>"


# Delivery is recorded per recipient: the server's answer to each RCPT TO decides.


def _recipients(message) -> dict[str, str]:
    return dict(message.recipients.values_list("address", "status"))


def _due_now(message) -> None:
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now() - dt.timedelta(hours=3))


def test_a_recipient_refused_for_good_fails_the_message_with_the_servers_answer(customer, contacts, smtp_server):
    smtp_server.refuse("accounts@customer.example", "550 5.1.1 No such user here")
    message = reply(customer)  # billing: the owner and the billing contact
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED  # not "sent": one recipient never got it
    assert "accounts@customer.example: 550 5.1.1 No such user here" in message.last_error
    assert _recipients(message) == {"owner@customer.example": "accepted", "accounts@customer.example": "refused"}
    assert message.recipients.get(address="accounts@customer.example").reply == "550 5.1.1 No such user here"
    assert smtp_server.delivered_to("owner@customer.example") == 1
    assert smtp_server.delivered_to("accounts@customer.example") == 0
    assert requeue_due_messages() == 0  # nothing to retry


def test_a_recipient_refused_for_now_is_retried_with_backoff_and_only_they_get_it_again(
    customer, contacts, smtp_server
):
    smtp_server.refuse("accounts@customer.example", "451 4.2.2 Mailbox full", None)
    message = reply(customer)
    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED
    assert message.next_attempt_at > timezone.now() + dt.timedelta(seconds=30)  # backed off
    assert "accounts@customer.example: 451 4.2.2 Mailbox full" in message.last_error
    assert _recipients(message) == {"owner@customer.example": "accepted", "accounts@customer.example": "deferred"}
    assert requeue_due_messages() == 0  # not due yet
    _due_now(message)
    assert requeue_due_messages() == 1
    message.refresh_from_db()
    assert message.status == Message.Status.SENT and message.last_error == ""
    assert _recipients(message) == {"owner@customer.example": "accepted", "accounts@customer.example": "accepted"}
    assert smtp_server.delivered_to("owner@customer.example") == 1  # never a second copy
    assert smtp_server.delivered_to("accounts@customer.example") == 1
    # The second envelope named only the recipient still waiting; the To header names both.
    assert smtp_server.received[1].rcpt_tos == ["accounts@customer.example"]
    assert "owner@customer.example" in parsed(smtp_server.received[1])["To"]


def test_a_recipient_refused_for_now_every_time_is_given_up_after_max_attempts(customer, contacts, smtp_server):
    smtp_server.refuse("accounts@customer.example", "452 4.2.2 Over quota")
    message = reply(customer)
    for _ in range(delivery.MAX_ATTEMPTS - 1):
        _due_now(message)
        requeue_due_messages()
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED and message.attempts == delivery.MAX_ATTEMPTS
    refused = message.recipients.get(address="accounts@customer.example")
    assert refused.status == "refused" and "452 4.2.2 Over quota" in refused.reply and "given up" in refused.reply
    assert smtp_server.delivered_to("owner@customer.example") == 1


def test_every_recipient_refused_is_recorded_for_each(customer, contacts, smtp_server):
    smtp_server.refuse("owner@customer.example", "550 5.1.1 Unknown")
    smtp_server.refuse("accounts@customer.example", "451 4.3.0 Later")
    message = reply(customer)
    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED  # one of them may yet accept it
    assert _recipients(message) == {"owner@customer.example": "refused", "accounts@customer.example": "deferred"}
    assert smtp_server.received == []


@pytest.fixture
def hung_mail_server(settings):
    """A mail server that takes the connection and then never says a word."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(50)  # connections complete in the kernel's backlog; nothing ever answers
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", listener.getsockname()[1]
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 10  # what a worker would wait
    settings.PORTAL_EMAIL_INLINE_TIMEOUT = 1  # what a web request waits, at most, once
    yield listener
    listener.close()


def test_without_a_broker_a_hung_mail_server_holds_a_request_for_one_short_attempt_at_most(
    client, customer, contacts, hung_mail_server, monkeypatch
):
    import time

    from django.urls import reverse

    from accounts import tasks

    monkeypatch.setattr(tasks.in_process, "paused_until", float("inf"))  # stored, not delivered
    for key in ("due-1", "due-2", "due-3"):  # stored earlier, retries now due: a sweep would try each
        reply(customer, key=key)
    Message.objects.update(next_attempt_at=timezone.now() - dt.timedelta(minutes=5))
    tasks.in_process.resume()
    monkeypatch.setattr(tasks, "EAGER_SWEEP_EVERY", 0.0)  # and the in-process sweep is due
    started = time.monotonic()
    response = client.post(reverse("account_reset_password"), {"email": "ops@customer.example"})
    first = time.monotonic() - started
    assert response.status_code == 302
    assert first < 2.5  # one attempt of PORTAL_EMAIL_INLINE_TIMEOUT, not EMAIL_TIMEOUT, not one per message
    reset = Message.objects.get(kind=MailKind.SECURITY)
    assert reset.status == Message.Status.QUEUED and "timed out" in reset.last_error  # kept for the sweep
    # The next request does not wait on the same server again straight away.
    started = time.monotonic()
    client.post(reverse("account_reset_password"), {"email": "owner@customer.example"})
    assert time.monotonic() - started < 1
    assert Message.objects.filter(kind=MailKind.SECURITY, status=Message.Status.QUEUED).count() == 2
    assert not Message.objects.exclude(status=Message.Status.QUEUED).exists()  # nothing lost, nothing failed


# Mails stored together (a billing run's batch of documents).


def _mail(customer, key, **extra):
    return {
        "kind": extra.pop("kind", MailKind.BILLING),
        "template": "staff_reply",
        "context": {"subject": f"About {key}", "body": "Your invoice is attached."},
        "customer": customer,
        "idempotency_key": key,
        **extra,
    }


def test_mails_stored_together_take_one_insert_each_for_messages_and_attachments_and_all_are_sent(
    customer, contacts, smtp_server
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    pdfs = [b"%PDF-1.7 pretend invoice " + bytes([n]) for n in range(3)]
    mails = [
        _mail(customer, f"invoice-{n}", attachments=[gateway.Attachment(f"INV-{n}.pdf", pdf, "application/pdf")])
        for n, pdf in enumerate(pdfs)
    ]

    with CaptureQueriesContext(connection) as queries:
        answers = gateway.send_many(mails)

    inserts = [q["sql"].split("(")[0].strip() for q in queries if q["sql"].startswith("INSERT INTO")]
    assert inserts.count('INSERT INTO "accounts_message"') == 1
    assert inserts.count('INSERT INTO "accounts_messageattachment"') == 1
    assert [answer.idempotency_key for answer in answers] == ["invoice-0", "invoice-1", "invoice-2"]
    assert [answer.subject for answer in answers] == ["About invoice-0", "About invoice-1", "About invoice-2"]
    for answer, pdf in zip(answers, pdfs, strict=True):
        stored = Message.objects.get(pk=answer.pk)
        assert stored.status == Message.Status.SENT
        assert stored.to_addresses == ["accounts@customer.example", "owner@customer.example"]
        assert stored.attachments.get().file.read() == pdf
    sent = sorted(parsed(envelope)["Subject"] for envelope in smtp_server.received)
    assert sent == ["About invoice-0", "About invoice-1", "About invoice-2"]


def test_in_a_batch_one_mail_failing_stops_none_and_a_key_sent_before_is_not_sent_again(
    customer, contacts, smtp_server
):
    from tests.accounts.factories import CustomerFactory

    sent_before = reply(customer, key="invoice-old")
    nobody = CustomerFactory()  # no contact receives its billing mail
    answers = gateway.send_many(
        [
            _mail(customer, "invoice-old"),
            _mail(nobody, "invoice-nobody"),
            _mail(customer, "invoice-broken", kind="marketing"),
            _mail(customer, "invoice-new"),
        ]
    )

    assert answers[0].pk == sent_before.pk
    assert isinstance(answers[1], gateway.NoRecipients)
    assert isinstance(answers[2], gateway.UnknownMailKind)
    assert answers[3].idempotency_key == "invoice-new"
    assert sorted(Message.objects.values_list("idempotency_key", flat=True)) == ["invoice-new", "invoice-old"]
    assert len(smtp_server.received) == 2  # the earlier one once, the new one once


def test_a_key_another_call_takes_meanwhile_is_answered_with_its_message_and_the_others_stored(
    customer, contacts, smtp_server, monkeypatch
):
    in_bulk = Message.objects.in_bulk
    raced = {}

    def looked_up_before_the_other_call_stored_it(keys, **kwargs):
        found = in_bulk(keys, **kwargs)  # nothing yet: then the other call stores "invoice-2"
        raced["message"] = reply(customer, key="invoice-2")
        return found

    monkeypatch.setattr(Message.objects, "in_bulk", looked_up_before_the_other_call_stored_it)
    answers = gateway.send_many(
        [
            _mail(customer, f"invoice-{n}", attachments=[gateway.Attachment(f"INV-{n}.pdf", f"%PDF-1.7 {n}".encode())])
            for n in range(1, 4)
        ]
    )

    assert answers[1].pk == raced["message"].pk
    assert [a.file.read() for a in Message.objects.get(pk=answers[2].pk).attachments.all()] == [b"%PDF-1.7 3"]
    assert [answer.idempotency_key for answer in answers] == ["invoice-1", "invoice-2", "invoice-3"]
    assert Message.objects.count() == 3
    assert len(smtp_server.received) == 3  # "invoice-2" once, by the call that stored it


def test_mails_stored_together_replace_only_their_customers_kept_pages(customer, contacts, monkeypatch):
    from core import pagecache

    cache = pagecache.store()
    writes = []
    set_many = cache.set_many
    monkeypatch.setattr(
        cache, "set_many", lambda data, *args, **kwargs: writes.append(set(data)) or set_many(data, *args, **kwargs)
    )

    gateway.send_many([_mail(customer, "invoice-1"), _mail(customer, "invoice-2")])

    written = set().union(*writes)
    assert pagecache.customer_token(customer.pk) in written
    assert pagecache.SITE not in written
