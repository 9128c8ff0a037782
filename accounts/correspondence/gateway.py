"""The mail gateway: the one function through which the portal sends email.

``send_mail`` renders the message, stores it as an immutable ``Message`` in the
caller's transaction, and queues delivery after commit. If the caller's
transaction rolls back, nothing was stored and nothing is sent; if it commits,
the message is stored even when the broker is down (the sweep queues it later).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.utils import make_msgid

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, models, transaction
from django.dispatch import Signal
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.correspondence.models import MailKind, Message, MessageAttachment, receives
from accounts.models import Membership, ProviderDetails
from core import pagecache

logger = logging.getLogger(__name__)


# Sent in the caller's transaction when a stored message is ready to go, with
# ``message_pk``; accounts' tasks answer it by queuing its delivery (``accounts.apps``).
message_queued = Signal()


class UnknownMailKind(ValueError):
    """Raised for a kind outside MailKind: there is no marketing mail, by design."""


class NoRecipients(ValueError):
    """The customer has no contact who receives this kind of mail."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    content_type: str = "application/octet-stream"
    # (name, SHA-256) of a file already in private storage holding exactly ``content``,
    # such as an issued invoice's PDF: the message points at it instead of storing a copy.
    stored: tuple[str, str] | None = None


_CURRENT = object()  # "read the provider details now", for callers that have not


def _provider(provider):
    return ProviderDetails.current() if provider is _CURRENT else provider


def sender_for(kind: str, provider=_CURRENT) -> str:
    """The provider address a kind of mail comes from (replies land in the right queue)."""
    provider = _provider(provider)
    if provider is None:
        return settings.DEFAULT_FROM_EMAIL
    return {
        MailKind.BILLING: provider.billing_email,
        MailKind.ABUSE: provider.abuse_email,
        MailKind.PRIVACY: provider.privacy_email,
        MailKind.LEGAL: provider.billing_email,
    }.get(kind, provider.support_email)


def recipients_for(customer, kind: str) -> list[str]:
    """Contacts whose role receives ``kind`` (accounts.correspondence.models.RECIPIENT_ROLES)."""
    return recipients_by_customer([customer.pk], kind).get(customer.pk, [])


def recipients_by_customer(customer_ids: Iterable[int], kind: str) -> dict[int, list[str]]:
    """``recipients_for`` of each of these customers, in one query (for mail sent as a batch)."""
    found: dict[int, set[str]] = {}
    # Unordered here; the model's ordering (by customer name) would join the customer for nothing.
    rows = Membership.objects.filter(receives(kind), customer_id__in=list(customer_ids)).order_by()
    for customer_id, address in rows.values_list("customer_id", "user__email"):
        found.setdefault(customer_id, set()).add(address)
    return {customer_id: sorted(addresses) for customer_id, addresses in found.items()}


def _render(template: str, context: dict, provider=_CURRENT) -> tuple[str, str, str]:
    context = {"provider": _provider(provider), **context}
    subject = " ".join(render_to_string(f"mail/{template}.subject.txt", context).split())
    text = render_to_string(f"mail/{template}.txt", context).strip()
    try:
        html = render_to_string(f"mail/{template}.html", context).strip()
    except Exception as exc:  # TemplateDoesNotExist: HTML is optional per template
        if exc.__class__.__name__ != "TemplateDoesNotExist":
            raise
        html = ""
    return subject, text, html


def add_footer(text: str, html: str, provider=_CURRENT) -> tuple[str, str]:
    """Every email carries the provider's trading disclosures (Companies Act 2006; docs/correspondence.md)."""
    context = {"provider": _provider(provider)}
    text = f"{text}\n\n-- \n{render_to_string('mail/footer.txt', context).strip()}\n"
    if html:
        footer = render_to_string("mail/footer.html", context).strip()
        html = html.replace("</body>", f"{footer}</body>") if "</body>" in html else f"{html}\n{footer}"
    return text, html


