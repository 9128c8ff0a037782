"""The billing run: one invoice per customer per period, issued.

Idempotent by the database, not by a check: ``Invoice.one_invoice_per_customer_period``
lets only one invoice exist per customer and period. Customers are billed in groups of
``GROUP_SIZE``, each group in one transaction (lock the customers, create their invoices,
add the lines, issue them, apply account credit), so a crash loses at most the group in
hand; rerunning skips everyone already invoiced. A customer refused before anything is
written (a staff draft, no VAT rate) is left out and named; an error once the group is
being written rolls it back, and its customers are then billed one by one, each in its
own transaction, so that one customer's problem stops nobody else's invoice. A second
run going at the same time waits on the customers' locks (taken in primary-key order)
until the first commits, then finds their invoices (or, failing that, the unique index
refuses its own) and moves on: nothing is created twice.

Progress (total, done, created) is written to the ``BillingRun`` row in the transaction
of each group (or customer) it counts, so staff see it move in the admin as groups commit
and the counters are always exactly the committed work: a run killed mid-way and resumed
ends with its counters true for the whole run (``total`` every customer it billed or
tried, ``created`` every invoice it made, in its first life and since).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Exists, F, Q
from django.utils import timezone

from accounts.audit import Actor, person
from accounts.models import Customer, ProviderDetails
from billing.documents.periods import add_months, day_in_month, period_bounds, prorate
from billing.documents.totals import InvoiceError, build_line
from billing.issuing import decide_line_rates, issue_locked, record_issued
from billing.models import (
    BillingPeriod,
    BillingRun,
    BillingSettings,
    ExchangeRate,
    Invoice,
    InvoiceLine,
    OneOffCharge,
    Payment,
    Subscription,
    VatRate,
    document_emails,
)
from billing.receivables.payments import apply_credit
from billing.usage.charges import UsageLine, usage_due, usage_lines, withdrawn_charges
from billing.usage.models import UsageCharge
from billing.workflows.proforma import settle_paid_requests, use_payment_request_if_pro_forma_mode

logger = logging.getLogger(__name__)


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
    previous_month = add_months(period_start, -1)
    if start >= period_start or start < previous_month:
        return None
    return start, min(period_start - dt.timedelta(days=1), sub.ended_on or period_start)


class _Taken(Exception):
    """Another run inserted this customer's invoice for the period first."""


@dataclass(frozen=True)
class _Seller:
    """What the run reads once, as it starts: the seller's details and billing policy, and
    the date its documents carry (None: the day each group is issued)."""

    provider: ProviderDetails | None
    policy: BillingSettings
    issued_on: dt.date | None = None


def _bill_customer(
    customer: Customer, period_start: dt.date, seller: _Seller, *, actor: Actor, run_pk: int | None = None
) -> bool:
    """Invoice ``customer`` for the period; False when an invoice for it already exists.

    Counted on the run ``run_pk``; a customer refused or in error is not (the caller
    counts it)."""
    try:
        created, refused = _bill_customers(
            [customer], period_start, seller, actor=actor, run_pk=run_pk, count_refused=False
        )
    except _Taken as taken:
        # Another run inserted it between our look-up and our insert: it is theirs. Any
        # other refused insert is an error, reported with the customer.
        theirs = Invoice.objects.filter(customer=customer, period_start=period_start).filter(
            Q(kind=Invoice.Kind.INVOICE) | (Q(kind=Invoice.Kind.PRO_FORMA) & ~Q(status=Invoice.Status.CANCELLED))
        )
        if not theirs.exists():
            raise taken.__cause__ from None
        _progress(run_pk, 1, 0)  # done, by the other run
        return False
    if refused:
        (_customer, reason), *_others = refused
        raise reason
    return bool(created)


def _period_invoices(period_start: dt.date):
    return Invoice.objects.filter(kind=Invoice.Kind.INVOICE, period_start=period_start)


def _waiting_charges():
    """One-off charges not yet on an invoice."""
    return OneOffCharge.objects.filter(invoice_line__isnull=True)


