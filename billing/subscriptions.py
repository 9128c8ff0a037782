"""Starting, changing and ending subscriptions part-way through a period (issue 4: proration).

The billing run bills in advance: on the billing day it invoices the month (or the quarter
or year, for such plans) for every subscription due, prorated by the day when the service
starts or ends inside the period (``billing.services.prorate``). What happens between runs
is handled here, by the same daily rule:

- **Start** (``start_subscription``): if the customer has not yet been billed for the month
  the service starts in, nothing more is needed: the run prorates the first period. If it
  has (the run has already been), the part of that period from the start day is added as a
  one-off charge (and the setup fee, if any), so the next invoice carries it, and the
  subscription counts as billed to that period's end.
- **End** (``end_subscription``): the last day of service is recorded. If the subscription
  was already invoiced beyond it, the unused days of each invoiced line are credited with a
  credit note on that invoice (VAT reg 15: the VAT credited at the rate charged). A line
  billed on a payment request still unpaid (pro-forma mode) is not credited: no VAT invoice
  exists yet to correct; the unused part is named in the error so staff can cancel it.
- **Change of plan** (``change_plan``): the end of the old subscription the day before and
  the start of a new one on the new plan on the day, both as above.

Every function runs in one transaction with the customer's row locked (the lock
``billing.payments`` takes), so it is all or nothing.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from billing.models import BillingPeriod, Invoice, InvoiceLine, OneOffCharge, Plan, Subscription
from billing.money import to_money
from billing.run import period_bounds
from billing.services import create_credit_note, prorate


class SubscriptionError(ValidationError):
    """The subscription cannot be started, changed or ended as asked; the message says why."""


def _lock_customer(customer) -> None:
    type(customer).objects.select_for_update().filter(pk=customer.pk).first()


def _billed_documents(customer):
    return Invoice.objects.filter(
        customer=customer, kind__in=(Invoice.Kind.INVOICE, Invoice.Kind.PRO_FORMA), period_start__isnull=False
    ).exclude(status__in=(Invoice.Status.DRAFT, Invoice.Status.CANCELLED))


@transaction.atomic
def start_subscription(service, plan: Plan, *, on: dt.date) -> Subscription:
    """Bill ``service`` on ``plan`` from the day ``on`` (see the module docstring)."""
    customer = service.customer
    _lock_customer(customer)
    if not plan.active:
        raise SubscriptionError(f"{plan} is no longer sold: choose an active plan.")
    if service.subscriptions.filter(ended_on__isnull=True).exists():
        raise SubscriptionError(f"{service} already has a subscription: change its plan or end it first.")
    month = on.replace(day=1)
    billed = _billed_documents(customer)
    if billed.filter(period_start__gt=month).exists():
        raise SubscriptionError(
            f"{customer} has been invoiced for a period after {on:%B %Y}: start the subscription in the "
            "current period and add earlier service as a one-off charge."
        )
    subscription = Subscription.objects.create(service=service, plan=plan, started_on=on)
    if billed.filter(period_start=month).exists():
        line_start, line_end = period_bounds(month, BillingPeriod(plan.period).months)
        amount = prorate(plan.price, line_start, line_end, on)
        OneOffCharge.objects.create(
            customer=customer,
            description=f"{plan.name}: {service.name}, {on:%-d %b %Y} to {line_end:%-d %b %Y} (prorated)",
            unit_price=amount,
            vat_category=plan.vat_category,
        )
        if plan.setup_fee:
            OneOffCharge.objects.create(
                customer=customer,
                description=f"Setup of {service.name} ({plan.name})",
                unit_price=plan.setup_fee,
                vat_category=plan.vat_category,
            )
        subscription.billed_until = line_end
        subscription.setup_fee_invoiced = True
        subscription.save(update_fields=["billed_until", "setup_fee_invoiced"])
    return subscription


@transaction.atomic
def end_subscription(subscription: Subscription, *, last_day: dt.date, actor=None) -> list[Invoice]:
    """End ``subscription`` after ``last_day``; returns the credit notes issued for days
    already invoiced beyond it (see the module docstring)."""
    customer = subscription.service.customer
    _lock_customer(customer)
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
            "that are not VAT invoices, so there is nothing to credit: cancel or reissue the request first."
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
        create_credit_note(
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
    subscription.ended_on, subscription.billed_until = sub.ended_on, sub.billed_until
    return notes


@transaction.atomic
def change_plan(subscription: Subscription, plan: Plan, *, on: dt.date, actor=None) -> Subscription:
    """Bill the service on ``plan`` from ``on``: the old subscription ends the day before."""
    if plan.pk == subscription.plan_id:
        raise SubscriptionError(f"{subscription} is already on {plan}.")
    if on <= subscription.started_on:
        raise SubscriptionError(f"{subscription} started on {subscription.started_on:%-d %B %Y}: change it later.")
    end_subscription(subscription, last_day=on - dt.timedelta(days=1), actor=actor)
    return start_subscription(subscription.service, plan, on=on)
