"""The billing run: one invoice per customer per period, issued (issue 4).

Idempotent by the database, not by a check: ``Invoice.one_invoice_per_customer_period``
lets only one invoice exist per customer and period. Each customer is billed in its own
transaction (create the invoice, add its lines, issue it, apply account credit), so a
crash loses at most the customer in hand; rerunning skips everyone already invoiced.
A second run going at the same time blocks on the unique index until the first commits,
then gets an IntegrityError (or finds the invoice) and moves on: nothing is created twice.

Progress (total, done, created) is written to the ``BillingRun`` row outside the
per-customer transactions, so staff see it move in the admin.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

from celery import shared_task
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from accounts.models import Customer, ProviderDetails
from billing.models import (
    BillingPeriod,
    BillingRun,
    ExchangeRate,
    Invoice,
    InvoiceLine,
    OneOffCharge,
    Payment,
    Subscription,
)

logger = logging.getLogger(__name__)


def _add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    return day.replace(year=day.year + month // 12, month=month % 12 + 1, day=1)


def period_bounds(period_start: dt.date, months: int = 1) -> tuple[dt.date, dt.date]:
    """A billing period of ``months`` calendar months starting on the first of a month."""
    start = period_start.replace(day=1)
    return start, _add_months(start, months) - dt.timedelta(days=1)


def due_subscriptions(period_start: dt.date):
    """Subscriptions with days still to bill up to the end of the period, of active customers.

    Not yet billed for the period (``billed_until`` before it), started by its end, and not
    ended before the first day still unbilled: a subscription that started and ended between
    two runs is due at the next one, for the days it ran.
    """
    _, period_end = period_bounds(period_start)
    return (
        Subscription.objects.filter(service__customer__status=Customer.Status.ACTIVE, started_on__lte=period_end)
        .filter(Q(billed_until__isnull=True) | Q(billed_until__lt=period_start))
        .filter(Q(ended_on__isnull=True) | Q(billed_until__isnull=True) | Q(ended_on__gt=F("billed_until")))
        .select_related("plan", "service")
        .order_by("service__customer_id", "started_on", "pk")
    )


def catch_up_bounds(sub: Subscription, period_start: dt.date) -> tuple[dt.date, dt.date] | None:
    """Days before ``period_start`` that a never-billed subscription ran and no invoice covers:
    it started in the previous month, after that month's run (or before the run, and the run
    is billing it now). Subscriptions that started earlier and were never billed (imported
    with their history) are billed from the period on, never for years back."""
    start = sub.billed_until + dt.timedelta(days=1) if sub.billed_until is not None else sub.started_on
    previous_month = _add_months(period_start, -1)
    if start >= period_start or start < previous_month:
        return None
    return start, min(period_start - dt.timedelta(days=1), sub.ended_on or period_start)


class _Taken(Exception):
    """Another run inserted this customer's invoice for the period first."""


def _bill_customer(customer: Customer, period_start: dt.date, provider: ProviderDetails | None) -> bool:
    """Invoice ``customer`` for the period; False when an invoice for it already exists.

    The customer's row is locked and read again first, and their due subscriptions read
    under the lock, so a customer or service changed by staff while the run was going is
    billed as it is now. The invoice and its lines are built in memory and written once
    each (the draft is this transaction's own, so issuing it needs no second look-up).
    """
    try:
        with transaction.atomic():
            return _bill_customer_locked(customer, period_start, provider)
    except _Taken as taken:
        # Another run inserted it between our look-up and our insert: it is theirs. Any
        # other refused insert is an error, reported with the customer.
        theirs = Invoice.objects.filter(customer=customer, period_start=period_start).filter(
            Q(kind=Invoice.Kind.INVOICE) | (Q(kind=Invoice.Kind.PRO_FORMA) & ~Q(status=Invoice.Status.CANCELLED))
        )
        if not theirs.exists():
            raise taken.__cause__ from None
        return False


def _period_invoices(period_start: dt.date):
    return Invoice.objects.filter(kind=Invoice.Kind.INVOICE, period_start=period_start)


def _existing_invoice(customer: Customer, period_start: dt.date) -> Invoice | None:
    return _period_invoices(period_start).filter(customer=customer).first()


def _waiting_charges():
    """One-off charges not yet on an invoice."""
    return OneOffCharge.objects.filter(invoice_line__isnull=True)


