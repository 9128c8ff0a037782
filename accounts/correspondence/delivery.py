"""Delivery of stored outbound messages: the only code that talks to the mail server.

Exactly-once is impossible over SMTP; this gets as close as it can:
- a message is *claimed* with a conditional UPDATE (status queued → sending), so two
  workers (a redelivered task, the sweep, a rerun) never both send it. The sweep's work
  goes in batches (``deliver_many``): one statement claims them all (rows another worker
  is claiming are skipped, not waited for), one SMTP connection sends them, and each is
  marked as soon as the server answered for it, so a crash leaves at most one message
  sent but not marked;
- the server answers for each recipient (``MessageRecipient``): accepted, refused for
  now (retried with back-off, to the recipients still waiting only) or refused for good
  (shown to staff with the answer). A message is *sent* only when every recipient was
  accepted. The one window for a duplicate is a crash between the server's acceptance
  and that commit: the sweep reclaims the message after ``Message.SENDING_TIMEOUT`` and
  sends it again, with the same Message-ID so mail clients can tell (documented in
  docs/correspondence.md).
"""

from __future__ import annotations

import contextlib
import email.policy
import functools
import io
import logging
import random
import smtplib
import socket
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from email.generator import NLCRE, BytesGenerator
from email.headerregistry import BaseHeader, HeaderRegistry

from django.core import mail
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.db import connection, models, transaction
from django.db.models import F, prefetch_related_objects
from django.db.models.sql import UpdateQuery
from django.utils import timezone

from accounts.correspondence.models import Message, MessageRecipient
from core import pagecache

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


def _claim(message_ids: list[int]) -> list[Message]:
    """Claim those of ``message_ids`` that are due for sending and read them back, in one
    statement: a conditional ``UPDATE … RETURNING`` (the ORM's ``update()`` returns only a
    count). Of two workers claiming the same message, one gets the row and the other
    nothing; where the database can (PostgreSQL), rows another worker is claiming right now
    are skipped rather than waited for. The claim is a lease: ``claimed_at`` plus
    ``Message.SENDING_TIMEOUT``, after which the sweep may take the message again.
    """
    if not message_ids:
        return []
    claimed = Message.objects.raw(*_claim_statement(message_ids))
    order = {message_id: n for n, message_id in enumerate(message_ids)}
    return sorted(claimed, key=lambda message: order[message.pk])


def _claim_statement(message_ids: list[int]) -> tuple[str, list]:
    """The claim's SQL and parameters.

    The rows are found by their ids alone. Whether one is due is asked with a ``CASE``,
    which no index answers: asked as ``status = … OR …``, PostgreSQL reads the status
    index instead, where every message claimed since the last vacuum has left an entry
    (each status change is a new row version), so a claim of ten cost more the more mail
    had been sent (6.6 ms against 1.2 ms after 6,000 messages).
    """
    now = timezone.now()
    ops = connection.ops
    adapt = ops.adapt_datetimefield_value
    table, pk = ops.quote_name(Message._meta.db_table), ops.quote_name(Message._meta.pk.column)
    ids = ", ".join(["%s"] * len(message_ids))
    due = (
        f"{pk} IN ({ids}) AND direction = %s "
        "AND CASE status WHEN %s THEN TRUE WHEN %s THEN claimed_at <= %s ELSE FALSE END"
    )
    due_params = [
        *message_ids,
        Message.Direction.OUTBOUND,
        Message.Status.QUEUED,
        Message.Status.SENDING,
        adapt(now - Message.SENDING_TIMEOUT),
    ]
    where, params = due, due_params
    if len(message_ids) > 1 and connection.features.has_select_for_update_skip_locked:
        # The outer condition is checked again once a row is locked (another claim may have won).
        where = f"{pk} IN (SELECT {pk} FROM {table} WHERE {due} FOR UPDATE SKIP LOCKED) AND {due}"  # noqa: S608
        params = [*due_params, *due_params]
    return (
        f"UPDATE {table} SET status = %s, claimed_at = %s, attempts = attempts + 1 "  # noqa: S608 (the model's names)
        f"WHERE {where} RETURNING *",
        [Message.Status.SENDING, adapt(now), *params],
    )


def _release(messages: list[Message]) -> None:
    """Give back claimed messages that were not tried (the batch stopped): queued again as
    they were, the claim's attempt not counted."""
    if messages:
        Message.objects.filter(pk__in=[m.pk for m in messages], status=Message.Status.SENDING).update(
            status=Message.Status.QUEUED, attempts=F("attempts") - 1
        )


