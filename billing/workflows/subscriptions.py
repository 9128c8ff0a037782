"""Starting, changing and ending subscriptions part-way through a period (proration).

The billing run bills in advance: on the billing day it invoices the month (or the quarter
or year, for such plans) for every subscription due, prorated by the day when the service
starts or ends inside the period (``billing.documents.periods.prorate``). What happens between runs
is handled here, by the same daily rule:

- **Start** (``start_subscription``): the run bills it. If the month's run has not been
  yet, it prorates the first period; if it has, the next run bills the days since the
  start (in the previous month) as a catch-up line before the new period
  (``billing.workflows.run.catch_up_bounds``). Every day billed is on an invoice line that names the
  subscription and its dates, which is what ending a subscription credits against.
- **End** (``end_subscription``): the last day of service is recorded. If the subscription
  was already invoiced beyond it, the unused days of each invoiced line are credited with a
  credit note on that invoice (VAT reg 15: the VAT credited at the rate charged). A line
  billed on a payment request still unpaid (pro-forma mode) is not credited: no VAT invoice
  exists yet to correct; the error names the request, which staff cancel first
  (``billing.workflows.proforma.cancel_payment_request``).
- **Change of plan** (``change_plan``): the end of the old subscription the day before and
  the start of a new one on the new plan on the day, both as above.

Every function runs in one transaction with the customer's row locked
(``billing.documents.locking``), so it is all or nothing.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from accounts import audit
from accounts import services as account_services
from accounts.audit import Actor
from billing.documents.locking import lock_customer
from billing.models import BillingRun, Invoice, InvoiceLine, Plan, Subscription
from billing.money import to_money
from billing.workflows.settlement import credit_invoice


class SubscriptionError(ValidationError):
    """The subscription cannot be started, changed or ended as asked; the message says why."""


def _billed_documents(customer):
    """Periods the run has billed for the customer (a cancelled invoice still holds its period)."""
    return Invoice.objects.filter(
        customer=customer, kind__in=(Invoice.Kind.INVOICE, Invoice.Kind.PRO_FORMA), period_start__isnull=False
    ).exclude(status=Invoice.Status.DRAFT)


@transaction.atomic
def start_subscription(service, plan: Plan, *, on: dt.date, actor: Actor) -> Subscription:
    """Bill ``service`` on ``plan`` from the day ``on`` (see the module docstring)."""
    customer = service.customer
    lock_customer(customer)
    if not plan.active:
        raise SubscriptionError(f"{plan} is no longer sold: choose an active plan.")
    if plan.currency != customer.currency:
        raise SubscriptionError(
            f"{plan} is priced in {plan.currency}; {customer} is billed in {customer.currency}: choose a "
            f"plan in {customer.currency}."
        )
    if service.subscriptions.filter(ended_on__isnull=True).exists():
        raise SubscriptionError(f"{service} already has a subscription: change its plan or end it first.")
    month = on.replace(day=1)
    # The run catches up only the month before the one it bills: a start before the latest
    # month billed would leave days unbilled. That month is the customer's latest invoice,
    # or the latest run over everyone (which billed them nothing if nothing was due, as for
    # a quarterly plan mid-quarter or a new customer).
    runs = BillingRun.objects.filter(Q(customer__isnull=True) | Q(customer=customer)).exclude(
        status=BillingRun.Status.QUEUED
    )
    later = Q(period_start__gt=month)
    if _billed_documents(customer).filter(later).exists() or runs.filter(later).exists():
        raise SubscriptionError(
            f"{customer} has been billed for a period after {on:%B %Y}: start the subscription in the "
            "current period and add earlier service as a one-off charge."
        )
    subscription = Subscription.objects.create(service=service, plan=plan, started_on=on)
    audit.record(
        "subscription.started",
        actor=actor,
        target=subscription,
        customer=customer,
        summary=f"Started billing {service.name} on {plan.name} from {on:%-d %B %Y}",
    )
    return subscription


@transaction.atomic
def end_subscription(subscription: Subscription, *, last_day: dt.date, actor: Actor) -> list[Invoice]:
    """End ``subscription`` after ``last_day``; returns the credit notes issued for days
    already invoiced beyond it (see the module docstring)."""
    customer = subscription.service.customer
    lock_customer(customer)
    sub = Subscription.objects.select_for_update().select_related("service", "plan").get(pk=subscription.pk)
    if sub.ended_on is not None:
        raise SubscriptionError(f"{sub} already ended on {sub.ended_on:%-d %B %Y}.")
    if last_day < sub.started_on:
        raise SubscriptionError(f"{sub} started on {sub.started_on:%-d %B %Y}: its last day cannot be before that.")
    lines = list(
        InvoiceLine.objects.filter(subscription=sub, period_end__gt=last_day, period_start__isnull=False)
        .exclude(invoice__status__in=(Invoice.Status.DRAFT, Invoice.Status.CANCELLED))
        .select_related("invoice")
        .order_by("period_start", "pk")
    )
    # A paid request's lines were copied onto its VAT invoice, which is credited instead.
    unpaid_requests = [
        line.invoice.number
        for line in lines
        if line.invoice.kind == Invoice.Kind.PRO_FORMA and line.invoice.status != Invoice.Status.PAID
    ]
    if unpaid_requests:
        raise SubscriptionError(
            f"{sub} is billed beyond {last_day:%-d %B %Y} on payment request(s) {', '.join(unpaid_requests)} "
            "that are not VAT invoices, so there is nothing to credit: cancel the request first (Invoices → Cancel "
            "payment requests…), then end the service."
        )
    credits: dict[int, list[dict]] = {}
    for line in lines:
        if line.invoice.kind != Invoice.Kind.INVOICE:
            continue  # a credit note's own line
        unused_from = max(line.period_start, last_day + dt.timedelta(days=1))
        unused_days = (line.period_end - unused_from).days + 1
        line_days = (line.period_end - line.period_start).days + 1
        amount = to_money(line.quantity * line.unit_price * unused_days / line_days, line.invoice.currency)
        if amount > Decimal(0):
            credits.setdefault(line.invoice_id, []).append(
                {
                    "description": f"{sub.plan.name}: {sub.service.name}, unused "
                    f"{unused_from:%-d %b %Y} to {line.period_end:%-d %b %Y}",
                    "quantity": 1,
                    "unit_price": amount,
                    "vat_category": line.vat_category,
                    "vat_rate": line.vat_rate,
                    "period_start": unused_from,
                    "period_end": line.period_end,
                }
            )
    notes = [
        credit_invoice(
            Invoice.objects.get(pk=invoice_id),
            lines=note_lines,
            reason=f"{sub.service.name} ended on {last_day:%-d %B %Y}",
            actor=actor,
        )
        for invoice_id, note_lines in credits.items()
    ]
    sub.ended_on = last_day
    if sub.billed_until and sub.billed_until > last_day:
        sub.billed_until = last_day
    sub.save(update_fields=["ended_on", "billed_until"])
    credited = f", credited by {', '.join(note.number for note in notes)}" if notes else ""
    audit.record(
        "subscription.ended",
        actor=actor,
        target=sub,
        customer=customer,
        changes={"ended_on": [None, last_day.isoformat()]},
        summary=f"Ended billing {sub.service.name} on {sub.plan.name} after {last_day:%-d %B %Y}{credited}",
    )
    subscription.ended_on, subscription.billed_until = sub.ended_on, sub.billed_until
    return notes


@transaction.atomic
def end_service(subscription: Subscription, *, last_day: dt.date, actor: Actor) -> list[Invoice]:
    """End the subscription and the service it bills: billing stops (with credit notes for
    days already invoiced) and the service shows its end date, then its ended state."""
    notes = end_subscription(subscription, last_day=last_day, actor=actor)
    service = subscription.service
    if not service.subscriptions.filter(Q(ended_on__isnull=True) | Q(ended_on__gt=last_day)).exists():
        try:
            account_services.end_service(service, last_day=last_day, actor=actor)
        except ValidationError as exc:
            raise SubscriptionError(exc.messages) from None
    return notes


@transaction.atomic
def change_plan(subscription: Subscription, plan: Plan, *, on: dt.date, actor: Actor) -> Subscription:
    """Bill the service on ``plan`` from ``on``: the old subscription ends the day before."""
    if plan.pk == subscription.plan_id:
        raise SubscriptionError(f"{subscription} is already on {plan}.")
    if on <= subscription.started_on:
        raise SubscriptionError(f"{subscription} started on {subscription.started_on:%-d %B %Y}: change it later.")
    end_subscription(subscription, last_day=on - dt.timedelta(days=1), actor=actor)
    return start_subscription(subscription.service, plan, on=on, actor=actor)
