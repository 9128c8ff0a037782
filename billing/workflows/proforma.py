"""Pro-forma mode: payment requests first, the VAT invoice on payment.

Hosting is a continuous supply (VAT Regulations 1995 reg 90): the tax point is the earlier
of payment or the VAT invoice. A payment request marked "This is not a VAT invoice" creates
no tax point (HMRC VATTOS9165). So, when ``BillingSettings.pro_forma_mode`` is on:

1. The billing run issues a **payment request** (``Invoice.Kind.PRO_FORMA``, series ``PR``,
   no tax point) instead of a VAT invoice: ``use_payment_request_if_pro_forma_mode`` is
   called by the run on the document it has built in memory, before anything is saved.
2. When payments settle the request in full (``billing.receivables`` marks it ``paid``),
   the workflow that recorded them calls ``settle_paid_requests``, which issues the VAT
   invoice in the same transaction.

Choices made here (docs/billing.md points to this list):

- **Reference to the request**: the VAT invoice's ``settles`` names the request it
  settles (one VAT invoice per request: the field is unique), which is how it is found
  again (idempotency). ``corrects`` stays None: it means "the invoice a credit note
  corrects". The VAT invoice also carries, after copies of the request's lines, one
  zero-value line "Payment request PR-… paid on …", printed on the PDF for the reader.
- **Tax point = payment date, issued today**: the VAT invoice is dated the day it is
  issued (when the payment is recorded) and shows the payment date as its tax point
  (``issue_invoice(tax_point=paid_on)``); the VAT rates are those in force on the tax
  point. ``paid_on`` is the latest ``received_on`` of the payments allocated to the
  request, but never before the request's own date (credit held on account and applied
  to a new request counts as paid when the request is issued). A payment is never
  recorded with a date after today (``billing.receivables.payments.refuse_future_receipt``),
  so neither the VAT invoice nor its tax point is ever in the future.
- **Allocations move** from the request to the VAT invoice: the VAT invoice is the debt in
  the accounts, so it must show paid with nothing due. The request stays ``paid``, and
  the balance rule (``InvoiceQuerySet.with_balance``) gives a paid request nothing due.
- **Balances**: ``account_balance`` and statements count only VAT invoices and credit notes,
  never requests, so the amount is counted once (the VAT invoice) against the payment.
- **Exchange rate**: a foreign-currency VAT invoice shows sterling at the rate in force on
  its tax point (the payment date), which may be a later month's than the request's.
- **Period**: the VAT invoice takes the request's billing period, so the unique constraint
  ``one_invoice_per_customer_period`` also guarantees one VAT invoice per billed request,
  and reruns of the billing run treat the period as invoiced.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

from django.db import transaction
from django.db.models import Max, Sum
from django.utils import timezone

from accounts import audit
from accounts.audit import Actor, person
from accounts.correspondence.gateway import NoRecipients, send_mail
from billing.issuing import add_line, copy_lines, issue_invoice
from billing.models import BillingSettings, ExchangeRate, Invoice, OneOffCharge, PaymentAllocation, Subscription
from billing.money import format_money
from billing.receivables.payments import allocated_to, apply_credit, lock_open_documents, refresh_status

REFERENCE_PREFIX = "Payment request {number} paid on "

logger = logging.getLogger(__name__)


class ProFormaError(ValueError):
    """The document is not a paid payment request."""


def pro_forma_mode_on() -> bool:
    return BillingSettings.current().pro_forma_mode


def use_payment_request_if_pro_forma_mode(draft: Invoice, policy: BillingSettings) -> bool:
    """Called by the billing run, under the customer's lock, on the VAT invoice it is about
    to create (not yet saved) for a customer's period; ``policy`` is the billing settings
    it has read.

    Mode off: nothing changes; returns True. Mode on: the draft becomes a payment request
    (its lines are added and it is issued by the run as usual) and True is returned — unless
    a payment request for this customer and period already exists (an earlier or concurrent
    run made it first), in which case False is returned and the run creates nothing. Under
    the lock the check sees any other run's committed request; the constraint
    ``one_payment_request_per_customer_period`` stands behind it, so even without the check
    no period gets two requests.
    """
    if not policy.pro_forma_mode:
        return True
    if (
        Invoice.objects.filter(
            customer_id=draft.customer_id, kind=Invoice.Kind.PRO_FORMA, period_start=draft.period_start
        )
        .exclude(status=Invoice.Status.CANCELLED)  # a withdrawn request gives its period back
        .exists()
    ):
        return False
    draft.kind = Invoice.Kind.PRO_FORMA
    return True


def vat_invoice_for(request_invoice: Invoice) -> Invoice | None:
    """The VAT invoice issued for a paid payment request, if any."""
    return Invoice.objects.filter(settles=request_invoice).exclude(status=Invoice.Status.DRAFT).first()


def paid_on_for(request_invoice: Invoice) -> dt.date:
    """When the request was paid: its last allocated payment's date, not before the request."""
    latest = PaymentAllocation.objects.filter(invoice=request_invoice).aggregate(on=Max("payment__received_on"))["on"]
    return max(filter(None, (latest, request_invoice.issued_on)))