class _Header(BaseHeader):
    """A parsed header that folds itself once per policy: the header objects
    ``_HeaderClasses`` hands out again are folded again in every email that uses them."""

    def fold(self, *, policy: email.policy.Policy) -> str:
        folded = self.__dict__.setdefault("_folded", {})
        if policy not in folded:
            folded[policy] = super().fold(policy=policy)
        return folded[policy]


# Headers whose values repeat from one billing email to the next and name nobody: the
# sender is the provider's own address.
_KEPT = frozenset(
    {
        "from",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "auto-submitted",
        "x-auto-response-suppress",
    }
)


class _HeaderClasses(HeaderRegistry):
    """The standard header registry, making each kind of header's class once and keeping
    the headers it parsed most recently.

    CPython's registry builds a new class for every header it parses (``type(...)`` in
    ``HeaderRegistry.__getitem__``): about 40 per email with an attachment, a quarter of
    the time it takes to turn a billing email into its SMTP bytes. The classes it builds
    carry no state, so one per kind of header parses and folds every header the same.

    Parsing and folding the headers is still about half of that time, and most of an
    email's 24 header values are the same in every billing email (the sender, MIME-Version,
    each part's Content-Type and Content-Transfer-Encoding, Auto-Submitted): the last 256
    (name, value) pairs of those headers (``_KEPT``) are kept parsed, and each kept header
    keeps its folded form. A parsed header is never changed once made (setting a header
    makes a new one), so one object serves every email that sets that name to that value.
    The headers that name a person or differ in every email (To, Cc, Subject, Message-ID,
    Date) are parsed each time: nothing about a recipient stays in the worker's memory.
    """

    def __init__(self) -> None:
        super().__init__(base_class=_Header)
        self._made: dict[type, type] = {}
        self._parsed = functools.lru_cache(maxsize=256)(super().__call__)

    def __getitem__(self, name: str) -> type:
        kind = self.registry.get(name.lower(), self.default_class)
        made = self._made.get(kind)
        if made is None:
            made = self._made[kind] = super().__getitem__(name)
        return made

    def __call__(self, name: str, value: str) -> BaseHeader:
        if name.lower() in _KEPT:
            return self._parsed(name, value)
        return super().__call__(name, value)


_policies: dict[email.policy.Policy, email.policy.Policy] = {}


class _Generator(BytesGenerator):
    """The standard library's bytes generator, writing the same bytes with less work.

    CPython's generator writes a body line by line (two writes and an encoding per line:
    about a thousand for an invoice's PDF in base64), and checks each multipart boundary it
    picks by compiling a regular expression and searching the whole message with it. Here
    a body's line endings are replaced in one pass, and the boundary, random and formed as
    the standard library forms it, is checked with a plain search of the message for
    ``--boundary`` (stricter than the expression, which looks for it only as a whole line).
    """

    def _write_lines(self, lines: str) -> None:
        if lines:
            self.write(NLCRE.sub(self._NL, lines))

    @classmethod
    def _make_boundary(cls, text: bytes | str | None = None) -> str:
        while True:
            boundary = "=" * 15 + f"{random.randrange(sys.maxsize):019d}=="  # noqa: S311 (not a secret, as in CPython)
            if text is None:
                return boundary
            marker = "--" + boundary
            if (marker.encode("ascii") if isinstance(text, bytes) else marker) not in text:
                return boundary


class PortalEmail(mail.EmailMultiAlternatives):
    """An email whose MIME form is built with ``_HeaderClasses``, whatever policy the
    backend asks for (Django's SMTP backend asks for ``email.policy.SMTP``)."""

    def message(self, *, policy: email.policy.Policy = email.policy.default):
        if policy not in _policies:
            _policies[policy] = policy.clone(header_factory=_HeaderClasses())
        return super().message(policy=_policies[policy])

    def smtp_bytes(self) -> bytes:
        """The bytes sent over SMTP: ``message(policy=email.policy.SMTP).as_bytes()``, as
        Django's SMTP backend sends them, written by ``_Generator``."""
        message = self.message(policy=email.policy.SMTP)
        buffer = io.BytesIO()
        _Generator(buffer, mangle_from_=False, policy=message.policy).flatten(message)
        return buffer.getvalue()


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


