"""Payment reminders (dunning): the daily run that emails each step of the schedule once
per document (docs/collections.md).

For every open document with a balance that is not disputed, handed over or written off,
of a customer whose reminders are not paused, the run finds the latest active step whose
day has come (``due_on + days_after_due <= today``). If that step was not done for the
document, the customer's billing contacts get one email per step listing the documents
at it, with every overdue document, the amount, how to pay and how to dispute. Earlier
steps whose day passed meanwhile are recorded as skipped, so a late run never sends a
string of stale reminders. A ``(document, step)`` row is unique: running twice, or two
runs at once, sends nothing twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts import audit
from accounts.audit import Actor
from accounts.correspondence.gateway import NoRecipients, send_mail
from accounts.correspondence.models import MailKind
from accounts.models import Customer, ProviderDetails
from billing.collections.charges import accrued
from billing.collections.models import CollectionsPause, DunningStep, ReminderSent
from billing.collections.state import collectable, paused_customers
from billing.delivery.document import seller_block
from billing.documents.locking import lock_customer
from billing.documents.snapshots import SellerSnapshot
from billing.models import BillingSettings, Invoice
from billing.money import format_money

logger = logging.getLogger(__name__)


@dataclass
class RunResult:
    emails: int = 0
    documents: int = 0
    skipped_steps: int = 0
    no_recipient: list[str] = field(default_factory=list)


def _latest_step(steps: list[DunningStep], invoice: Invoice, today: dt.date) -> DunningStep | None:
    reached = [s for s in steps if invoice.due_on + dt.timedelta(days=s.days_after_due) <= today]
    return reached[-1] if reached else None


def run_reminders(today: dt.date | None = None, *, actor: Actor) -> RunResult:
    """Send the reminders due today. Safe to run any number of times. ``actor`` is the
    scheduled run (``System("reminder run")``) or whoever ran it by hand."""
    today = today or timezone.localdate()
    steps = list(DunningStep.objects.filter(active=True).order_by("days_after_due"))
    result = RunResult()
    if not steps:
        return result
    done = set(ReminderSent.objects.values_list("invoice_id", "step_id"))
    due: dict[int, dict[DunningStep, list[Invoice]]] = defaultdict(lambda: defaultdict(list))
    candidates = (
        collectable()
        .exclude(customer__in=paused_customers(today))
        .filter(customer__status=Customer.Status.ACTIVE)
        .select_related("customer")
        .order_by("customer_id", "due_on", "pk")
    )
    for invoice in candidates:
        step = _latest_step(steps, invoice, today)
        if step is not None and (invoice.pk, step.pk) not in done:
            due[invoice.customer_id][step].append(invoice)
    for by_step in due.values():
        for step, invoices in sorted(by_step.items(), key=lambda item: item[0].days_after_due):
            _send_step(invoices[0].customer, step, invoices, steps, today, result, actor=actor)
    return result


def _send_step(customer, step, invoices, steps, today, result: RunResult, *, actor: Actor) -> None:
    try:
        with transaction.atomic():
            lock_customer(customer)
            # Under the lock: another run may have done it meanwhile.
            invoices = [inv for inv in invoices if not ReminderSent.objects.filter(invoice=inv, step=step).exists()]
            if not invoices:
                return
            message = send_mail(
                kind=MailKind.BILLING,
                template="collections_reminder",
                customer=customer,
                context=reminder_context(customer, step, invoices, today),
                idempotency_key=f"reminder:{step.pk}:{','.join(str(inv.pk) for inv in invoices)}",
                related=invoices[0],
            )
            for invoice in invoices:
                ReminderSent.objects.create(invoice=invoice, step=step, message=message)
                audit.record("collections.reminder_sent", actor=actor, target=invoice, summary=f"{step.name} emailed")
                for earlier in steps:
                    if earlier.days_after_due < step.days_after_due:
                        _, created = ReminderSent.objects.get_or_create(
                            invoice=invoice, step=earlier, defaults={"skipped": True}
                        )
                        result.skipped_steps += created
            result.emails += 1
            result.documents += len(invoices)
    except NoRecipients:
        logger.warning("No reminder sent to %s: nobody receives billing mail", customer)
        result.no_recipient.append(str(customer))
    except IntegrityError:
        logger.info("Reminder %s for %s was sent by a concurrent run", step, customer)


def pause_reminders(customer, *, reason: str, actor, until: dt.date | None = None) -> CollectionsPause:
    """Stop reminders to ``customer`` until ``until`` (or until staff end the pause)."""
    reason = reason.strip()
    if not reason:
        raise ValidationError("Say why reminders are paused.")
    if until is not None and until < timezone.localdate():
        raise ValidationError("A pause cannot end in the past.")
    with transaction.atomic():
        pause = CollectionsPause.objects.create(customer=customer, reason=reason, until=until, created_by=actor)
        audit.record("collections.paused", actor=actor, target=customer, summary=f"Reminders paused: {reason}")
    return pause


def end_pause(pause: CollectionsPause, *, actor) -> bool:
    with transaction.atomic():
        ended = CollectionsPause.objects.filter(pk=pause.pk, ended_at__isnull=True).update(
            ended_at=timezone.now(), ended_by=actor
        )
        if ended:
            audit.record("collections.pause_ended", actor=actor, target=pause.customer, summary="Reminders resumed")
    return bool(ended)


def reminder_context(customer, step: DunningStep, invoices: list[Invoice], today: dt.date) -> dict:
    """What a reminder says: the documents at this step, every overdue one, the total, how to
    pay and how to dispute, and any statutory charges accrued."""
    provider = ProviderDetails.current()
    seller = seller_block(SellerSnapshot.of(provider, BillingSettings.current())) if provider else {}
    overdue = list(collectable(Invoice.objects.filter(customer=customer)).filter(due_on__lt=today).order_by("due_on"))
    rows = []
    total = sum((inv.balance for inv in overdue), start=0)
    for inv in {i.pk: i for i in [*invoices, *overdue]}.values():
        charges = accrued(inv, today=today)
        rows.append(
            {
                "number": inv.number,
                "kind": inv.get_kind_display(),
                "due_on": inv.due_on,
                "days_overdue": max((today - inv.due_on).days, 0),
                "balance": format_money(getattr(inv, "balance", inv.total_gross), inv.currency),
                "at_this_step": inv in invoices,
                "charges": format_money(charges.total, inv.currency) if charges.total else "",
                "url": reverse("billing:invoice_detail", args=[inv.pk]),
            }
        )
    return {
        "step": step,
        "before_due": step.days_after_due < 0,
        "rows": rows,
        "total_overdue": format_money(total, customer.currency) if overdue else "",
        "seller": seller,
        "today": today,
    }
