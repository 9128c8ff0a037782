"""Conversations: whose turn it is in a thread of correspondence, which desk answers it, and who.

The one write path for ``Conversation``. Each change runs in a transaction with its audit
event (``accounts.audit.record``), on the conversation's row lock:

- a customer's new message (portal, inbound email verified or not, or a quarantined one
  staff assign) makes it *waiting for us*, reopening it if it was closed;
- a staff reply makes it *waiting for customer* (or closed, if staff close it with the reply);
- staff or the customer close it; closing a closed one does nothing, so two at once record one.

Mail we send on our own (an invoice, an acknowledgement) changes nothing.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts import audit
from accounts.correspondence.models import KIND_DEPARTMENTS, Conversation, Department, Message
from accounts.models import ProviderDetails

Status = Conversation.Status


def department_for(message: Message) -> str:
    """The desk for a thread, from the first message of it a customer wrote: the provider
    address it was sent to (support@, billing@, abuse@, privacy@), else its kind of mail."""
    provider = ProviderDetails.current()
    if provider is not None and message.direction == Message.Direction.INBOUND:
        desks = {
            provider.support_email.lower(): Department.SUPPORT,
            provider.billing_email.lower(): Department.BILLING,
            provider.abuse_email.lower(): Department.ABUSE,
            provider.privacy_email.lower(): Department.PRIVACY,
        }
        for address in message.to_addresses:
            if address.lower() in desks:
                return desks[address.lower()]
    return KIND_DEPARTMENTS.get(message.kind, Department.SUPPORT)


def _locked(message: Message, *, status: str) -> tuple[Conversation, bool]:
    """The conversation of ``message``'s thread, locked; made with ``status`` if it has none yet."""
    root = message.thread_root
    conversation, created = Conversation.objects.get_or_create(
        root=root, defaults={"status": status, "department": department_for(message)}
    )
    return Conversation.objects.select_for_update(of=("self",)).select_related("root").get(pk=conversation.pk), created


def _set_status(conversation: Conversation, status: str, *, actor, action: str, summary: str) -> bool:
    old = conversation.status
    if old == status:
        return False
    conversation.status, conversation.status_since = status, timezone.now()
    conversation.save(update_fields=["status", "status_since"])
    audit.record(
        action,
        actor=actor,
        target=conversation,
        customer=conversation.root.customer,
        changes={"status": [old, status]},
        summary=summary,
    )
    return True


@transaction.atomic
def customer_wrote(message: Message, *, actor) -> Conversation | None:
    """A customer's message is in a thread: it now waits for us (reopened if it was closed).

    Only messages filed with a customer count; quarantined ones count once staff assign them.
    """
    if (
        message.direction != Message.Direction.INBOUND
        or message.status != Message.Status.RECEIVED
        or message.customer_id is None
    ):
        return None
    conversation, created = _locked(message, status=Status.WAITING_FOR_US)
    if created:
        audit.record(
            "conversation.opened",
            actor=actor,
            target=conversation,
            customer=message.customer,
            changes={"status": [None, Status.WAITING_FOR_US], "department": [None, conversation.department]},
            summary=f"{message.from_address or 'The customer'} wrote: {message.subject or '(no subject)'}"[:300],
        )
    else:
        reopened = conversation.status == Status.CLOSED
        _set_status(
            conversation,
            Status.WAITING_FOR_US,
            actor=actor,
            action="conversation.reopened" if reopened else "conversation.waiting_for_us",
            summary=f"{message.from_address or 'The customer'} wrote again"
            + (": the conversation is open again" if reopened else ""),
        )
    return conversation


@transaction.atomic
def staff_replied(reply: Message, *, actor, close: bool = False) -> Conversation:
    """Staff answered in ``reply``'s thread: it now waits for the customer, or is closed."""
    status = Status.CLOSED if close else Status.WAITING_FOR_CUSTOMER
    conversation, created = _locked(reply, status=status)
    who = ", ".join(reply.to_addresses)
    if created:
        audit.record(
            "conversation.opened",
            actor=actor,
            target=conversation,
            customer=reply.customer,
            changes={"status": [None, status], "department": [None, conversation.department]},
            summary=f"Replied to {who}"[:300],
        )
    else:
        changed = _set_status(
            conversation,
            status,
            actor=actor,
            action="conversation.closed" if close else "conversation.waiting_for_customer",
            summary=f"Replied to {who}" + (" and closed the conversation" if close else ""),
        )
        if not changed:
            audit.record(
                "conversation.replied", actor=actor, target=conversation, summary=f"Replied again to {who}"[:300]
            )
    return conversation


@transaction.atomic
def close(conversation: Conversation, *, actor) -> bool:
    """Close ``conversation``; whether this call closed it. Already closed: nothing happens,
    so two people (or two clicks) closing it at once record one closing: the second waits
    for the first's row lock, then finds it closed."""
    locked = Conversation.objects.select_for_update(of=("self",)).select_related("root").get(pk=conversation.pk)
    who = getattr(actor, "email", str(actor))
    closed = _set_status(
        locked, Status.CLOSED, actor=actor, action="conversation.closed", summary=f"{who} closed the conversation"
    )
    conversation.status, conversation.status_since = locked.status, locked.status_since
    return closed


@transaction.atomic
def change(conversation: Conversation, *, actor, department: str | None = None, assignee=...) -> bool:
    """Staff move a conversation to another desk, or give it to someone (``None``: nobody).
    Whether anything changed."""
    locked = (
        Conversation.objects.select_for_update(of=("self",)).select_related("root", "assignee").get(pk=conversation.pk)
    )
    before = {"department": locked.department, "assignee": locked.assignee}
    if department is not None:
        if department not in Department.values:
            raise ValueError(f"{department!r} is not a desk; the desks are: {', '.join(Department.values)}.")
        locked.department = department
    if assignee is not ...:
        if assignee is not None and not (assignee.is_staff and assignee.is_active):
            raise ValueError(f"{assignee} is not an active member of staff: a conversation goes to staff only.")
        locked.assignee = assignee
    changes = audit.diff(before, {"department": locked.department, "assignee": locked.assignee})
    if not changes:
        return False
    locked.save(update_fields=["department", "assignee"])
    parts = []
    if "department" in changes:
        parts.append(f"moved to {locked.get_department_display()}")
    if "assignee" in changes:
        parts.append(f"assigned to {locked.assignee}" if locked.assignee else "unassigned")
    audit.record(
        "conversation.changed",
        actor=actor,
        target=locked,
        customer=locked.root.customer,
        changes=changes,
        summary=("; ".join(parts)).capitalize(),
    )
    conversation.department, conversation.assignee = locked.department, locked.assignee
    return True
