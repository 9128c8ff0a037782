"""Background work for accounts: thin tasks that take primary keys and call one service.

Every task is a ``core.background.TransactionAwareTask`` (queued after the commit of the
transaction that asked for it), takes no personal data (the broker carries primary keys
only), and is safe to run twice. Schedules live in the database (django-celery-beat),
created by accounts' migrations.
"""

from __future__ import annotations

import logging
import time

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from accounts.correspondence import delivery
from accounts.models import Invitation
from core.registry import declaration_for

logger = logging.getLogger(__name__)

# In-process (no broker, so no beat), deliveries also run the mail sweep, at most this
# often: as often as beat runs it in production, not once per email of a billing run.
EAGER_SWEEP_EVERY = 60.0
_last_eager_sweep = -EAGER_SWEEP_EVERY


@shared_task(bind=True, acks_late=True, max_retries=delivery.MAX_ATTEMPTS)
def deliver_message(self, message_id: int) -> str:
    """Hand one stored outbound message to the mail server (accounts.correspondence.delivery)."""
    outcome = delivery.deliver(message_id)
    if self.request.is_eager:
        # In-process there is no broker to retry on schedule: the sweep retries.
        _sweep_in_process()
    elif outcome.status == "retry":
        raise self.retry(countdown=outcome.retry_in.total_seconds())
    return outcome.status


def _sweep_in_process() -> None:
    global _last_eager_sweep
    now = time.monotonic()
    if now - _last_eager_sweep >= EAGER_SWEEP_EVERY:
        _last_eager_sweep = now
        requeue_due_messages.delay()


@shared_task
def requeue_due_messages() -> int:
    """Every minute, the mail gateway's safety net: queue messages whose enqueue failed,
    retries that are due, and sends that got stuck."""
    ids = delivery.due_message_ids()
    for message_id in ids:
        deliver_message.delay(message_id)
    return len(ids)


def purge_expired_invitations_now() -> int:
    """Delete invitations whose retention has run out; return how many went.

    The period comes from Invitation's personal-data declaration ("deleted 30 days
    after the invitation expires"), so the registry stays the one place that says how
    long we keep them. Deleting is idempotent: a second run finds nothing to do.
    """
    retention = declaration_for(Invitation).retention
    cutoff = timezone.now() - retention.period
    with transaction.atomic():
        deleted, _ = Invitation.objects.filter(**{f"{retention.counted_from}__lt": cutoff}).delete()
    if deleted:
        logger.info("Purged %d expired invitation(s) older than %s.", deleted, cutoff.isoformat())
    return deleted


@shared_task
def purge_expired_invitations() -> int:
    """Daily: delete invitations more than 30 days past their expiry."""
    return purge_expired_invitations_now()
