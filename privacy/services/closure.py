"""Ending a customer's relationship with us, the first step of erasing the whole customer.

An erasure of a whole customer must not leave the account open and billed. Before the
erasure engine erases anything, ``end_relationship`` ends the relationship through each
app's own rules, in the erasure's transaction (all or nothing):

1. every callback an upper app registered with ``on_end_relationship`` runs (billing
   registers one in ``BillingConfig.ready``: it stops the subscriptions, crediting days
   already invoiced beyond the last day, and reports money still owed). Privacy does not
   import those apps; they fill in this hook, as they declare their data to the registry;
2. the customer's services end on the last day;
3. the account is closed, with the date, so that every record kept has a retention end
   counted from the closure.

A callback that cannot end its part (a payment request still unpaid, say) raises a
``ValidationError`` naming the problem, and the whole erasure is refused and rolled back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from accounts.models import Customer, Service
from accounts.services import end_service_record


@dataclass
class RelationshipEnd:
    """What ending (part of) a relationship did, and what is still owed."""

    done: list[str] = field(default_factory=list)  # for staff: each step taken
    owed: list[str] = field(default_factory=list)  # for staff: each amount still owed (kept to recover it)

    def add(self, other: RelationshipEnd) -> None:
        self.done += other.done
        self.owed += other.owed


EndCallback = Callable[..., RelationshipEnd]
_callbacks: dict[str, EndCallback] = {}


def on_end_relationship(name: str, callback: EndCallback) -> None:
    """Register ``callback(customer, *, last_day, actor) -> RelationshipEnd`` under ``name``
    (registering the same name again replaces it, so ``ready`` may run twice)."""
    _callbacks[name] = callback


def end_relationship(customer: Customer, *, actor, last_day: dt.date | None = None) -> RelationshipEnd:
    """End everything the customer has with us, then close the account (see the module doc).

    An account already closed is left as it is: its relationship has ended.
    """
    last_day = last_day or timezone.localdate()
    ended = RelationshipEnd()
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        if locked.status == Customer.Status.CLOSED:
            return ended
        for name in sorted(_callbacks):
            ended.add(_callbacks[name](locked, last_day=last_day, actor=actor))
        for service in Service.objects.filter(customer=locked).exclude(status=Service.Status.ENDED).order_by("pk"):
            end_service_record(service, actor=actor, reason="The account was closed.", last_day=last_day)
            ended.done.append(f"Service {service.name} ended on {service.ended_on:%-d %B %Y}.")
        locked.status = Customer.Status.CLOSED
        locked.closed_at = timezone.now()
        locked.save()
        ended.done.append(f"Account closed on {timezone.localtime(locked.closed_at):%-d %B %Y}.")
    customer.refresh_from_db()
    return ended
