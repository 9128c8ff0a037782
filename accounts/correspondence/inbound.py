"""The inbound archive: every email a customer sends us is kept.

``receive(raw)`` stores the raw RFC 5322 bytes first, then parses them. A message
that cannot be parsed, or whose sender cannot be matched to one customer, waits in
quarantine for staff. Nothing is dropped:

- the same bytes delivered twice are stored once; a different message that reuses a
  stored message's Message-ID is stored as its own message, flagged
  (``reused_message_id``) and threaded by its other headers;
- what the database cannot hold is made storable with a note: NUL characters in parsed
  fields are replaced by U+FFFD, lone surrogates too, over-long values are cut;
- anything that still fails once the raw bytes are safe ends in quarantine with the
  reason, so a message is never retried for ever. Only a failure to store anything at
  all (the database is down) reaches the caller.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import logging
import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import getaddresses, make_msgid, parseaddr

import nh3
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.dispatch import Signal
from django.utils import timezone

from accounts.audit import System
from accounts.correspondence import conversations, senders
from accounts.correspondence.gateway import Attachment, store_attachments, store_file
from accounts.correspondence.models import MailKind, Message, MessageAttachment
from accounts.models import Membership, ProviderDetails

logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 50 * 1024 * 1024  # larger messages are kept raw, unparsed, in quarantine
MAX_BODY_CHARS = 1_000_000  # the stored text and HTML; the raw message keeps the rest
_MSGID = re.compile(r"<([^<>\s]+)>")
REPLACEMENT = "\ufffd"  # what a NUL or a lone surrogate in a parsed field becomes
INBOUND_ACTOR = System("inbound mail")


def _limit(model, name: str) -> int:
    return model._meta.get_field(name).max_length


FROM_MAX = _limit(Message, "from_address")
SUBJECT_MAX = _limit(Message, "subject")
MESSAGE_ID_MAX = _limit(Message, "message_id")
IN_REPLY_TO_MAX = _limit(Message, "in_reply_to_header")
FILENAME_MAX = _limit(MessageAttachment, "filename")
CONTENT_TYPE_MAX = _limit(MessageAttachment, "content_type")
HEADER_VALUE_MAX = 2000


@dataclass
class Parsed:
    message_id: str
    from_address: str
    to_addresses: list[str]
    subject: str
    text: str
    html: str
    headers: dict[str, str]
    in_reply_to: str
    references: list[str]
    authentication_results: list[str] = field(default_factory=list)
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Characters had to be replaced, or the From address cut, to store it (make_storable):
    # staff check it before the customer sees a copy that differs from what was sent.
    needs_review: bool = False


def _header(msg: EmailMessage, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception as exc:  # a malformed header: keep what we can read of it
        raw = msg._headers and dict(msg._headers).get(name)
        logger.info("Unreadable %s header (%s)", name, exc)
        return str(raw or "")
    return "" if value is None else str(value)


def _decode_part(part) -> str:
    try:
        return part.get_content()
    except (LookupError, UnicodeError, AssertionError, KeyError):
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", errors="replace")


def parse(raw: bytes) -> Parsed:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    if not msg.keys():
        raise ValueError("no headers: this is not an email message")
    text, html, attachments, notes = [], [], [], []
    for part in msg.walk():
        if part.is_multipart():
            continue
        disposition = part.get_content_disposition()
        content_type = part.get_content_type()
        if disposition != "attachment" and content_type == "text/plain" and not text:
            text.append(_decode_part(part))
        elif disposition != "attachment" and content_type == "text/html" and not html:
            html.append(_decode_part(part))
        else:
            payload = part.get_payload(decode=True) or b""
            name = part.get_filename() or f"part-{len(attachments) + 1}"
            if len(payload) > settings.PORTAL_INBOUND_MAX_ATTACHMENT_BYTES:
                notes.append(
                    f"Attachment {name!r} ({len(payload)} bytes) is over the size limit: "
                    "it is kept only in the raw message."
                )
                continue
            attachments.append((name, content_type, payload))
    body_text, body_html = "".join(text), "".join(html)
    if len(body_text) > MAX_BODY_CHARS or len(body_html) > MAX_BODY_CHARS:
        notes.append("The body is longer than can be shown: the full text is in the raw message.")
    message_id = _MSGID.search(_header(msg, "Message-ID"))
    return Parsed(
        message_id=message_id.group(1) if message_id else "",
        from_address=parseaddr(_header(msg, "From"))[1].lower(),
        to_addresses=[addr.lower() for _, addr in getaddresses([_header(msg, "To"), _header(msg, "Cc")]) if addr],
        subject=" ".join(_header(msg, "Subject").split()),
        text=body_text[:MAX_BODY_CHARS],
        html=body_html[:MAX_BODY_CHARS],
        headers={k: str(v) for k, v in list(msg.items())[:100]},
        in_reply_to=" ".join(_MSGID.findall(_header(msg, "In-Reply-To"))),
        references=_MSGID.findall(_header(msg, "References")),
        authentication_results=[str(value) for value in (msg.get_all("Authentication-Results") or [])],
        attachments=attachments,
        notes=notes,
    )


def _storable(value: str) -> str:
    """``value`` without what a database cannot hold in text: NULs (PostgreSQL refuses
    them) and lone surrogates (not UTF-8), each replaced by U+FFFD."""
    if "\x00" in value:
        value = value.replace("\x00", REPLACEMENT)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


def make_storable(parsed: Parsed) -> Parsed:
    """Parsed fields the database can hold, with a note for each one changed on the way.

    The raw message is kept as it came; only the parsed copy shown to staff and customers
    loses NUL characters (replaced by U+FFFD) and what is longer than its column.
    """
    altered: list[str] = []
    cut: list[str] = []

    def clean(value: str, what: str, limit: int | None = None) -> str:
        storable = _storable(value)
        if storable != value:
            altered.append(what)
        if limit is not None and len(storable) > limit:
            cut.append(f"{what} ({len(storable)} characters, kept {limit})")
            storable = storable[:limit]
        return storable

    headers: dict[str, str] = {}
    for name, value in parsed.headers.items():
        headers[clean(name, f"the {name!r} header name")] = clean(value, f"the {name!r} header", HEADER_VALUE_MAX)
    result = Parsed(
        message_id=clean(parsed.message_id, "the Message-ID", MESSAGE_ID_MAX),
        from_address=clean(parsed.from_address, "the From address", FROM_MAX),
        to_addresses=[clean(address, "a To or Cc address", FROM_MAX) for address in parsed.to_addresses],
        subject=clean(parsed.subject, "the Subject", SUBJECT_MAX),
        text=clean(parsed.text, "the text body"),
        html=clean(parsed.html, "the HTML body"),
        headers=headers,
        in_reply_to=clean(parsed.in_reply_to, "the In-Reply-To header", IN_REPLY_TO_MAX),
        references=[clean(ref, "the References header", MESSAGE_ID_MAX) for ref in parsed.references],
        authentication_results=list(parsed.authentication_results),  # only read, never stored
        attachments=[
            (
                clean(name, f"the attachment name {name!r}", FILENAME_MAX),
                clean(content_type, "an attachment's content type", CONTENT_TYPE_MAX),
                payload,
            )
            for name, content_type, payload in parsed.attachments
        ],
        notes=[_storable(note) for note in parsed.notes],
    )
    if altered:
        result.notes.append(
            "NUL characters or invalid Unicode replaced by \ufffd in "
            + ", ".join(dict.fromkeys(altered))
            + ": the raw message keeps the original."
        )
    if cut:
        result.notes.append("Cut to fit: " + "; ".join(dict.fromkeys(cut)) + ". The raw message keeps the whole value.")
    result.needs_review = bool(altered) or len(result.from_address) < len(_storable(parsed.from_address))
    return result


def sanitise_html(html: str) -> str:
    """HTML from outside, made safe to show in the portal (no scripts, no remote loads)."""
    return nh3.clean(html, tags=nh3.ALLOWED_TAGS - {"img"}, link_rel="noopener noreferrer nofollow")


def _customers_of(address: str) -> set:
    return {
        m.customer
        for m in Membership.objects.filter(
            user__emailaddress__email__iexact=address,
            user__emailaddress__verified=True,
        ).select_related("customer")
    }


def _sent_by_its_person(parent: Message, address: str) -> bool:
    return (
        bool(address)
        and parent.person is not None
        and parent.person.emailaddress_set.filter(email__iexact=address, verified=True).exists()
    )


def _match(parsed: Parsed, *, verified: bool):
    """(customer, parent message, why not matched). Replies first, then the sender's address.

    A reply joins the conversation it quotes only if the sender is verified, or is a
    contact of that conversation's customer (or its person): quoting one of our
    Message-IDs proves nothing, since they travel in every email we send.
    """
    customers = _customers_of(parsed.from_address) if parsed.from_address else set()
    wanted = [*filter(None, parsed.in_reply_to.split()), *reversed(parsed.references)]
    refused = ""
    if wanted:
        parent = (
            Message.objects.filter(message_id__in=wanted)
            .filter(Q(customer__isnull=False) | Q(person__isnull=False))
            .select_related("customer", "person")
            .order_by("-created_at")
            .first()
        )
        if parent and (
            verified
            or (parent.customer is not None and parent.customer in customers)
            or (parent.customer is None and _sent_by_its_person(parent, parsed.from_address))
        ):
            # A reply to mail about one person (their own privacy request) stays theirs alone.
            return parent.customer, parent, ""
        if parent:
            refused = (
                f"It quotes our message <{parent.message_id}>, but its sender is not verified and is not a contact "
                "of that conversation: it was not added to it."
            )
    if not parsed.from_address:
        return None, None, " ".join(filter(None, ["The message has no sender address.", refused]))
    if len(customers) == 1:
        return customers.pop(), None, refused
    if customers:
        problem = f"{parsed.from_address} is a contact of {len(customers)} customers: choose one."
    else:
        problem = f"{parsed.from_address} is not the address of any contact."
    return None, None, " ".join(filter(None, [problem, refused]))


def kind_for(to_addresses: list[str]) -> str:
    """Mail to billing@ is billing, to abuse@ abuse, to privacy@ privacy; anything else service."""
    provider = ProviderDetails.current()
    if provider:
        by_address = {
            provider.billing_email.lower(): MailKind.BILLING,
            provider.abuse_email.lower(): MailKind.ABUSE,
            provider.privacy_email.lower(): MailKind.PRIVACY,
        }
        for address in to_addresses:
            if address in by_address:
                return by_address[address]
    return MailKind.SERVICE


# Sent once an inbound message to the abuse address is stored, with ``message``. The abuse
# desk (privacy.abuse, above accounts) answers by filing the reports in it, and returns
# True when it has. The message itself stays where the archive put it.
abuse_mail_received = Signal()


def route_to_abuse_desk(message: Message) -> bool:
    """Hand an inbound abuse message to the abuse desk; whether it took it.

    Whatever goes wrong there, the message stays stored (in quarantine, for staff)."""
    if message.direction != Message.Direction.INBOUND or message.kind != MailKind.ABUSE:
        return False
    try:
        with transaction.atomic():
            handled = any(response for _, response in abuse_mail_received.send(sender=Message, message=message))
    except Exception:
        logger.exception("The abuse desk could not take inbound message %s; it stays in quarantine", message.pk)
        return False
    return handled


def receive(raw: bytes, *, source: str = "pipe") -> Message:
    """Store one raw message; return the stored (or previously stored, same bytes) row.

    Mail to the abuse address then goes to the abuse desk (``abuse_mail_received``).
    Raises only if nothing could be stored (the database or the storage is unavailable):
    the caller then keeps the message and tries again later.
    """
    message = _receive(raw, source=source)
    route_to_abuse_desk(message)
    return message


def _receive(raw: bytes, *, source: str) -> Message:
    digest = hashlib.sha256(raw).hexdigest()
    duplicate = Message.objects.filter(direction=Message.Direction.INBOUND, raw_sha256=digest).first()
    if duplicate:
        return duplicate
    raw_name, _ = store_file("mail/raw", f"{digest}.eml", raw)
    fields = {
        "direction": Message.Direction.INBOUND,
        "kind": MailKind.SERVICE,
        "raw": raw_name,
        "raw_sha256": digest,
        "created_at": timezone.now(),
        "headers": {"X-Portal-Source": _storable(source)},
    }
    try:
        # A savepoint: a database error on the way (PostgreSQL then refuses every statement
        # until a rollback) leaves the caller's transaction usable for the quarantine below.
        with transaction.atomic():
            return _receive_parsed(raw, fields)
    except Exception as exc:  # the raw bytes are safe: whatever else fails ends in quarantine
        logger.exception("Inbound message %s could not be stored as read; quarantined raw", digest[:12])
        return _store(
            {
                **fields,
                "status": Message.Status.QUARANTINED,
                "message_id": make_msgid(domain="unstored.invalid")[1:-1],
                "parse_error": _storable(
                    f"Could not store this message as read ({exc.__class__.__name__}: {exc}); the raw message is kept."
                ),
            },
            [],
        )


def _receive_parsed(raw: bytes, fields: dict) -> Message:
    fields = dict(fields)  # the caller's copy stays as it was, for the quarantine of last resort
    try:
        if len(raw) > MAX_MESSAGE_BYTES:
            raise ValueError(f"the message is {len(raw)} bytes, over the {MAX_MESSAGE_BYTES}-byte limit")
        parsed = make_storable(parse(raw))
    except Exception as exc:  # anything the parser chokes on is kept raw for staff
        logger.warning("Inbound message %s could not be parsed: %s", fields["raw_sha256"][:12], exc)
        return _store(
            {
                **fields,
                "status": Message.Status.QUARANTINED,
                "message_id": make_msgid(domain="unparsed.invalid")[1:-1],
                "parse_error": _storable(f"Could not read this message: {exc}"),
            },
            [],
        )
    sender = senders.check(parsed.from_address, parsed.authentication_results)
    customer, parent, problem = _match(parsed, verified=sender.verified)
    notes = [problem, *parsed.notes]
    if parsed.needs_review:
        notes.insert(0, "Quarantined for staff to check: parts of this message had to be changed to be stored.")
    reused = parsed.message_id if message_id_taken(parsed.message_id) else ""
    if reused:
        notes.append(_reuse_note(reused))
    matched = bool(customer or (parent and parent.person_id))
    fields.update(
        customer=customer,
        person=parent.person if parent else None,
        kind=parent.kind if parent else kind_for(parsed.to_addresses),
        status=Message.Status.RECEIVED if matched and not parsed.needs_review else Message.Status.QUARANTINED,
        message_id=parsed.message_id if parsed.message_id and not reused else _local_message_id(),
        reused_message_id=reused,
        from_address=parsed.from_address,
        to_addresses=parsed.to_addresses,
        subject=parsed.subject,
        body_text=parsed.text,
        body_html=sanitise_html(parsed.html) if parsed.html else "",
        headers={**parsed.headers, **fields["headers"]},
        in_reply_to=parent,
        in_reply_to_header=parsed.in_reply_to,
        thread=parent.thread_root if parent else None,
        parse_error="\n".join(filter(None, notes)).strip(),
        sender_verified=sender.verified,
        sender_check=sender.detail[:300],
    )
    return _store(fields, parsed.attachments, claimed_message_id=parsed.message_id)


def message_id_taken(message_id: str) -> bool:
    """Whether a stored message, in either direction, already has ``message_id``."""
    return bool(message_id) and Message.objects.filter(message_id=message_id).exists()


def _local_message_id() -> str:
    return make_msgid(domain="inbound.invalid")[1:-1]


def _reuse_note(message_id: str) -> str:
    return (
        f"This message reuses the Message-ID <{message_id}> of another stored message with different "
        "content: it is stored as its own message under a new identifier."
    )


def _store(fields: dict, attachments: list[tuple[str, str, bytes]], *, claimed_message_id: str = "") -> Message:
    """Create the row and its attachments in one transaction.

    Two arrivals at once can collide: the same bytes (the other copy is the message), or
    two different messages with the same Message-ID (the second is stored under a new
    identifier, flagged, like any reuse found before storing).
    """
    for _attempt in range(3):
        try:
            with transaction.atomic():
                message = Message.objects.create(**fields)
                store_attachments(
                    message,
                    [Attachment(name, payload, content_type) for name, content_type, payload in attachments],
                )
                # A customer wrote: their conversation waits for us (a quarantined message once assigned).
                conversations.customer_wrote(message, actor=INBOUND_ACTOR)
        except IntegrityError:
            same_bytes = Message.objects.filter(raw_sha256=fields["raw_sha256"]).first()
            if same_bytes is not None:
                return same_bytes
            if not message_id_taken(fields.get("message_id", "")):
                raise
            reused = claimed_message_id or fields["message_id"]
            fields = {
                **fields,
                "message_id": _local_message_id(),
                "reused_message_id": reused,
                "parse_error": "\n".join(filter(None, [fields.get("parse_error", ""), _reuse_note(reused)])),
            }
            continue
        return message
    raise IntegrityError("could not give the message an unused Message-ID")


def assign(message: Message, customer, *, actor) -> Message:
    """Staff move a quarantined message to the customer it belongs to."""
    with transaction.atomic():
        locked = Message.objects.select_for_update().get(pk=message.pk)
        if locked.direction != Message.Direction.INBOUND or locked.status != Message.Status.QUARANTINED:
            raise ValueError("Only quarantined inbound messages can be assigned.")
        locked.customer, locked.status = customer, Message.Status.RECEIVED
        locked.triaged_by, locked.triaged_at = actor, timezone.now()
        locked.save(update_fields=["customer", "status", "triaged_by", "triaged_at"])
        conversations.customer_wrote(locked, actor=actor)
    return locked


def reject(message: Message, *, actor) -> Message:
    """Staff mark a quarantined message as not from a customer (spam). It is still kept."""
    with transaction.atomic():
        locked = Message.objects.select_for_update().get(pk=message.pk)
        if locked.status != Message.Status.QUARANTINED:
            raise ValueError("Only quarantined messages can be rejected.")
        locked.status, locked.triaged_by, locked.triaged_at = Message.Status.REJECTED, actor, timezone.now()
        locked.save(update_fields=["status", "triaged_by", "triaged_at"])
    return locked
