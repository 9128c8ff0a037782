"""Billing's background work: thin tasks that load by primary key and call one service.

Issuing a document sends ``billing.issuing.document_issued``; ``queue_document_delivery``
(connected in ``BillingConfig.ready``) answers it by queuing ``render_and_send_invoice``
(or, for documents issued together, ``render_and_send_invoices`` per ``DELIVERY_BATCH``),
sent once the issuing transaction commits, so issuing knows nothing of delivery.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from accounts.audit import System
from accounts.models import Customer
from accounts.tasks import delivery_batch
from billing.accounting.exports import build_export, expire_exports, stale_export_ids
from billing.collections.reminders import run_reminders
from billing.collections.suspension import restore_paid, suspend_due
from billing.delivery.email import send_document, send_documents, unsent_documents
from billing.models import BillingRun, Invoice
from billing.workflows.run import run_billing, run_on_billing_day, undelivered_documents

logger = logging.getLogger(__name__)


@shared_task
def render_and_send_invoice(invoice_id: int) -> None:
    """Store an issued document's PDF and email it (``billing.delivery.email.send_document``)."""
    send_document(Invoice.objects.select_related("customer").get(pk=invoice_id))


# Documents issued together (a billing run's group of 50) are rendered and emailed in
# tasks of this many: their data read together and their emails delivered as one batch,
# while a group still spreads over several rendering workers.
DELIVERY_BATCH = 10


@shared_task
def render_and_send_invoices(invoice_ids: list[int]) -> None:
    """``render_and_send_invoice`` for documents issued together
    (``billing.delivery.email.send_documents``); their emails are queued for delivery as
    one batch once all are stored (``accounts.tasks.delivery_batch``)."""
    with delivery_batch():
        send_documents(invoice_ids)


@shared_task
def send_unsent_documents() -> int:
    """Every 15 minutes (django-celery-beat): queue again the recent documents whose PDF or
    email is missing (``billing.delivery.email.unsent_documents``). Queuing a document twice
    stores and sends nothing twice. Returns how many were queued."""
    pending = unsent_documents()
    for pk in pending:
        render_and_send_invoice.delay(pk)
    if pending:
        logger.info("Queued %d issued document(s) without a PDF or an email", len(pending))
    return len(pending)


@shared_task
def billing_run_task() -> int | None:
    """Daily (django-celery-beat): on the billing day, bill the current month."""
    run = run_on_billing_day(timezone.localdate(), actor=System("billing run"))
    return run.pk if run is not None else None


@shared_task
def run_billing_task(run_pk: int) -> int:
    """Carry out (or resume) a billing run that staff started in the admin. A resumed run
    first delivers what its earlier life issued and did not deliver (it was killed between
    a group's commit and the queuing of the group's documents)."""
    run = BillingRun.objects.get(pk=run_pk)
    if run.progressed_at is not None:  # it ran before: resumed
        for invoice_pk in undelivered_documents(run):
            render_and_send_invoice.delay(invoice_pk)
    # The documents are issued by whoever started the run.
    return run_billing(run.period_start, run=run, actor=run.started_by or System("billing run")).pk


def queue_document_delivery(sender, *, invoice_pks: list[int], **kwargs) -> None:
    """``document_issued`` receiver: render and email the documents in the background,
    once the issuing transaction has committed."""
    if len(invoice_pks) == 1:
        render_and_send_invoice.delay(invoice_pks[0])
        return
    for start in range(0, len(invoice_pks), DELIVERY_BATCH):
        render_and_send_invoices.delay(invoice_pks[start : start + DELIVERY_BATCH])


@shared_task
def build_accounting_export(export_pk: int) -> str:
    """Build a large accounting export in the background (``billing.accounting.exports``)."""
    return build_export(export_pk, in_background=True).status


@shared_task
def expire_accounting_exports() -> int:
    """Hourly (django-celery-beat): delete the files of accounting exports past their time,
    and queue again exports left queued while the broker was down. Returns how many expired."""
    for pk in stale_export_ids():
        build_accounting_export.delay(pk)
    return expire_exports()


def queue_accounting_export(sender, *, export_pk: int, **kwargs) -> None:
    """``accounting_export_requested`` receiver: build the export once the request commits."""
    build_accounting_export.delay(export_pk)


@shared_task
def run_collections() -> int:
    """Daily (django-celery-beat): the payment reminders due today
    (``billing.collections.reminders.run_reminders``), then the suspensions whose notice
    has run out and the services to restore after payment. Safe to run twice: each
    document gets each step once, each notice is carried out once. Returns how many
    reminder emails were sent."""
    today = timezone.localdate()
    sent = run_reminders(today, actor=System("reminder run")).emails
    suspend_due(today, actor=System("collections run"))
    restore_paid(actor=System("collections run"))
    return sent


@shared_task
def restore_after_payment(customer_pk: int) -> int:
    """Bring back services suspended for non-payment once what the notice named is paid
    (``billing.collections.suspension.restore_paid``)."""
    return restore_paid(Customer.objects.get(pk=customer_pk), actor=System("collections run"))


def queue_restore_after_payment(sender, *, instance, created: bool, **kwargs) -> None:
    """``post_save`` receiver for payment allocations: look again, after commit, at the
    customer's suspended services."""
    if created and instance.amount > 0:
        restore_after_payment.delay(instance.payment.customer_id)