def _bill_customers(
    customers: list[Customer],
    period_start: dt.date,
    seller: _Seller,
    *,
    actor: Actor,
    run_pk: int | None = None,
    count_refused: bool = True,
) -> tuple[int, list[tuple[Customer, Exception]]]:
    """Invoice ``customers`` for the period in one transaction; returns how many were
    invoiced, and the customers refused with the reason.

    Their rows are locked and read again first, and their due subscriptions read under the
    lock, so a customer or service changed by staff while the run was going is billed as it
    is now. The invoices and their lines are built in memory and written once each, all
    customers' together (the drafts are this transaction's own, so issuing them needs no
    second look-up). A customer whose invoice is refused while it is being built is left
    out and returned; an error once the group is being written rolls back the whole group,
    and ``run_billing`` then bills its customers one by one, to invoice the others and
    name the one in error. The customers and invoices are counted on the run ``run_pk``
    in the same transaction (without the refused ones unless ``count_refused``).
    """
    with transaction.atomic():
        # The day it is issued, whatever period it bills.
        issued_on = seller.issued_on or timezone.localdate()
        # As they are now: name, address, country and VAT number go on the invoice and
        # decide the VAT. Locked in primary-key order, as every group is.
        locked = list(
            Customer.objects.select_for_update().filter(pk__in=[customer.pk for customer in customers]).order_by("pk")
        )
        # What else decides their invoices, read after the lock (so a statement later: what
        # a transaction that held a lock committed is seen), once for the whole group:
        # invoices already made for the period, one-off charges waiting, and payments
        # (record_payment locks the customer too), which most customers have none of.
        existing = {
            invoice.customer_id: invoice for invoice in _period_invoices(period_start).filter(customer__in=locked)
        }
        with_charges = set(_waiting_charges().filter(customer__in=locked).values_list("customer_id", flat=True))
        with_payments = set(Payment.objects.filter(customer__in=locked).values_list("customer_id", flat=True))
        due: dict[int, list[Subscription]] = {customer.pk: [] for customer in locked}
        for sub in due_subscriptions(period_start).filter(service__customer__in=locked):
            due[sub.service.customer_id].append(sub)
        # Usage of the month before, billed in arrears on the same invoice.
        usage: dict[int, list[Subscription]] = {customer.pk: [] for customer in locked}
        for sub in usage_due(add_months(period_start, -1)).filter(service__customer__in=locked):
            usage[sub.service.customer_id].append(sub)
        bills, refused = [], []
        rates = VatRate.table()  # read once for the group
        for customer in locked:
            invoiced = existing.get(customer.pk)
            try:
                if invoiced is None:
                    bill = _build_invoice(
                        customer,
                        due[customer.pk],
                        customer.pk in with_charges,
                        period_start,
                        seller.policy,
                        issued_on,
                        rates,
                        usage=usage[customer.pk],
                    )
                    if bill is not None:
                        bills.append(bill)
                elif invoiced.status == Invoice.Status.DRAFT:
                    # The run's own drafts never outlive its transaction: this one is staff's.
                    raise InvoiceError(
                        f"{customer} has a draft invoice for {period_start:%B %Y} ({invoiced}): issue or delete "
                        "it, then run the billing again for this customer."
                    )
            except InvoiceError as exc:
                # Refused before anything is written (a staff draft, a plan in another
                # currency, no VAT rate): the others go ahead; the run names this one.
                refused.append((customer, exc))
        handled = len(locked) if count_refused else len(locked) - len(refused)
        if not bills:
            _progress(run_pk, handled, 0)
            return 0, refused
        try:
            Invoice.objects.bulk_create([bill.invoice for bill in bills])
        except IntegrityError as exc:
            raise _Taken from exc  # leaves the transaction through its rollback
        InvoiceLine.objects.bulk_create([line for bill in bills for line in bill.lines])
        # One UPDATE per distinct outcome (usually one for the whole group): cheaper than
        # bulk_update's CASE per row.
        billed: dict[tuple[dt.date, bool], list[int]] = {}
        for bill in bills:
            for sub in bill.subscriptions:
                billed.setdefault((sub.billed_until, sub.setup_fee_invoiced), []).append(sub.pk)
        for (billed_until, setup_fee_invoiced), pks in billed.items():
            Subscription.objects.filter(pk__in=pks).update(
                billed_until=billed_until, setup_fee_invoiced=setup_fee_invoiced
            )
        billed_usage = [usage for bill in bills for usage in bill.usage]
        if billed_usage:
            withdrawn_charges([usage.subscription for usage in billed_usage], add_months(period_start, -1)).delete()
            UsageCharge.objects.bulk_create([usage.charge() for usage in billed_usage])
        for bill in bills:
            for charge, line in zip(bill.charges, bill.charge_lines, strict=True):
                if line.pk is None:  # SQLite before 3.35 (refused at start-up by billing.checks)
                    raise RuntimeError("The database returned no ids from the bulk insert of the invoice's lines.")
                OneOffCharge.objects.filter(pk=charge.pk).update(invoice_line=line)
            issue_locked(
                bill.invoice,
                lines=bill.lines,
                provider=seller.provider,
                policy=seller.policy,
                issued_on=issued_on,
                actor=actor,
                rates=rates,
                recorded_by_caller=True,  # for the whole group below, in one statement
            )
            if bill.invoice.customer_id in with_payments:
                # An overpayment or earlier credit settles the new document straight away
                # (and a payment request so paid gets its VAT invoice).
                apply_credit(bill.invoice.customer, has_payments=True)
                settle_paid_requests(bill.invoice.customer, actor=actor)
        record_issued([bill.invoice for bill in bills], actor=actor)
        _progress(run_pk, handled, len(bills))
        return len(bills), refused


