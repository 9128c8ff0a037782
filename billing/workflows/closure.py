"""Billing's part in ending a customer's relationship before their erasure.

Registered with privacy's ``on_end_relationship`` hook in ``BillingConfig.ready``, by the
usual rules: the billing run for the current period bills the customer whatever is due
and not yet invoiced (service since the last invoice, one-off charges waiting), as it
would have on its day; then every subscription still running ends on the last day (days
already invoiced beyond it are credited). Money still owed on the account is reported,
so that the records needed to recover it are kept and the person is told so in general
terms. A run that fails refuses the erasure with its reason.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.exceptions import ValidationError

from billing.models import BillingRun, Invoice, OneOffCharge, Subscription
from billing.workflows.run import run_billing
from billing.workflows.subscriptions import end_subscription
from privacy.services.closure import RelationshipEnd


def end_billing(customer, *, last_day: dt.date, actor=None) -> RelationshipEnd:
    ended = RelationshipEnd()
    run = run_billing(last_day.replace(day=1), customer=customer, actor=actor)
    if run.status == BillingRun.Status.FAILED:
        raise ValidationError(f"The final billing run failed: {run.error}")
    final = Invoice.objects.filter(customer=customer, kind__in=(Invoice.Kind.INVOICE, Invoice.Kind.PRO_FORMA))
    for document in final.filter(created_at__gte=run.created_at).exclude(status=Invoice.Status.DRAFT):
        ended.done.append(f"Final document {document.number} issued.")
    for charge in OneOffCharge.objects.filter(customer=customer, invoice_line__isnull=True):
        ended.done.append(f"One-off charge not invoiced (the period was already invoiced): {charge.description}.")
    running = Subscription.objects.filter(service__customer=customer, ended_on__isnull=True).select_related("plan")
    for subscription in running.order_by("pk"):
        notes = end_subscription(subscription, last_day=last_day, actor=actor)
        credited = f", credited by {', '.join(note.number for note in notes)}" if notes else ""
        ended.done.append(f"Subscription {subscription} ended on {last_day:%-d %B %Y}{credited}.")
    for document in Invoice.objects.with_balance().filter(customer=customer, balance__gt=Decimal(0)).order_by("pk"):
        ended.owed.append(f"{document.number}: {document.balance} {document.currency} due")
    return ended
