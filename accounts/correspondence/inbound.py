"""The inbound archive: every email a customer sends us is kept.

``receive(raw)`` stores the raw RFC 5322 bytes first, then parses them. A message
that cannot be parsed, or whose sender cannot be matched to one customer, waits in
quarantine for staff. Nothing is dropped; the same message delivered twice (same
bytes, or same Message-ID) is stored once.
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
from django.utils import timezone

from accounts.correspondence.gateway import Attachment, store_attachments, store_file
from accounts.correspondence.models import MailKind, Message
from accounts.models import Membership, ProviderDetails

logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 50 * 1024 * 1024  # larger messages are kept raw, unparsed, in quarantine
MAX_BODY_CHARS = 1_000_000  # the stored text and HTML; the raw message keeps the rest
_MSGID = re.compile(r"<([^<>\s]+)>")


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
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


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
        message_id=message_id.group(1)[:250] if message_id else "",
        from_address=parseaddr(_header(msg, "From"))[1].lower(),
        to_addresses=[addr.lower() for _, addr in getaddresses([_header(msg, "To"), _header(msg, "Cc")]) if addr],
        subject=" ".join(_header(msg, "Subject").split())[:998],
        text=body_text[:MAX_BODY_CHARS],
        html=body_html[:MAX_BODY_CHARS],
        headers={k: str(v)[:2000] for k, v in list(msg.items())[:100]},
        in_reply_to=" ".join(_MSGID.findall(_header(msg, "In-Reply-To"))),
        references=_MSGID.findall(_header(msg, "References")),
        attachments=attachments,
        notes=notes,
    )


def sanitise_html(html: str) -> str:
    """HTML from outside, made safe to show in the portal (no scripts, no remote loads)."""
    return nh3.clean(html, tags=nh3.ALLOWED_TAGS - {"img"}, link_rel="noopener noreferrer nofollow")


def _match(parsed: Parsed):
    """(customer, parent message, why not matched). Replies first, then the sender's address."""
    wanted = [*filter(None, parsed.in_reply_to.split()), *reversed(parsed.references)]
    if wanted:
        parent = (
            Message.objects.filter(message_id__in=wanted)
            .filter(Q(customer__isnull=False) | Q(person__isnull=False))
            .select_related("customer")
            .order_by("-created_at")
            .first()
        )
        if parent:
            # A reply to mail about one person (their own privacy request) stays theirs alone.
            return parent.customer, parent, ""
    if not parsed.from_address:
        return None, None, "The message has no sender address."
    customers = {
        m.customer
        for m in Membership.objects.filter(
            user__emailaddress__email__iexact=parsed.from_address,
            user__emailaddress__verified=True,
        ).select_related("customer")
    }
    if len(customers) == 1:
        return customers.pop(), None, ""
    if customers:
        return None, None, f"{parsed.from_address} is a contact of {len(customers)} customers: choose one."
    return None, None, f"{parsed.from_address} is not the address of any contact."


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


def receive(raw: bytes, *, source: str = "pipe") -> Message:
    """Store one raw message; return the stored (or previously stored) row."""
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
        "headers": {"X-Portal-Source": source},
    }
    try:
        if len(raw) > MAX_MESSAGE_BYTES:
            raise ValueError(f"the message is {len(raw)} bytes, over the {MAX_MESSAGE_BYTES}-byte limit")
        parsed = parse(raw)
    except Exception as exc:  # anything the parser chokes on is kept raw for staff
        logger.warning("Inbound message %s could not be parsed: %s", digest[:12], exc)
        return _store(
            {
                **fields,
                "status": Message.Status.QUARANTINED,
                "message_id": make_msgid(domain="unparsed.invalid")[1:-1],
                "parse_error": f"Could not read this message: {exc}",
            },
            [],
        )
    if parsed.message_id:
        same = Message.objects.filter(message_id=parsed.message_id).first()
        if same and same.direction == Message.Direction.INBOUND:
            return same  # the same message delivered twice (e.g. fetched and piped)
    customer, parent, problem = _match(parsed)
    fields.update(
        customer=customer,
        person=parent.person if parent else None,
        kind=parent.kind if parent else kind_for(parsed.to_addresses),
        status=Message.Status.RECEIVED if (customer or (parent and parent.person_id)) else Message.Status.QUARANTINED,
        message_id=parsed.message_id
        if parsed.message_id and not Message.objects.filter(message_id=parsed.message_id).exists()
        else make_msgid(domain="inbound.invalid")[1:-1],
        from_address=parsed.from_address,
        to_addresses=parsed.to_addresses,
        subject=parsed.subject,
        body_text=parsed.text,
        body_html=sanitise_html(parsed.html) if parsed.html else "",
        headers={**parsed.headers, **fields["headers"]},
        in_reply_to=parent,
        in_reply_to_header=parsed.in_reply_to[:998],
        thread=parent.thread_root if parent else None,
        parse_error="\n".join([problem, *parsed.notes]).strip(),
    )
    return _store(fields, parsed.attachments)


def _store(fields: dict, attachments: list[tuple[str, str, bytes]]) -> Message:
    try:
        with transaction.atomic():
            message = Message.objects.create(**fields)
            store_attachments(
                message, [Attachment(name, payload, content_type) for name, content_type, payload in attachments]
            )
    except IntegrityError:
        # The same message arriving twice at once: the other copy was stored.
        existing = (
            Message.objects.filter(raw_sha256=fields["raw_sha256"]).first()
            or Message.objects.filter(message_id=fields.get("message_id")).first()
        )
        if existing is None:
            raise
        return existing
    return message


def assign(message: Message, customer, *, actor) -> Message:
    """Staff move a quarantined message to the customer it belongs to."""
    with transaction.atomic():
        locked = Message.objects.select_for_update().get(pk=message.pk)
        if locked.direction != Message.Direction.INBOUND or locked.status != Message.Status.QUARANTINED:
            raise ValueError("Only quarantined inbound messages can be assigned.")
        locked.customer, locked.status = customer, Message.Status.RECEIVED
        locked.triaged_by, locked.triaged_at = actor, timezone.now()
        locked.save(update_fields=["customer", "status", "triaged_by", "triaged_at"])
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