def store_file(folder: str, filename: str, content: bytes) -> tuple[str, str]:
    """Store ``content`` privately under its hash; the same bytes are stored once."""
    digest = hashlib.sha256(content).hexdigest()
    safe_name = "".join(c if c.isalnum() or c in "._-" else "_" for c in filename)[-100:] or "file"
    name = f"{folder}/{digest[:2]}/{digest}/{safe_name}"
    if not default_storage.exists(name):
        name = default_storage.save(name, ContentFile(content))
    return name, digest


def mask_secrets(text: str, html: str, secrets: Sequence[str]) -> tuple[str, str, dict[str, str]]:
    """Replace each secret (and its HTML-escaped form) by a placeholder a reader understands."""
    from django.utils.html import escape

    pending: dict[str, str] = {}
    original = text + html
    # Longest first: a token inside a link goes with the link.
    ordered = sorted(dict.fromkeys(filter(None, secrets)), key=len, reverse=True)
    for number, secret in enumerate(ordered, start=1):
        if secret not in original and escape(secret) not in original:
            raise ValueError(f"Secret {number} does not appear in the message: nothing would be masked.")
        if secret not in text and secret not in html and escape(secret) not in html:
            continue  # already masked as part of a longer secret
        placeholder = f"[one-time link {len(pending) + 1}: removed from our records once sent]"
        text = text.replace(secret, placeholder)
        html = html.replace(secret, placeholder).replace(escape(secret), placeholder)
        pending[placeholder] = secret
    return text, html, pending


def store_attachments(message: Message, attachments: Sequence[Attachment]) -> None:
    """Attach files to a stored message: private storage, once per content, with SHA-256."""
    for stored in _stored_files(attachments):
        _attachment_row(message, *stored).save()


def _create(fields: dict, attachments: Sequence[Attachment]) -> Message:
    message = Message.objects.create(**fields)
    store_attachments(message, attachments)
    return message


def send_mail(
    *,
    kind: str,
    template: str,
    context: dict,
    idempotency_key: str,
    customer=None,
    to: Iterable[str] | None = None,
    person=None,
    attachments: Sequence[Attachment] = (),
    related: models.Model | None = None,
    in_reply_to: Message | None = None,
    created_by=None,
    secrets: Sequence[str] = (),
    provider=_CURRENT,
    recipients: Sequence[str] | None = None,
) -> Message:
    """Render ``mail/<template>.*``, then store and queue it (see ``send_rendered``, which
    returns the stored message instead when ``idempotency_key`` was sent before).
    ``provider``: the provider details, and ``recipients``: ``customer``'s contacts who
    receive ``kind`` (``recipients_by_customer``), when the caller has just read them for a batch."""
    return send_rendered(**_rendered(**locals()))  # this function's arguments, the template rendered


def _rendered(*, kind: str, template: str, context: dict, customer=None, provider=_CURRENT, **rest) -> dict:
    """``send_mail``'s arguments as ``send_rendered`` takes them: the template rendered."""
    _check_kind(kind)
    provider = _provider(provider)  # read once for the body, the footer and the sender
    subject, text, html = _render(template, {"customer": customer, **context}, provider)
    return {
        "provider": provider,
        "kind": kind,
        "subject": subject,
        "text": text,
        "html": html,
        "template": template,
        "customer": customer,
        **rest,
    }


