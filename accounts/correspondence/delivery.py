"""Delivery of stored outbound messages: the only code that talks to the mail server.

Exactly-once is impossible over SMTP; this gets as close as it can:
- a message is *claimed* with a conditional UPDATE (status queued → sending), so two
  workers (a redelivered task, the sweep, a rerun) never both send it;
- the server answers for each recipient (``MessageRecipient``): accepted, refused for
  now (retried with back-off, to the recipients still waiting only) or refused for good
  (shown to staff with the answer). A message is *sent* only when every recipient was
  accepted. The one window for a duplicate is a crash between the server's acceptance
  and that commit: the sweep reclaims the message after ``Message.SENDING_TIMEOUT`` and
  sends it again, with the same Message-ID so mail clients can tell (documented in
  docs/correspondence.md).
"""

from __future__ import annotations

import email.policy
import logging
import smtplib
import socket
from dataclasses import dataclass
from datetime import timedelta
from email.headerregistry import HeaderRegistry

from django.core import mail
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.db import connection, transaction
from django.utils import timezone

from accounts.correspondence.models import Message, MessageRecipient

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
AUTO_SUBMITTED = "auto-generated"  # RFC 3834: automated mail, not a reply to a person


@dataclass(frozen=True)
class Outcome:
    status: str  # sent, retry, failed, skipped
    retry_in: timedelta | None = None
    error: str = ""
    # The server could not be reached (no connection, a timeout, 421): the next delivery
    # would most likely wait for nothing too.
    server_trouble: bool = False


def backoff(attempt: int) -> timedelta:
    """1, 2, 4 … 64 minutes, then 2 hours: about 4 hours over MAX_ATTEMPTS."""
    return timedelta(minutes=min(2 ** (attempt - 1), 120))


def _claim(message_id: int) -> Message | None:
    """Claim a due message for sending and read it back, in one statement.

    A conditional ``UPDATE … RETURNING`` (the ORM's ``update()`` returns only a count): of
    two workers claiming the same message, one gets the row and the other nothing.
    """
    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    table, pk = connection.ops.quote_name(Message._meta.db_table), connection.ops.quote_name(Message._meta.pk.column)
    claimed = Message.objects.raw(
        f"UPDATE {table} SET status = %s, claimed_at = %s, attempts = attempts + 1 "  # noqa: S608 (the model's names)
        f"WHERE {pk} = %s AND direction = %s AND (status = %s OR (status = %s AND claimed_at <= %s)) "
        "RETURNING *",
        [
            Message.Status.SENDING,
            adapt(now),
            message_id,
            Message.Direction.OUTBOUND,
            Message.Status.QUEUED,
            Message.Status.SENDING,
            adapt(now - Message.SENDING_TIMEOUT),
        ],
    )
    return next(iter(claimed), None)


class _HeaderClasses(HeaderRegistry):
    """The standard header registry, making each kind of header's class once.

    CPython's registry builds a new class for every header it parses (``type(...)`` in
    ``HeaderRegistry.__getitem__``): about 40 per email with an attachment, a quarter of
    the time it takes to turn a billing email into its SMTP bytes. The classes it builds
    carry no state, so one per kind of header parses and folds every header the same.
    """

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[type, type] = {}

    def __getitem__(self, name: str) -> type:
        kind = self.registry.get(name.lower(), self.default_class)
        made = self._made.get(kind)
        if made is None:
            made = self._made[kind] = super().__getitem__(name)
        return made


_policies: dict[email.policy.Policy, email.policy.Policy] = {}


class PortalEmail(mail.EmailMultiAlternatives):
    """An email whose MIME form is built with ``_HeaderClasses``, whatever policy the
    backend asks for (Django's SMTP backend asks for ``email.policy.SMTP``)."""

    def message(self, *, policy: email.policy.Policy = email.policy.default):
        if policy not in _policies:
            _policies[policy] = policy.clone(header_factory=_HeaderClasses())
        return super().message(policy=_policies[policy])