class _Mailer:
    """Django's mail backend, opened once for a batch of messages and opened again after an
    error (the connection's state is then unknown)."""

    # A connection left idle this long is checked (NOOP) before it is used again.
    IDLE = 10.0

    def __init__(self, *, timeout: float | None) -> None:
        self.backend = mail.get_connection(fail_silently=False)
        self.smtp = isinstance(self.backend, SMTPBackend)
        if timeout is not None and self.smtp:
            self.backend.timeout = timeout  # the connection attempt and every reply wait at most this
        self.last_used = 0.0
        self._envelope: dict[str, str] = {}

    def envelope(self, address: str) -> str:
        """The address as the SMTP envelope gives it (checked and encoded once per batch)."""
        if address not in self._envelope:
            self._envelope[address] = self.backend.prep_address(address)
        return self._envelope[address]

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a broken connection may fail; it is gone either way
            self.backend.close()

    def _connection(self) -> smtplib.SMTP:
        backend = self.backend
        if backend.connection is not None and time.monotonic() - self.last_used > self.IDLE:
            try:
                backend.connection.noop()
            except (smtplib.SMTPException, OSError):
                self.close()
        if backend.connection is None:
            backend.open()
        return backend.connection

    def send(self, message: Message, addresses: list[str]) -> dict[str, tuple[bool, str]]:
        """Send ``message`` to ``addresses``; the recipients the server refused, as
        {address: (transient?, the server's answer)}. Raises if the message was not sent
        to anyone (the connection failed, the server refused the sender or the content).

        Over SMTP the envelope lists only ``addresses`` (the recipients still waiting; the
        To header still shows everyone) and the server's answer to each RCPT is read.
        Another backend (the outbox, an email service's API) takes the message whole.
        """
        outgoing = build_email(message)
        backend = self.backend
        if not self.smtp:
            if not backend.send_messages([outgoing]):
                raise smtplib.SMTPException("the mail backend sent nothing")
            return {}
        by_envelope = {self.envelope(address): address for address in addresses}
        try:
            refused = self._connection().sendmail(
                self.envelope(outgoing.from_email),
                list(by_envelope),
                outgoing.smtp_bytes(),
            )
        except smtplib.SMTPRecipientsRefused as exc:  # every recipient refused: each has its answer
            refused = exc.recipients  # smtplib reset the session: the connection can go on
            if not refused:
                self.close()
                raise
        except Exception:
            self.close()
            raise
        finally:
            self.last_used = time.monotonic()
        return {
            by_envelope.get(rcpt, rcpt): (400 <= code < 500, _reply_text(code, text))
            for rcpt, (code, text) in refused.items()
        }


def _recipients(messages: list[Message]) -> None:
    """Read the messages' recipients (and attachments) in one query each, recording the
    recipients of a message delivered for the first time."""
    prefetch_related_objects(messages, "recipients", "attachments")
    missing = [
        MessageRecipient(message=message, address=address)
        for message in messages
        for address in dict.fromkeys(message.to_addresses)
        if address not in {r.address for r in message.recipients.all()}
    ]
    if missing:
        MessageRecipient.objects.bulk_create(missing, ignore_conflicts=True)
        for message in messages:
            message._prefetched_objects_cache.pop("recipients", None)
        prefetch_related_objects(messages, "recipients")


WAITING = (MessageRecipient.Status.PENDING, MessageRecipient.Status.DEFERRED)


def deliver(message_id: int, *, timeout: float | None = None) -> Outcome:
    """Send one stored message if it is due, to the recipients who have not accepted it;
    record what the server answered for each. Safe to call twice.

    ``timeout`` bounds each wait on the mail server (default: ``EMAIL_TIMEOUT``).
    """
    return deliver_many([message_id], timeout=timeout).get(message_id, Outcome("skipped"))


def deliver_many(message_ids: list[int], *, timeout: float | None = None) -> dict[int, Outcome]:
    """``deliver`` for a batch: claim those of ``message_ids`` that are due in one statement,
    send them on one connection, and mark each as soon as the server has answered for it.

    If the server cannot be reached, or the batch has taken half its claim's lease, the
    messages not yet tried are released (queued as before, the try not counted) and have
    no outcome; those another worker holds, or that are not due, have none either.
    """
    with pagecache.writes_for() as whose:  # each message's state shows on its customer's pages
        claimed = _claim(list(dict.fromkeys(message_ids)))
        whose.customers.update(message.customer_id for message in claimed)
        return _deliver_claimed_batch(claimed, timeout=timeout)