def _bill_customer_locked(customer: Customer, period_start: dt.date, provider: ProviderDetails | None) -> bool:
    from billing.payments import apply_credit
    from billing.proforma import use_payment_request_if_pro_forma_mode
    from billing.services import InvoiceError, _issue_locked, build_line, decide_line_rates, prorate

    _, period_end = period_bounds(period_start)
    issued_on = max(timezone.localdate(), period_start)
    # As it is now: its name, address, country and VAT number go on the invoice and decide
    # the VAT. Read with it under the same lock, so that most customers cost one statement
    # here, not four: whether the period is invoiced already, and whether one-off charges or
    # payments (record_payment locks the customer too) are there to look at.
    customer = (
        Customer.objects.select_for_update()
        .annotate(
            period_invoiced=Exists(_period_invoices(period_start).filter(customer=OuterRef("pk"))),
            has_charges=Exists(_waiting_charges().filter(customer=OuterRef("pk"))),
            has_payments=Exists(Payment.objects.filter(customer=OuterRef("pk"))),
        )
        .get(pk=customer.pk)
    )
    existing = _existing_invoice(customer, period_start) if customer.period_invoiced else None
    if existing is not None:
        if existing.status == Invoice.Status.DRAFT:
            # The run's own drafts never outlive its transaction: this one is staff's.
            raise InvoiceError(
                f"{customer} has a draft invoice for {period_start:%B %Y} ({existing}): issue or delete it, then "
                "run the billing again for this customer."
            )
        return False
    subscriptions = list(due_subscriptions(period_start).filter(service__customer=customer))
    mispriced = sorted({str(sub.plan) for sub in subscriptions if sub.plan.currency != customer.currency})
    if mispriced:
        raise InvoiceError(
            f"{customer} is billed in {customer.currency} but {', '.join(mispriced)} is priced in another "
            "currency: move the service to a plan in the customer's currency, or change the customer's currency."
        )
    # Foreign currency: the rate in force on the invoice date, for the sterling totals (DOMAIN.md §1).
    rate = ExchangeRate.in_force(customer.currency, issued_on) if customer.currency != "GBP" else None
    invoice = Invoice(
        customer=customer,
        kind=Invoice.Kind.INVOICE,
        period_start=period_start,
        period_end=period_end,
        currency=customer.currency,
        gbp_rate=rate.gbp_per_unit if rate else None,
        gbp_rate_source=rate.source if rate else "",
        gbp_rate_date=rate.valid_from if rate else None,
    )
    lines = []
    for sub in subscriptions:
        months = BillingPeriod(sub.plan.period).months
        catch_up = catch_up_bounds(sub, period_start)
        if catch_up is not None:
            # Daily, at the plan's monthly price, over the month the days fall in.
            month_start, month_end = period_bounds(catch_up[0])
            lines.append(
                build_line(
                    invoice,
                    description=f"{sub.plan.name}: {sub.service.name}, {catch_up[0]:%-d %b %Y} to "
                    f"{catch_up[1]:%-d %b %Y} (prorated, not billed before)",
                    quantity=1,
                    unit_price=prorate(sub.plan.price / months, month_start, month_end, *catch_up),
                    vat_category=sub.plan.vat_category,
                    subscription=sub,
                    period_start=catch_up[0],
                    period_end=catch_up[1],
                )
            )
        line_start, line_end = period_bounds(period_start, months)
        line_end_billed = line_end
        if sub.ended_on is None or sub.ended_on >= line_start:
            amount = prorate(sub.plan.price, line_start, line_end, sub.started_on, sub.ended_on)
            active_from = max(line_start, sub.started_on)
            active_to = min(line_end, sub.ended_on or line_end)
            partial = (active_from, active_to) != (line_start, line_end)
            description = f"{sub.plan.name}: {sub.service.name}, {active_from:%-d %b %Y} to {active_to:%-d %b %Y}"
            if partial:
                description += " (prorated)"
            lines.append(
                build_line(
                    invoice,
                    description=description,
                    quantity=1,
                    unit_price=amount,
                    vat_category=sub.plan.vat_category,
                    subscription=sub,
                    period_start=active_from,
                    period_end=active_to,
                )
            )
        else:
            line_end_billed = sub.ended_on  # ended before this period: only the catch-up
        if sub.plan.setup_fee and not sub.setup_fee_invoiced:
            lines.append(
                build_line(
                    invoice,
                    description=f"Setup of {sub.service.name} ({sub.plan.name})",
                    quantity=1,
                    unit_price=sub.plan.setup_fee,
                    vat_category=sub.plan.vat_category,
                    subscription=sub,
                )
            )
            sub.setup_fee_invoiced = True
        sub.billed_until = line_end_billed
    # One-off charges staff added since the last invoice go on this one, once.
    charges = list(_waiting_charges().select_for_update().filter(customer=customer)) if customer.has_charges else []
    charge_lines = [
        build_line(
            invoice,
            description=charge.description,
            quantity=charge.quantity,
            unit_price=charge.unit_price,
            vat_category=charge.vat_category,
        )
        for charge in charges
    ]
    lines += charge_lines
    if not lines:
        # Everything due was taken by a concurrent change (e.g. the last service ended
        # before the period): nothing to invoice, nothing written.
        return False
    # A quarterly or annual plan bills ahead.
    invoice.period_end = max([period_end, *(s.billed_until for s in subscriptions)])
    # Pro-forma mode (issue 4): bill with a payment request instead of a VAT invoice (billing.proforma).
    if not use_payment_request_if_pro_forma_mode(invoice, provider):
        return False
    # The rates as issuing decides them (a pro-forma's on its request date), so the lines
    # are written once, with them.
    decide_line_rates(invoice, lines, on=issued_on)
    try:
        invoice.save()
    except IntegrityError as exc:
        raise _Taken from exc  # leaves the transaction through its rollback
    InvoiceLine.objects.bulk_create(lines)
    # One UPDATE per distinct outcome (usually one): cheaper than bulk_update's CASE per row.
    billed: dict[tuple[dt.date, bool], list[int]] = {}
    for sub in subscriptions:
        billed.setdefault((sub.billed_until, sub.setup_fee_invoiced), []).append(sub.pk)
    for (billed_until, setup_fee_invoiced), pks in billed.items():
        Subscription.objects.filter(pk__in=pks).update(billed_until=billed_until, setup_fee_invoiced=setup_fee_invoiced)
    for charge, line in zip(charges, charge_lines, strict=True):
        if line.pk is None:  # SQLite before 3.35 (refused at start-up by billing.checks)
            raise RuntimeError("The database returned no ids from the bulk insert of the invoice's lines.")
        OneOffCharge.objects.filter(pk=charge.pk).update(invoice_line=line)
    _issue_locked(invoice, lines=lines, provider=provider, issued_on=issued_on)
    # An overpayment or earlier credit settles the new invoice straight away.
    apply_credit(customer, has_payments=customer.has_payments)
    return True