def send_many(mails: Sequence[dict]) -> list[Message | Exception]:
    """``send_mail`` for each of ``mails`` (each its keyword arguments), stored together:
    every new message, and every attachment, in one INSERT each for the lot and one
    transaction, rather than two statements and a commit per email (a billing run's batch
    of documents). Inside the caller's transaction, as ``send_mail``'s are.

    Answers, in order, each mail's stored message (the one sent before, for an
    ``idempotency_key`` already used) or the exception that stopped it (``NoRecipients``,
    say): one failing stops none of the others.
    """
    answers: list[Message | Exception | None] = [None] * len(mails)
    fresh: list[tuple[int, dict, list[tuple[Attachment, str, str]]]] = []
    for index, mail in enumerate(mails):
        try:
            prepared = _prepare(**_rendered(**mail))
            if isinstance(prepared, Message):
                answers[index] = prepared
            else:
                fields, attachments = prepared
                fresh.append((index, fields, _stored_files(attachments)))
        except Exception as exc:  # answered for this mail; the others go on
            answers[index] = exc
    keys = [fields["idempotency_key"] for _, fields, _ in fresh]
    sent_before = Message.objects.in_bulk(keys, field_name="idempotency_key") if keys else {}
    new = []
    for index, fields, attachments in fresh:
        if fields["idempotency_key"] in sent_before:
            answers[index] = sent_before[fields["idempotency_key"]]
        else:
            new.append((index, fields, attachments))
    if new:
        try:
            stored = _create_many([(fields, attachments) for _, fields, attachments in new])
        except IntegrityError:
            # One was sent meanwhile by a concurrent call with its key: each on its own, then.
            stored = [_store(fields, [attachment for attachment, *_ in files]) for _, fields, files in new]
        for (index, *_), (message, created) in zip(new, stored, strict=True):
            answers[index] = message
            if created:
                message_queued.send(sender=Message, message_pk=message.pk)
    return answers  # every mail answered above


def _check_kind(kind: str) -> None:
    if kind not in MailKind.values:
        raise UnknownMailKind(f"{kind!r} is not a kind of mail we send; the kinds are: {', '.join(MailKind.values)}.")


def send_rendered(
    *,
    kind: str,
    subject: str,
    text: str,
    html: str,
    idempotency_key: str,
    template: str = "",
    customer=None,
    to: Iterable[str] | None = None,
    person=None,
    attachments: Sequence[Attachment] = (),
    related: models.Model | None = None,
    in_reply_to: Message | None = None,
    created_by=None,
    secrets: Sequence[str] = (),
    provider=_CURRENT,
    recipients: Sequence[str] | None = None,
) -> Message:
    """Store one email and queue it after commit. The same ``idempotency_key`` stores and sends once.

    Recipients come from the customer's contacts by role. ``to`` replaces them only for
    mail about one person (allauth's verification and password reset, an invitation,
    the acknowledgement of their own message), sent to the address that mail is about,
    and for a staff reply, sent to the customer's contacts staff chose
    (``services.reply``, which refuses anyone else).

    ``secrets`` are one-time values in the content (a password-reset or invitation
    link): the stored record shows them masked, and the real values are kept only
    until delivery ends. ``provider`` is the provider details for the footer and the
    sender, and ``recipients`` the customer's contacts who receive ``kind``
    (``recipients_by_customer``), when the caller has just read them for a batch.
    """
    prepared = _prepare(**locals())  # exactly this function's arguments, at its first line
    if isinstance(prepared, Message):
        return prepared
    message, created = _store(*prepared)
    if created:
        # Its delivery is queued by accounts' tasks and sent once the caller's transaction
        # commits (core.background); if the broker is down, the message stays queued and the
        # sweep (requeue_due_messages) sends it.
        message_queued.send(sender=Message, message_pk=message.pk)
    return message


