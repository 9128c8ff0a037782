"""Background work for privacy: thin tasks that take primary keys and call one service.

Every task is a ``core.background.TransactionAwareTask`` (queued after the commit of the
transaction that asked for it), takes no personal data (the broker carries primary keys
only), and is safe to run twice. The daily and hourly ones are scheduled in the database
by privacy's migrations (django-celery-beat).
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from accounts.audit import System
from privacy.lawful import services as lawful
from privacy.models import LegalHold, PublicRequestSubmission
from privacy.services import export, ledger, policies, requests, retention


@shared_task
def build_export(export_id: int) -> None:
    """Build one data-subject export's ZIP (a second run does nothing)."""
    export.build_export(export_id)


@shared_task
def expire_exports() -> int:
    """Hourly: delete the files of expired exports, and queue again the exports the broker dropped."""
    expired = export.expire_exports()
    for export_id in export.stale_export_ids():
        build_export.delay(export_id)
    return expired


@shared_task
def retention_sweep() -> dict[str, Any]:
    """Daily: delete or anonymise what has passed its retention. A second run finds nothing due."""
    return retention.sweep(dry_run=False).as_dict()


@shared_task
def process_public_request(submission_id: int) -> bool:
    """Look up the address of a public-form request and, for a login's, send the confirmation link."""
    submission = PublicRequestSubmission.objects.filter(pk=submission_id).first()
    if submission is None:
        return False  # handled by an earlier run of this task
    return requests.process_public_request(submission) is not None


@shared_task
def release_held_erasures(hold_id: int) -> int:
    """A legal hold was lifted: put back in the queue the erasure requests no hold keeps now."""
    hold = LegalHold.objects.filter(pk=hold_id).first()
    lifted_on = timezone.localdate(hold.lifted_at) if hold is not None and hold.lifted_at else None
    return len(requests.release_held_erasures(actor=System("legal holds"), lifted_on=lifted_on))


@shared_task
def send_deadline_reminders() -> int:
    """Daily: email each assignee the data-subject requests due soon or overdue."""
    return requests.send_deadline_reminders()


@shared_task
def send_policy_change_notices() -> int:
    """Daily: tell every customer of each material policy change whose notice period has begun."""
    return policies.send_policy_change_notices()


def queue_export_build(sender, *, export_pk: int, **kwargs) -> None:
    """``export_requested`` receiver: build the export in the background, after commit."""
    build_export.delay(export_pk)


def queue_held_erasure_release(sender, *, hold_pk: int, **kwargs) -> None:
    """``hold_lifted`` receiver: release the erasures it held, in the background, after commit."""
    release_held_erasures.delay(hold_pk)


def queue_public_request(sender, *, submission_pk: int, **kwargs) -> None:
    """``public_request_submitted`` receiver: process it in the background, after commit."""
    process_public_request.delay(submission_pk)


@shared_task
def checkpoint_ledger() -> str:
    """Daily: record the disclosure ledger's head outside the database, where
    verify_ledger checks it; nothing without PORTAL_LEDGER_CHECKPOINT_DIR. A broken
    chain is never checkpointed: the task fails naming the broken entry."""
    if not settings.PORTAL_LEDGER_CHECKPOINT_DIR:
        return "no checkpoint directory"
    path = ledger.write_checkpoint()
    return str(path) if path else "empty ledger"


@shared_task
def tell_customers_of_ended_duties() -> int:
    """Daily: email the customers of each lawful disclosure whose non-disclosure duty has
    ended (its known end date has come, or staff recorded it lifted); once each."""
    return lawful.notify_ended_duties(actor=System("lawful access: end of non-disclosure duty"))


@shared_task
def send_withheld_review_reminders() -> int:
    """Daily: remind the privacy address of disclosures still withheld and not reviewed lately."""
    return lawful.send_review_reminders()