@dataclass
class _Bill:
    """A customer's invoice for the period, built in memory, with what it bills."""

    invoice: Invoice
    lines: list[InvoiceLine]
    subscriptions: list[Subscription]
    charges: list[OneOffCharge]
    charge_lines: list[InvoiceLine]
    usage: list[UsageLine]


def _build_invoice(
    customer: Customer,
    subscriptions: list[Subscription],
    has_charges: bool,
    period_start: dt.date,
    policy: BillingSettings,
    issued_on: dt.date,
    rates=None,
    *,
    usage: list[Subscription] = (),
) -> _Bill | None:
    """The invoice for ``customer`` (locked, with its due ``subscriptions``, whether it
    ``has_charges`` waiting, and the subscriptions whose ``usage`` in the month before is
    billed in arrears), not yet saved; None when there is nothing to bill."""
    _, period_end = period_bounds(period_start)
    mispriced = sorted({str(sub.plan) for sub in [*subscriptions, *usage] if sub.plan.currency != customer.currency})
    if mispriced:
        raise InvoiceError(
            f"{customer} is billed in {customer.currency} but {', '.join(mispriced)} is priced in another "
            "currency: move the service to a plan in the customer's currency, or change the customer's currency."
        )
    # Foreign currency: the rate in force on the invoice date, for the sterling totals.
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
    charges = list(_waiting_charges().select_for_update().filter(customer=customer)) if has_charges else []
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
    usage_billed = usage_lines(invoice, list(usage), add_months(period_start, -1))
    lines += [item.line for item in usage_billed]
    if not lines:
        # Everything due was taken by a concurrent change (e.g. the last service ended
        # before the period): nothing to invoice, nothing written.
        return None
    # A quarterly or annual plan bills ahead.
    invoice.period_end = max([period_end, *(s.billed_until for s in subscriptions)])
    # Pro-forma mode: bill with a payment request instead of a VAT invoice (billing.workflows.proforma).
    if not use_payment_request_if_pro_forma_mode(invoice, policy):
        return None
    # The rates as issuing decides them (a pro-forma's on its request date), so the lines
    # are written once, with them.
    decide_line_rates(invoice, lines, on=issued_on, rates=rates)
    return _Bill(invoice, lines, subscriptions, charges, charge_lines, usage_billed)


def refuse_future_period(period_start: dt.date, policy: BillingSettings | None = None) -> str:
    """Why a run for the month of ``period_start`` may not start yet, or "": a month that
    has not begun is billed only when Billing settings allow billing in advance (and then
    its documents are dated today, stating the period)."""
    today = timezone.localdate()
    if period_start.replace(day=1) <= today or (policy or BillingSettings.current()).bill_in_advance:
        return ""
    return (
        f"{period_start:%B %Y} has not started: a billing run for it would bill in advance. Tick "
        "'Allow billing in advance' in Billing → Billing settings to do that (its invoices are dated "
        "today and state the period), or run it once the month has begun."
    )


def _refuse(run: BillingRun, reason: str) -> BillingRun:
    BillingRun.objects.filter(pk=run.pk).update(
        status=BillingRun.Status.FAILED, error=reason, finished_at=timezone.now()
    )
    run.refresh_from_db()
    return run


