"""Which service held an address at a moment: the IP assignment history (accounts.IPAssignment).

Assignments are kept by day (``assigned_on``, ``released_on``, both in the provider's time
zone, and both days the service held the address). An event is matched on the day it
happened there: the assignment that contained the address on that day, an address inside
an assigned prefix included, and an address reassigned since goes to the service that
held it then. On the day an address moved from one service to another both held it, and
the day alone cannot say which: such a report waits for a person, with both named.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone

from accounts.models import IPAssignment, Service


@dataclass(frozen=True)
class Match:
    service: Service | None
    assignment: IPAssignment | None = None
    problem: str = ""


def held_on(address: str, day: dt.date):
    return (
        IPAssignment.objects.containing(address)
        .filter(assigned_on__lte=day)
        .filter(Q(released_on__isnull=True) | Q(released_on__gte=day))
        .select_related("service__customer")
        .order_by("-first_key", "last_key", "pk")
    )


def _held(assignment: IPAssignment) -> str:
    until = f"to {assignment.released_on}" if assignment.released_on else "onwards"
    service = assignment.service
    return f"service {service} of {service.customer} ({assignment.network}, {assignment.assigned_on} {until})"


def match(address: str, when: dt.datetime) -> Match:
    """The service ``address`` belonged to at ``when``, or why there is none."""
    day = timezone.localdate(when)
    candidates = list(held_on(address, day))
    services = {a.service_id: a for a in candidates}
    if len(services) == 1:
        return Match(candidates[0].service, candidates[0])
    if len(services) > 1:
        named = "; ".join(_held(a) for a in services.values())
        return Match(
            None,
            problem=f"on {day} {address} was held by more than one service (it moved that day): {named}. "
            "Choose the service the event came from.",
        )
    ever = list(IPAssignment.objects.containing(address).select_related("service__customer")[:3])
    if ever:
        return Match(
            None,
            problem=f"{address} was not assigned to any service on {day}; it was assigned to "
            + "; ".join(_held(a) for a in ever),
        )
    return Match(None, problem=f"{address} is not an address we have assigned to any service")