def run_billing(
    period_start: dt.date, *, customer: Customer | None = None, run: BillingRun | None = None, actor=None
) -> BillingRun:
    """Invoice every active customer (or one) with subscriptions due for the period, or
    one-off charges waiting.

    Safe to rerun, and to run twice at once: see the module docstring.
    """
    period_start = period_start.replace(day=1)
    if run is None:
        run = BillingRun.objects.create(period_start=period_start, customer=customer, started_by=actor)
    customer = customer or run.customer
    subscriptions = due_subscriptions(period_start)
    if customer is not None:
        subscriptions = subscriptions.filter(service__customer=customer)
    # Customers already invoiced for the period (by an earlier, crashed or concurrent run) are
    # skipped; a staff draft for the period is reported by _bill_customer.
    invoiced = (
        Invoice.objects.filter(kind=Invoice.Kind.INVOICE, period_start=period_start)
        .exclude(status=Invoice.Status.DRAFT)
        .values("customer_id")
    )
    by_customer: dict[int, list[Subscription]] = {}
    for sub in subscriptions.exclude(service__customer__in=invoiced):
        by_customer.setdefault(sub.service.customer_id, []).append(sub)
    # Customers with one-off charges waiting and nothing else due (e.g. after their last
    # service ended) are invoiced for those alone.
    charges = _waiting_charges().filter(customer__status=Customer.Status.ACTIVE).exclude(customer__in=invoiced)
    if customer is not None:
        charges = charges.filter(customer=customer)
    for customer_id in charges.values_list("customer_id", flat=True).distinct():
        by_customer.setdefault(customer_id, [])
    customers = Customer.objects.in_bulk(list(by_customer))

    BillingRun.objects.filter(pk=run.pk).update(
        status=BillingRun.Status.RUNNING,
        total=len(by_customer),
        done=0,
        error="",
        finished_at=None,
        progressed_at=timezone.now(),
    )
    # The seller's details as the run starts go on all its invoices (a resumed run reads them again).
    provider = ProviderDetails.current()
    errors = []
    done = created = 0  # not yet written to the run's row
    written_at = time.monotonic()
    for customer_id in by_customer:
        try:
            created += _bill_customer(customers[customer_id], period_start, provider)
        except Exception as exc:  # one customer's problem (e.g. no VAT rate) must not stop the run
            logger.exception("Billing run %s: customer %s failed", run.pk, customer_id)
            errors.append(f"{customers[customer_id]}: {exc}")
        done += 1
        if time.monotonic() - written_at >= PROGRESS_EVERY:
            _progress(run, done, created)
            done = created = 0
            written_at = time.monotonic()
    _progress(run, done, created)
    BillingRun.objects.filter(pk=run.pk).update(
        status=BillingRun.Status.FAILED if errors else BillingRun.Status.DONE,
        error="\n".join(errors),
        finished_at=timezone.now(),
    )
    run.refresh_from_db()
    return run


# Progress goes to the run's row (what staff see in the admin) at most this often, in seconds.
PROGRESS_EVERY = 1.0


def _progress(run: BillingRun, done: int, created: int) -> None:
    BillingRun.objects.filter(pk=run.pk).update(
        done=F("done") + done, created=F("created") + created, progressed_at=timezone.now()
    )


def billing_day_in(month_day: dt.date, billing_day: int) -> dt.date:
    """The billing day in ``month_day``'s month; the last day when the month is shorter."""
    _, last = period_bounds(month_day)
    return month_day.replace(day=min(billing_day, last.day))


@shared_task
def billing_run_task() -> int | None:
    """Daily (django-celery-beat): on the provider's billing day, bill the current month."""
    provider = ProviderDetails.current()
    today = timezone.localdate()
    if provider is None or today != billing_day_in(today, provider.billing_day):
        return None
    return run_billing(today.replace(day=1)).pk


@shared_task
def run_billing_task(run_pk: int) -> int:
    """Carry out (or resume) a billing run that staff started in the admin."""
    run = BillingRun.objects.get(pk=run_pk)
    return run_billing(run.period_start, run=run).pk