def build_email(message: Message) -> mail.EmailMultiAlternatives:
    headers = {
        "Message-ID": f"<{message.message_id}>",
        "Auto-Submitted": AUTO_SUBMITTED,
        "X-Auto-Response-Suppress": "All",
    }
    if message.in_reply_to_id:
        parent = message.in_reply_to.message_id
        headers["In-Reply-To"] = f"<{parent}>"
        headers["References"] = " ".join(
            f"<{m}>" for m in dict.fromkeys(filter(None, [message.thread_root.message_id, parent]))
        )
    text, html = message.body_text, message.body_html
    for placeholder, secret in message.pending_secrets.items():
        text, html = text.replace(placeholder, secret), html.replace(placeholder, secret)
    email = PortalEmail(
        subject=message.subject,
        body=text,
        from_email=message.from_address,
        to=list(message.to_addresses),
        headers=headers,
    )
    if html:
        email.attach_alternative(html, "text/html")
    for attachment in message.attachments.all():
        with attachment.file.open("rb") as handle:
            email.attach(attachment.filename, handle.read(), attachment.content_type)
    return email


def _classify(exc: Exception) -> tuple[bool, str]:
    """(transient?, description). 4xx replies and network trouble are transient; 5xx are not."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        detail = "; ".join(
            f"{rcpt}: {code} {msg.decode(errors='replace')}" for rcpt, (code, msg) in exc.recipients.items()
        )
        return any(400 <= code < 500 for code in codes), f"recipients refused: {detail}"
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return 400 <= exc.smtp_code < 500, f"{exc.smtp_code} {text}"
    if isinstance(exc, smtplib.SMTPServerDisconnected | ConnectionError | socket.timeout | TimeoutError | OSError):
        return True, f"{exc.__class__.__name__}: {exc}"
    return False, f"{exc.__class__.__name__}: {exc}"


def _unreachable(exc: Exception) -> bool:
    """Whether the server could not be talked to at all (refused or dropped connection, a
    timeout, 421 "service not available"), as opposed to answering with a refusal."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code == 421
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return True
    return isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException)


def _reply_text(code: int, text: bytes | str) -> str:
    return f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}".strip()


def _send(message: Message, addresses: list[str], *, timeout: float | None) -> dict[str, tuple[bool, str]]:
    """Send ``message`` to ``addresses``; the recipients the server refused, as
    {address: (transient?, the server's answer)}. Raises if the message was not sent
    to anyone (the connection failed, the server refused the sender or the content).

    Over SMTP the envelope lists only ``addresses`` (the recipients still waiting; the
    To header still shows everyone) and the server's answer to each RCPT is read.
    Another backend (the outbox, an email service's API) takes the message whole.
    """
    outgoing = build_email(message)
    backend = mail.get_connection(fail_silently=False)
    if not isinstance(backend, SMTPBackend):
        if not backend.send_messages([outgoing]):
            raise smtplib.SMTPException("the mail backend sent nothing")
        return {}
    if timeout is not None:
        backend.timeout = timeout  # the connection attempt and every reply wait at most this
    by_envelope = {backend.prep_address(address): address for address in addresses}
    try:
        with backend:
            refused = backend.connection.sendmail(
                backend.prep_address(outgoing.from_email),
                list(by_envelope),
                outgoing.message(policy=email.policy.SMTP).as_bytes(),
            )
    except smtplib.SMTPRecipientsRefused as exc:  # every recipient refused: each has its answer
        refused = exc.recipients
        if not refused:
            raise
    return {
        by_envelope.get(rcpt, rcpt): (400 <= code < 500, _reply_text(code, text))
        for rcpt, (code, text) in refused.items()
    }


def _recipients(message: Message) -> list[MessageRecipient]:
    """The message's recipients, recorded the first time it is delivered."""
    existing = {r.address: r for r in message.recipients.all()}
    missing = [address for address in dict.fromkeys(message.to_addresses) if address not in existing]
    if missing:
        MessageRecipient.objects.bulk_create(
            [MessageRecipient(message=message, address=address) for address in missing], ignore_conflicts=True
        )
        existing = {r.address: r for r in message.recipients.all()}
    return list(existing.values())


WAITING = (MessageRecipient.Status.PENDING, MessageRecipient.Status.DEFERRED)