def issue_vat_invoice_for_paid_request(request_invoice: Invoice, *, paid_on: dt.date, actor: Actor) -> Invoice:
    """Issue the VAT invoice for a payment request paid in full; idempotent.

    Tax point = ``paid_on`` (reg 90: payment came first), date of issue today. Copies the
    request's lines, adds the reference line, moves the request's payment allocations to
    the VAT invoice (which is then paid). A second call returns the invoice already issued.
    """
    with transaction.atomic():
        request = Invoice.objects.select_for_update().get(pk=request_invoice.pk)
        if request.kind != Invoice.Kind.PRO_FORMA:
            raise ProFormaError(f"{request} is not a payment request.")
        existing = vat_invoice_for(request)
        if existing is not None:
            return existing
        if request.status != Invoice.Status.PAID:
            raise ProFormaError(f"{request} is not paid in full: its VAT invoice is issued on payment.")
        # Sterling at the rate of the time of supply, which is the payment,
        # not of the request's date; the request's own rate if staff kept no later one.
        rate = ExchangeRate.in_force(request.currency, paid_on) if request.gbp_rate else None
        invoice = Invoice.objects.create(
            kind=Invoice.Kind.INVOICE,
            customer=request.customer,
            settles=request,
            currency=request.currency,
            period_start=request.period_start,
            period_end=request.period_end,
            gbp_rate=rate.gbp_per_unit if rate else request.gbp_rate,
            gbp_rate_source=rate.source if rate else request.gbp_rate_source,
            gbp_rate_date=rate.valid_from if rate else request.gbp_rate_date,
        )
        lines = copy_lines(request, invoice)
        # The reference: zero value at an existing rate, so the VAT summary is unchanged.
        add_line(
            invoice,
            description=REFERENCE_PREFIX.format(number=request.number) + f"{paid_on:%-d %B %Y}",
            quantity=1,
            unit_price=Decimal(0),
            vat_category=lines[0].vat_category,
        )
        # Dated today, never later; the payment date is the tax point (payments are never
        # recorded ahead of their date: ``refuse_future_receipt``).
        today = timezone.localdate()
        issue_invoice(invoice, actor=actor, issued_on=today, tax_point=min(paid_on, today))
        PaymentAllocation.objects.filter(invoice=request).update(invoice=invoice)
        refresh_status(invoice)
    return invoice


def settle_paid_requests(customer, *, actor: Actor) -> list[Invoice]:
    """Issue the VAT invoice of each of ``customer``'s payment requests that is paid in full
    and has none yet; returns them. Called by every workflow that records or spends money
    (a payment, account credit applied by the billing run or on a cancelled request), in
    its transaction: a request paid there gets its VAT invoice in the same commit."""
    paid = Invoice.objects.filter(
        customer=customer, kind=Invoice.Kind.PRO_FORMA, status=Invoice.Status.PAID, settled_by__isnull=True
    ).order_by("issued_on", "pk")
    return [issue_vat_invoice_for_paid_request(request, paid_on=paid_on_for(request), actor=actor) for request in paid]


