"""Correspondence actions used by the portal and the admin: their one write path."""

from __future__ import annotations

from collections.abc import Sequence
from email.utils import make_msgid

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.correspondence import conversations, delivery, gateway
from accounts.correspondence.models import MailKind, Message, receives
from accounts.models import Membership

MAX_PORTAL_ATTACHMENTS = 5


@transaction.atomic
def write_to_us(
    membership,
    *,
    kind: str,
    subject: str,
    body: str,
    attachments: Sequence[gateway.Attachment] = (),
    in_reply_to: Message | None = None,
) -> Message:
    """A contact writes to us from the portal: kept as inbound correspondence, acknowledged by email.

    With ``in_reply_to`` (a message of the customer's the contact may see) it is written in
    that conversation, in its kind, and reopens it if it was closed.
    """
    if in_reply_to is not None:
        if in_reply_to.customer_id != membership.customer_id:
            raise ValueError("You can write only in your own customer's conversations.")
        kind = in_reply_to.kind
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
        in_reply_to=in_reply_to,
        thread=in_reply_to.thread_root if in_reply_to is not None else None,
        created_by=membership.user,
        created_at=timezone.now(),
    )
    gateway.store_attachments(message, attachments[:MAX_PORTAL_ATTACHMENTS])
    conversations.customer_wrote(message, actor=membership.user)
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


def writer_of(message: Message) -> Membership | None:
    """The contact of the message's customer who wrote ``message``, if a contact did."""
    if message.direction != Message.Direction.INBOUND or message.customer_id is None:
        return None
    contacts = Membership.objects.filter(customer_id=message.customer_id, user__is_active=True).select_related("user")
    if message.created_by_id:  # written in the portal
        return contacts.filter(user_id=message.created_by_id).first()
    if not message.from_address:
        return None
    return (
        contacts.filter(
            Q(user__email__iexact=message.from_address)
            | Q(user__emailaddress__email__iexact=message.from_address, user__emailaddress__verified=True)
        )
        .order_by("pk")
        .first()
    )


def reply_options(original: Message) -> QuerySet[Membership]:
    """The contacts a reply to ``original`` may go to: the customer's contacts whose role
    receives its kind of mail (models.RECIPIENT_ROLES), and the contact who wrote it."""
    writer = writer_of(original)
    allowed = receives(original.kind)
    if writer is not None:
        allowed |= Q(pk=writer.pk)
    return (
        Membership.objects.filter(customer_id=original.customer_id, user__is_active=True)
        .filter(allowed)
        .select_related("user")
        .order_by("user__email")
    )


def default_recipients(original: Message) -> list[Membership]:
    """Who a reply goes to unless staff choose: the contact who wrote ``original``; for a
    message of ours, the contacts it went to. Empty when neither is a contact."""
    writer = writer_of(original)
    if writer is not None:
        return [writer]
    if original.direction == Message.Direction.OUTBOUND:
        sent_to = {address.lower() for address in original.to_addresses}
        return [m for m in reply_options(original) if m.user.email.lower() in sent_to]
    return []


@transaction.atomic
def reply(
    original: Message,
    *,
    body: str,
    actor,
    attachments: Sequence[gateway.Attachment] = (),
    to: Sequence[Membership] | None = None,
    close: bool = False,
) -> Message:
    """Staff reply to a customer's message in the same thread, to the contacts ``to`` (by
    default the one who wrote it, else the contacts by role), and the conversation then
    waits for the customer (or is closed, with ``close``).

    Only the customer's own contacts can receive it (``reply_options``): any other is refused.
    """
    if original.customer_id is None:
        raise ValueError("Assign the message to a customer before replying.")
    if to is None:
        chosen = default_recipients(original)
    else:
        chosen = list(to)
        if not chosen:
            raise ValueError("Choose at least one of the customer's contacts to send the reply to.")
        allowed = set(reply_options(original).values_list("pk", flat=True))
        refused = [membership for membership in chosen if membership.pk not in allowed]
        if refused:
            raise ValueError(
                f"{', '.join(str(m.user.email) for m in refused)}: not a contact of {original.customer} "
                f"who may receive {original.get_kind_display().lower()} mail; the reply was not sent."
            )
    sent = gateway.send_mail(
        kind=original.kind,
        template="staff_reply",
        context={"original": original, "body": body},
        customer=original.customer,
        # The chosen contacts; with nobody chosen and no writer to answer, the contacts by role.
        to=[membership.user.email for membership in chosen] or None,
        idempotency_key=f"reply:{original.pk}:{timezone.now().isoformat()}:{actor.pk}",
        in_reply_to=original,
        attachments=attachments,
        created_by=actor,
    )
    conversations.staff_replied(sent, actor=actor, close=close)
    return sent


def retry_failed(message_id: int) -> bool:
    """Staff ask for a failed message to be tried again (admin action). Returns whether it was."""
    if not delivery.mark_for_retry(message_id):
        return False
    gateway.message_queued.send(sender=Message, message_pk=message_id)  # delivered after the commit
    return True