def _prepare(
    *,
    kind: str,
    subject: str,
    text: str,
    html: str,
    idempotency_key: str,
    template: str = "",
    customer=None,
    to: Iterable[str] | None = None,
    person=None,
    attachments: Sequence[Attachment] = (),
    related: models.Model | None = None,
    in_reply_to: Message | None = None,
    created_by=None,
    secrets: Sequence[str] = (),
    provider=_CURRENT,
    recipients: Sequence[str] | None = None,
) -> Message | tuple[dict, Sequence[Attachment]]:
    """The message's fields and attachments, ready to store (``send_rendered``), or the
    message sent before with this key when nobody receives it now."""
    _check_kind(kind)
    # The key's unique index decides whether this was sent before (the insert fails), so
    # the common case, a first send, costs no look-up.
    if to is not None:
        recipients = sorted(set(to))
    elif customer is not None:
        recipients = sorted(set(recipients)) if recipients is not None else recipients_for(customer, kind)
    else:
        recipients = []
    if not recipients:
        existing = Message.objects.filter(idempotency_key=idempotency_key).first()
        if existing:  # sent before, when someone still received this kind of mail
            return existing
        raise NoRecipients(f"No contact of {customer} receives {kind} mail." if customer else "No recipient given.")
    provider = _provider(provider)
    text, html = add_footer(text, html, provider)
    text, html, pending = mask_secrets(text, html, secrets)
    now = timezone.now()
    fields = {
        "customer": customer,
        "person": person,
        "direction": Message.Direction.OUTBOUND,
        "kind": kind,
        "status": Message.Status.QUEUED,
        "message_id": make_msgid(domain=settings.PORTAL_MAIL_DOMAIN)[1:-1],
        "idempotency_key": idempotency_key,
        "from_address": sender_for(kind, provider),
        "to_addresses": recipients,
        "subject": subject,
        "body_text": text,
        "body_html": html,
        "template": template,
        "in_reply_to": in_reply_to,
        "thread": in_reply_to.thread_root if in_reply_to else None,
        "related_type": ContentType.objects.get_for_model(related) if related is not None else None,
        "related_id": str(related.pk) if related is not None else "",
        "created_by": created_by,
        "created_at": now,
        "next_attempt_at": now,
        "pending_secrets": pending,
    }
    return fields, attachments


def _store(fields: dict, attachments: Sequence[Attachment]) -> tuple[Message, bool]:
    """Store one prepared message; (it, True), or (the one stored before with its key, False)."""
    try:
        with transaction.atomic():
            return _create(fields, attachments), True
    except IntegrityError:
        # Sent before, or a concurrent call with the same key won the race: that one is sent, not this.
        existing = Message.objects.filter(idempotency_key=fields["idempotency_key"]).first()
        if existing is None:
            raise
        return existing, False


def _stored_files(attachments: Sequence[Attachment]) -> list[tuple[Attachment, str, str]]:
    """Each attachment with its file's (name, SHA-256) in private storage, storing it if need be."""
    return [
        (attachment, *(attachment.stored or store_file("mail/attachments", attachment.filename, attachment.content)))
        for attachment in attachments
    ]


def _attachment_row(message: Message, attachment: Attachment, name: str, digest: str) -> MessageAttachment:
    return MessageAttachment(
        message=message,
        filename=attachment.filename[:255],
        content_type=attachment.content_type[:255],
        size=len(attachment.content),
        sha256=digest,
        file=name,
    )


def _create_many(prepared: list[tuple[dict, list[tuple[Attachment, str, str]]]]) -> list[tuple[Message, bool]]:
    """Store prepared messages and their attachments: one INSERT for the messages and one for
    the attachments, in one transaction (a savepoint in the caller's). Raises IntegrityError,
    storing none, when any key was used already."""
    messages = [Message(**fields) for fields, _ in prepared]
    # Whose rows they are is known: the messages' customers and people (for their kept pages).
    with (
        transaction.atomic(),
        pagecache.writes_for(
            customers={m.customer_id for m in messages} - {None}, people={m.person_id for m in messages} - {None}
        ),
    ):
        Message.objects.bulk_create(messages)
        if any(message.pk is None for message in messages):  # a database that returns no ids from bulk inserts
            ids = dict(
                Message.objects.filter(idempotency_key__in=[m.idempotency_key for m in messages]).values_list(
                    "idempotency_key", "pk"
                )
            )
            for message in messages:
                message.pk = ids[message.idempotency_key]
        MessageAttachment.objects.bulk_create(
            [
                _attachment_row(message, *stored)
                for message, (_, attachments) in zip(messages, prepared, strict=True)
                for stored in attachments
            ]
        )
    return [(message, True) for message in messages]
