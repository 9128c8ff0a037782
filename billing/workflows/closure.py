"""Billing's part in ending a customer's relationship before their erasure.

Registered with privacy's ``on_end_relationship`` hook in ``BillingConfig.ready``, by the
usual rules: the billing run for the current period bills the customer whatever is due
and not yet invoiced (service since the last invoice, one-off charges waiting, last
month's usage), as it would have on its day. Then every subscription still running ends
on the last day (days already invoiced beyond it are credited). What is still unbilled
after that goes on a further VAT invoice issued that day: one-off charges added after
that period's invoice was issued (the run had nothing to put them on), and the bandwidth
usage of the closing month up to the last day, which is billed in arrears and so would
otherwise never be; the work was done, so it is billed, never silently dropped. Staff who
agreed to waive a charge delete it before the erasure (the admin allows that while it
is on no invoice). Money still owed on the account is reported,
so that the records needed to recover it are kept and the person is told so in general
terms. A run that fails refuses the erasure with its reason.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.audit import Actor
from billing.documents.totals import InvoiceError
from billing.issuing import add_line, issue_invoice
from billing.models import BillingRun, ExchangeRate, Invoice, OneOffCharge, Subscription
from billing.receivables.payments import apply_credit
from billing.usage.charges import usage_due, usage_lines, withdrawn_charges
from billing.usage.models import UsageCharge
from billing.vat import VatRuleError
from billing.workflows.run import run_billing
from billing.workflows.subscriptions import end_subscription
from privacy.services.closure import RelationshipEnd


def end_billing(customer, *, last_day: dt.date, actor: Actor) -> RelationshipEnd:
    ended = RelationshipEnd()
    run = run_billing(last_day.replace(day=1), customer=customer, actor=actor)
    if run.status == BillingRun.Status.FAILED:
        raise ValidationError(f"The final billing run failed: {run.error}")
    final = Invoice.objects.filter(customer=customer, kind__in=(Invoice.Kind.INVOICE, Invoice.Kind.PRO_FORMA))
    for document in final.filter(created_at__gte=run.created_at).exclude(status=Invoice.Status.DRAFT):
        ended.done.append(f"Final document {document.number} issued.")
    running = Subscription.objects.filter(service__customer=customer, ended_on__isnull=True).select_related("plan")
    for subscription in running.order_by("pk"):
        notes = end_subscription(subscription, last_day=last_day, actor=actor)
        credited = f", credited by {', '.join(note.number for note in notes)}" if notes else ""
        ended.done.append(f"Subscription {subscription} ended on {last_day:%-d %B %Y}{credited}.")
    further = bill_what_is_left(customer, last_day=last_day, actor=actor)
    if further is not None:
        invoice, charges, usage = further
        billed = []
        if charges:
            billed.append("one-off charges added after the final invoice: " + "; ".join(c.description for c in charges))
        if usage:
            billed.append(f"bandwidth usage from {usage[0].bill.first:%-d %B %Y} to {last_day:%-d %B %Y}")
        ended.done.append(f"Further invoice {invoice.number} issued for {' and '.join(billed)}.")
    for document in Invoice.objects.with_balance().filter(customer=customer, balance__gt=Decimal(0)).order_by("pk"):
        # Quantized: SQLite returns the annotated balance with the division's digits.
        balance = Decimal(document.balance).quantize(Decimal("0.01"))
        ended.owed.append(f"{document.number}: {balance} {document.currency} due")
    return ended


def bill_what_is_left(customer, *, last_day: dt.date, actor: Actor) -> tuple[Invoice, list, list] | None:
    """Issue a VAT invoice today for what no invoice has billed once the subscriptions have
    ended on ``last_day``: the customer's one-off charges on no invoice yet, and the
    bandwidth usage of the closing month up to ``last_day`` (billed in arrears, so no run
    would bill it once the account is closed), prorated as every usage line is (docs/usage.md).
    Returns the invoice, the charges and the usage lines; None when there is nothing to bill
    (no charge waiting, and no usage, or usage with nothing over its allowance or commit).

    A VAT invoice even in pro-forma mode: the relationship is ending and the work was done,
    so the tax point is now and there is no later invoice for a payment request to become."""
    charges = list(
        OneOffCharge.objects.select_for_update().filter(customer=customer, invoice_line__isnull=True).order_by("pk")
    )
    usage_subscriptions = list(usage_due(last_day).filter(service__customer=customer))
    today = timezone.localdate()
    rate = ExchangeRate.in_force(customer.currency, today) if customer.currency != "GBP" else None
    invoice = Invoice(
        customer=customer,
        kind=Invoice.Kind.INVOICE,
        currency=customer.currency,
        gbp_rate=rate.gbp_per_unit if rate else None,
        gbp_rate_source=rate.source if rate else "",
        gbp_rate_date=rate.valid_from if rate else None,
    )
    usage = usage_lines(invoice, usage_subscriptions, last_day)
    if not charges and not any(item.line.net > 0 for item in usage):
        return None
    invoice.save()
    for charge in charges:
        line = add_line(
            invoice,
            description=charge.description,
            quantity=charge.quantity,
            unit_price=charge.unit_price,
            vat_category=charge.vat_category,
        )
        OneOffCharge.objects.filter(pk=charge.pk).update(invoice_line=line)
    for item in usage:
        item.line.invoice = invoice
        item.line.save()
    withdrawn_charges([item.subscription for item in usage], last_day).delete()
    UsageCharge.objects.bulk_create([item.charge() for item in usage])
    try:
        issue_invoice(invoice, actor=actor, issued_on=today)
    except (InvoiceError, VatRuleError) as exc:
        reason = "; ".join(exc.messages) if isinstance(exc, InvoiceError) else str(exc)
        raise ValidationError(f"What was still to bill on closing the account could not be invoiced: {reason}") from exc
    apply_credit(customer, has_payments=True)  # credit on the account settles it, as the run does
    return invoice, charges, usage