def deliver(message_id: int, *, timeout: float | None = None) -> Outcome:
    """Send one stored message if it is due, to the recipients who have not accepted it;
    record what the server answered for each. Safe to call twice.

    ``timeout`` bounds each wait on the mail server (default: ``EMAIL_TIMEOUT``).
    """
    message = _claim(message_id)
    if message is None:
        return Outcome("skipped")
    recipients = _recipients(message)
    waiting = [r for r in recipients if r.status in WAITING]
    answers: dict[str, tuple[bool, str]] = {}
    whole: tuple[bool, str] | None = None
    unreachable = False
    if waiting:
        try:
            answers = _send(message, [r.address for r in waiting], timeout=timeout)
        except Exception as exc:  # classified below; nothing may escape without being recorded
            whole, unreachable = _classify(exc), _unreachable(exc)
    now = timezone.now()
    gave_up = message.attempts >= MAX_ATTEMPTS
    with transaction.atomic():
        for recipient in waiting:
            transient, reply = whole or answers.get(recipient.address, (None, "250 accepted"))
            if transient is None:
                recipient.status = MessageRecipient.Status.ACCEPTED
            elif transient and not gave_up:
                recipient.status = MessageRecipient.Status.DEFERRED
            else:
                recipient.status = MessageRecipient.Status.REFUSED
                if transient:
                    reply = f"{reply} (still refused after {message.attempts} tries: given up)"
            recipient.reply, recipient.attempts, recipient.updated_at = reply, recipient.attempts + 1, now
            recipient.save(update_fields=["status", "reply", "attempts", "updated_at"])
        return _record(message, recipients, whole, unreachable=unreachable)


def _record(
    message: Message, recipients: list[MessageRecipient], whole: tuple[bool, str] | None, *, unreachable: bool
) -> Outcome:
    """The message's state from its recipients': sent only when every one accepted it."""
    deferred = [r for r in recipients if r.status == MessageRecipient.Status.DEFERRED]
    refused = [r for r in recipients if r.status == MessageRecipient.Status.REFUSED]
    accepted = [r for r in recipients if r.status == MessageRecipient.Status.ACCEPTED]
    if whole:  # one answer for the whole message (the connection, the sender, the content)
        error = whole[1]
    else:
        error = "; ".join(f"{r.address}: {r.reply}" for r in [*refused, *deferred])
        if error and accepted:
            error += f" (accepted for {len(accepted)} other recipient(s))"
    current = Message.objects.filter(pk=message.pk, status=Message.Status.SENDING)
    if deferred:
        delay = backoff(message.attempts)
        current.update(status=Message.Status.QUEUED, next_attempt_at=timezone.now() + delay, last_error=error)
        logger.warning("Message %s: transient failure (%s); retry in %s", message.pk, error, delay)
        return Outcome("retry", delay, error, server_trouble=unreachable)
    if refused or not accepted:
        current.update(status=Message.Status.FAILED, last_error=error or "no recipients", pending_secrets={})
        logger.error("Message %s: delivery failed for good: %s", message.pk, error)
        return Outcome("failed", error=error)
    Message.objects.filter(pk=message.pk).update(
        status=Message.Status.SENT, sent_at=timezone.now(), last_error="", pending_secrets={}
    )
    return Outcome("sent")


def due_message_ids(*, limit: int = 500, grace: timedelta = timedelta(minutes=2)) -> list[int]:
    """Messages the sweep should queue: due retries, enqueue failures, stuck sends."""
    now = timezone.now()
    return list(
        Message.objects.due_for_delivery(now=now - grace)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def mark_for_retry(message_id: int) -> bool:
    """Put a failed message back in the queue with its attempts reset; whether it was failed.

    Queuing its delivery is the caller's (``services.retry_failed``): this module is below
    the tasks that call it (``accounts.tasks``) and imports none of them.
    """
    with transaction.atomic():
        retried = Message.objects.filter(
            pk=message_id, direction=Message.Direction.OUTBOUND, status=Message.Status.FAILED
        ).update(status=Message.Status.QUEUED, next_attempt_at=timezone.now(), attempts=0)
        if retried:  # the refused recipients are tried again; those that accepted it are not
            MessageRecipient.objects.filter(message_id=message_id, status=MessageRecipient.Status.REFUSED).update(
                status=MessageRecipient.Status.PENDING
            )
    return bool(retried)
