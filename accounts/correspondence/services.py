"""Correspondence actions used by the portal and the admin: their one write path."""

from __future__ import annotations

from collections.abc import Sequence
from email.utils import make_msgid

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.correspondence import delivery, gateway
from accounts.correspondence.models import MailKind, Message

MAX_PORTAL_ATTACHMENTS = 5


@transaction.atomic
def write_to_us(
    membership, *, kind: str, subject: str, body: str, attachments: Sequence[gateway.Attachment] = ()
) -> Message:
    """A contact writes to us from the portal: kept as inbound correspondence, acknowledged by email."""
    if kind not in MailKind.values:
        raise gateway.UnknownMailKind(f"{kind!r} is not a topic we handle.")
    message = Message.objects.create(
        customer=membership.customer,
        direction=Message.Direction.INBOUND,
        kind=kind,
        status=Message.Status.RECEIVED,
        message_id=make_msgid(domain=settings.PORTAL_MAIL_DOMAIN)[1:-1],
        from_address=membership.user.email,
        to_addresses=[gateway.sender_for(kind)],
        subject=subject,
        body_text=body,
        headers={"X-Portal-Source": "portal"},
        # Written by the logged-in contact: their login vouches for the sender.
        sender_verified=True,
        sender_check="Written in the portal by the logged-in contact.",
        created_by=membership.user,
        created_at=timezone.now(),
    )
    gateway.store_attachments(message, attachments[:MAX_PORTAL_ATTACHMENTS])
    gateway.send_mail(
        kind=kind,
        template="acknowledgement",
        context={"original": message},
        to=[membership.user.email],
        customer=membership.customer,
        person=membership.user,
        idempotency_key=f"ack:{message.message_id}",
        in_reply_to=message,
        related=message,
    )
    return message


@transaction.atomic
def reply(original: Message, *, body: str, actor, attachments: Sequence[gateway.Attachment] = ()) -> Message:
    """Staff reply to a customer's message; it goes to the contacts by role, in the same thread."""
    if original.customer_id is None:
        raise ValueError("Assign the message to a customer before replying.")
    return gateway.send_mail(
        kind=original.kind,
        template="staff_reply",
        context={"original": original, "body": body},
        customer=original.customer,
        idempotency_key=f"reply:{original.pk}:{timezone.now().isoformat()}:{actor.pk}",
        in_reply_to=original,
        attachments=attachments,
        created_by=actor,
    )


def retry_failed(message_id: int) -> bool:
    """Staff ask for a failed message to be tried again (admin action). Returns whether it was."""
    if not delivery.mark_for_retry(message_id):
        return False
    gateway.message_queued.send(sender=Message, message_pk=message_id)  # delivered after the commit
    return True