def _deliver_claimed_batch(claimed: list[Message], *, timeout: float | None) -> dict[int, Outcome]:
    if not claimed:
        return {}
    _recipients(claimed)
    mailer = _Mailer(timeout=timeout)
    outcomes: dict[int, Outcome] = {}
    started = time.monotonic()
    n = 0
    try:
        for n, message in enumerate(claimed):
            outcome = outcomes[message.pk] = _deliver_claimed(message, mailer)
            late = time.monotonic() - started > Message.SENDING_TIMEOUT.total_seconds() / 2
            if outcome.server_trouble or late:
                _release(claimed[n + 1 :])
                break
    except Exception:
        # Marking failed (the database went away): the message being marked waits for its
        # lease to end, as when one message is delivered; the rest were not tried.
        with contextlib.suppress(Exception):
            _release(claimed[n + 1 :])
        raise
    finally:
        mailer.close()
    return outcomes


def _deliver_claimed(message: Message, mailer: _Mailer) -> Outcome:
    recipients = list(message.recipients.all())
    waiting = [r for r in recipients if r.status in WAITING]
    answers: dict[str, tuple[bool, str]] = {}
    whole: tuple[bool, str] | None = None
    unreachable = False
    if waiting:
        try:
            answers = mailer.send(message, [r.address for r in waiting])
        except Exception as exc:  # classified below; nothing may escape without being recorded
            whole, unreachable = _classify(exc), _unreachable(exc)
    now = timezone.now()
    gave_up = message.attempts >= MAX_ATTEMPTS
    changes: dict[tuple[str, str], list[MessageRecipient]] = {}
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
        changes.setdefault((recipient.status, reply), []).append(recipient)
    # One update per distinct answer (usually one: every recipient accepted), and the message's.
    updates: list[tuple[models.QuerySet, dict]] = [
        (
            MessageRecipient.objects.filter(pk__in=[r.pk for r in group]),
            {"status": status, "reply": reply, "attempts": F("attempts") + 1, "updated_at": now},
        )
        for (status, reply), group in changes.items()
    ]
    outcome, message_update = _record(message, recipients, whole, unreachable=unreachable)
    _apply([*updates, message_update])
    return outcome


def _apply(updates: list[tuple[models.QuerySet, dict]]) -> None:
    """Run ``updates`` (querysets and their new values) all or none. On PostgreSQL in one
    statement (each but the last a data-modifying ``WITH``): one round trip and one commit
    per delivered message; elsewhere in one transaction."""
    if len(updates) > 1 and connection.vendor == "postgresql" and connection.get_autocommit():
        parts = []
        for queryset, values in updates:
            query = queryset.query.chain(UpdateQuery)
            query.add_update_values(values)
            parts.append(query.get_compiler(queryset.db).as_sql())
        *first, (last_sql, _) = parts
        sql = "WITH " + ", ".join(f"u{n} AS ({part_sql})" for n, (part_sql, _) in enumerate(first)) + " " + last_sql
        with connection.cursor() as cursor:
            cursor.execute(sql, [param for _, params in parts for param in params])
        return
    with transaction.atomic():
        for queryset, values in updates:
            queryset.update(**values)


def _record(
    message: Message, recipients: list[MessageRecipient], whole: tuple[bool, str] | None, *, unreachable: bool
) -> tuple[Outcome, tuple[models.QuerySet, dict]]:
    """The message's state from its recipients': sent only when every one accepted it; the
    outcome, and the update that records it."""
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
        logger.warning("Message %s: transient failure (%s); retry in %s", message.pk, error, delay)
        update = {"status": Message.Status.QUEUED, "next_attempt_at": timezone.now() + delay, "last_error": error}
        return Outcome("retry", delay, error, server_trouble=unreachable), (current, update)
    if refused or not accepted:
        logger.error("Message %s: delivery failed for good: %s", message.pk, error)
        update = {"status": Message.Status.FAILED, "last_error": error or "no recipients", "pending_secrets": {}}
        return Outcome("failed", error=error), (current, update)
    update = {"status": Message.Status.SENT, "sent_at": timezone.now(), "last_error": "", "pending_secrets": {}}
    return Outcome("sent"), (Message.objects.filter(pk=message.pk), update)


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
    with transaction.atomic(), pagecache.writes_for() as whose:
        whose.customers.update(Message.objects.filter(pk=message_id).values_list("customer_id", flat=True))
        retried = Message.objects.filter(
            pk=message_id, direction=Message.Direction.OUTBOUND, status=Message.Status.FAILED
        ).update(status=Message.Status.QUEUED, next_attempt_at=timezone.now(), attempts=0)
        if retried:  # the refused recipients are tried again; those that accepted it are not
            MessageRecipient.objects.filter(message_id=message_id, status=MessageRecipient.Status.REFUSED).update(
                status=MessageRecipient.Status.PENDING
            )
    return bool(retried)