def run_billing(
    period_start: dt.date,
    *,
    customer: Customer | None = None,
    run: BillingRun | None = None,
    actor: Actor,
    issued_on: dt.date | None = None,
) -> BillingRun:
    """Invoice every active customer (or one) with subscriptions due for the period, or
    one-off charges waiting. ``actor`` issues the documents: the staff member who started
    the run, or ``System("billing run")`` for the scheduled one.

    The documents are dated the day they are issued. ``issued_on`` dates them earlier, for
    a caller that replays past billing days in order (the demo loader); never later than
    today, and numbering refuses a date before the series' latest document.

    Safe to rerun, and to run twice at once: see the module docstring.
    """
    period_start = period_start.replace(day=1)
    if issued_on is not None and issued_on > timezone.localdate():
        raise ValueError(f"A billing run's documents cannot be dated in the future ({issued_on:%-d %B %Y}).")
    if run is None:
        run = BillingRun.objects.create(period_start=period_start, customer=customer, started_by=person(actor))
    if missing := refuse_future_period(period_start):
        return _refuse(run, missing)
    customer = customer or run.customer
    subscriptions = due_subscriptions(period_start)
    if customer is not None:
        subscriptions = subscriptions.filter(service__customer=customer)
    # Customers already invoiced for the period (by an earlier, crashed or concurrent run) are
    # skipped; a staff draft for the period is reported by _bill_customers.
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
    # And customers whose only due is last month's usage (a service that ended in it).
    usage = usage_due(add_months(period_start, -1)).filter(service__customer__status=Customer.Status.ACTIVE)
    usage = usage.exclude(service__customer__in=invoiced)
    if customer is not None:
        usage = usage.filter(service__customer=customer)
    for customer_id in usage.values_list("service__customer_id", flat=True).distinct():
        by_customer.setdefault(customer_id, [])
    customers = Customer.objects.in_bulk(list(by_customer))
    if by_customer and (missing := BillingSettings.current().missing_payment_method()):
        # Every invoice would be refused for it: say so once, for the whole run. (With
        # nothing to bill, as for a closing account's final run, nothing needs it.)
        return _refuse(run, missing)

    # A resumed run keeps what it committed before (its invoices, counted with them) and
    # counts again everyone left, including those refused or in error last time.
    already = BillingRun.objects.filter(pk=run.pk).values_list("created", flat=True).get()
    BillingRun.objects.filter(pk=run.pk).update(
        status=BillingRun.Status.RUNNING,
        total=already + len(by_customer),
        done=already,
        error="",
        finished_at=None,
        progressed_at=timezone.now(),
    )
    # The seller's details as the run starts go on all its invoices (a resumed run reads them again).
    seller = _Seller(ProviderDetails.current(), BillingSettings.current(), issued_on)
    errors = []
    ids = list(by_customer)
    for group in (ids[start : start + GROUP_SIZE] for start in range(0, len(ids), GROUP_SIZE)):
        try:
            _billed, refused = _bill_customers(
                [customers[pk] for pk in group], period_start, seller, actor=actor, run_pk=run.pk
            )
            for customer, reason in refused:
                logger.warning("Billing run %s: customer %s refused: %s", run.pk, customer.pk, reason)
                errors.append(_error(customer, reason))
        except Exception:
            # An error while the group was written (a database refusal, another run's
            # invoice) rolled it back, its count with it: bill its customers one by one, so
            # that the others are invoiced and the problem is reported with its customer.
            # It must not stop the run.
            for customer_id in group:
                try:
                    _bill_customer(customers[customer_id], period_start, seller, actor=actor, run_pk=run.pk)
                except Exception as exc:
                    logger.exception("Billing run %s: customer %s failed", run.pk, customer_id)
                    errors.append(_error(customers[customer_id], exc))
                    _progress(run.pk, 1, 0)
    BillingRun.objects.filter(pk=run.pk).update(
        status=BillingRun.Status.FAILED if errors else BillingRun.Status.DONE,
        error="\n".join(errors),
        finished_at=timezone.now(),
    )
    run.refresh_from_db()
    return run


def undelivered_documents(run: BillingRun) -> list[int]:
    """Documents ``run`` issued so far that have no stored PDF or no email.

    A document's delivery is queued when its group commits; a run killed between the
    commit and the queuing leaves that group's documents without either. Resuming the run
    delivers them again (``billing.tasks.run_billing_task``): delivery is safe to repeat,
    and one to a customer with nobody receiving billing mail stores the PDF only.
    """
    documents = (
        Invoice.objects.filter(period_start=run.period_start, created_at__gte=run.created_at)
        .exclude(status=Invoice.Status.DRAFT)
        .exclude(kind=Invoice.Kind.PRO_FORMA, status=Invoice.Status.CANCELLED)
    )
    if run.customer_id:
        documents = documents.filter(customer_id=run.customer_id)
    return list(documents.filter(Q(pdf="") | ~Exists(document_emails())).values_list("pk", flat=True))


def _error(customer: Customer, exc: Exception) -> str:
    """A line of the run's error for staff: a ValidationError's messages, not its list's repr."""
    return f"{customer}: {'; '.join(getattr(exc, 'messages', None) or [str(exc)])}"


# Customers billed in one transaction. Larger groups save statements per invoice; a
# crash or an error costs the group's work (redone customer by customer after an error),
# and staff issuing or recording a payment for one of them wait for the group to commit.
GROUP_SIZE = 50


def _progress(run_pk: int | None, done: int, created: int) -> None:
    """Count ``done`` customers and ``created`` invoices on the run, in the caller's
    transaction: the count commits, or rolls back, with the work it counts."""
    if run_pk is not None:
        BillingRun.objects.filter(pk=run_pk).update(
            done=F("done") + done, created=F("created") + created, progressed_at=timezone.now()
        )


def run_on_billing_day(today: dt.date, *, actor: Actor) -> BillingRun | None:
    """The scheduled run: on the billing day (``BillingSettings.billing_day``, the month's
    last day when the month is shorter), bill the month; on other days, or before the
    provider's details are set up (they go on every invoice), nothing."""
    if ProviderDetails.current() is None or today != day_in_month(today, BillingSettings.current().billing_day):
        return None
    return run_billing(today.replace(day=1), actor=actor)
