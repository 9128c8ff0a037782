"""Billing's part in ending a customer's relationship before their erasure.

Registered with privacy's ``on_end_relationship`` hook in ``BillingConfig.ready``: every
subscription still running ends on the last day by the usual rule (days already invoiced
beyond it are credited), and money still owed on the account is reported, so that the
records needed to recover it are kept and the person is told so in general terms.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from billing.models import Invoice, Subscription
from billing.workflows.subscriptions import end_subscription
from privacy.services.closure import RelationshipEnd


def end_billing(customer, *, last_day: dt.date, actor=None) -> RelationshipEnd:
    ended = RelationshipEnd()
    running = Subscription.objects.filter(service__customer=customer, ended_on__isnull=True).select_related("plan")
    for subscription in running.order_by("pk"):
        notes = end_subscription(subscription, last_day=last_day, actor=actor)
        credited = f", credited by {', '.join(note.number for note in notes)}" if notes else ""
        ended.done.append(f"Subscription {subscription} ended on {last_day:%-d %B %Y}{credited}.")
    for document in Invoice.objects.with_balance().filter(customer=customer, balance__gt=Decimal(0)).order_by("pk"):
        ended.owed.append(f"{document.number}: {document.balance} {document.currency} due")
    return ended