def cancel_payment_request(request_invoice: Invoice, *, reason: str, actor: Actor) -> Invoice:
    """Withdraw a payment request that has not been paid in full, and tell the customer.

    A request is not a VAT invoice (no tax point, not on the account), so no credit note
    is needed (VAT reg 15 corrects VAT invoices): its status becomes ``cancelled``, its
    number stays used, and whatever was paid towards it goes back to the account as credit
    (negative allocations released by the request), spent on the next document or refunded.
    What it billed is billed no longer: its subscriptions go back to where they were billed
    before it and its one-off charges wait again, so the next run (or staff running the
    billing for this customer now) asks again for what is still due — the days served
    before a service was ended, say, or a corrected amount. The customer's billing contacts
    are emailed the reason.
    """
    reason = reason.strip()
    if not reason:
        raise ProFormaError("Give the reason the payment request is cancelled: the customer is told it.")
    with transaction.atomic():
        lock_open_documents(request_invoice.customer)
        request = Invoice.objects.select_for_update().get(pk=request_invoice.pk)
        if request.kind != Invoice.Kind.PRO_FORMA:
            raise ProFormaError(f"{request} is not a payment request: a VAT invoice is cancelled by a credit note.")
        if request.status not in (Invoice.Status.ISSUED, Invoice.Status.PART_PAID):
            raise ProFormaError(
                f"{request} is {request.get_status_display().lower()}: only an unpaid request can be cancelled."
            )
        _unbill(request)
        paid = allocated_to(request)
        for row in PaymentAllocation.objects.filter(invoice=request).values("payment").annotate(total=Sum("amount")):
            if row["total"] > 0:
                PaymentAllocation.objects.create(
                    payment_id=row["payment"], invoice=request, amount=-row["total"], released_by=request
                )
        was, request.status = request.status, Invoice.Status.CANCELLED
        request.save(update_fields=["status"])
        audit.record(
            "document.cancelled",
            actor=actor,
            target=request,
            customer=request.customer,
            changes={"status": [was, request.status]},
            summary=f"Cancelled payment request {request.number}: {reason}",
        )
        try:
            send_mail(
                kind="billing",
                template="payment_request_cancelled",
                customer=request.customer,
                context={
                    "invoice": request,
                    "reason": reason,
                    "credited": format_money(paid, request.currency) if paid > 0 else "",
                },
                idempotency_key=f"payment-request-cancelled:{request.pk}",
                related=request,
                created_by=person(actor),
            )
        except NoRecipients:
            # Nobody to tell yet: the request shows as cancelled in the portal.
            logger.warning("Cancelled %s not emailed: %s has no billing contact or owner", request, request.customer)
        apply_credit(request.customer)  # what it released settles other open documents first
        settle_paid_requests(request.customer, actor=actor)
    return request


def _unbill(request: Invoice) -> None:
    """Put what ``request`` billed back to unbilled (see ``cancel_payment_request``)."""
    first_day: dict[int, dt.date] = {}
    last_day: dict[int, dt.date] = {}
    for line in request.lines.filter(subscription__isnull=False):
        if line.period_start is None:  # the setup fee
            Subscription.objects.filter(pk=line.subscription_id).update(setup_fee_invoiced=False)
            continue
        first_day[line.subscription_id] = min(line.period_start, first_day.get(line.subscription_id, line.period_start))
        last_day[line.subscription_id] = max(line.period_end, last_day.get(line.subscription_id, line.period_end))
    for sub in Subscription.objects.select_for_update().filter(pk__in=first_day):
        if sub.billed_until is not None and sub.billed_until > last_day[sub.pk]:
            raise ProFormaError(
                f"{sub} is billed beyond {request} on a later document: cancel or credit that one first."
            )
        start = first_day[sub.pk]
        sub.billed_until = start - dt.timedelta(days=1) if start > sub.started_on else None
        sub.save(update_fields=["billed_until"])
    OneOffCharge.objects.filter(invoice_line__invoice=request).update(invoice_line=None)
