"""Background work for accounts (DESIGN.md mechanism 5).

Tasks are thin: no arguments beyond primary keys, one service call, safe to run twice.
Schedules live in the database (django-celery-beat); the daily invitation purge is
created by migration ``0003_schedule_invitation_purge``.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from accounts.models import Invitation
from core.registry import declaration_for

logger = logging.getLogger(__name__)


def purge_expired_invitations_now() -> int:
    """Delete invitations whose retention has run out; return how many went.

    The period comes from Invitation's personal-data declaration ("deleted 30 days
    after the invitation expires"), so the registry stays the one place that says how
    long we keep them. Deleting is idempotent: a second run finds nothing to do.

    This is the service function for the task below. It lives here rather than in
    ``accounts/services.py`` for now; when the privacy app's retention sweep arrives it
    should take this over for every declared model.
    """
    retention = declaration_for(Invitation).retention
    cutoff = timezone.now() - retention.period
    with transaction.atomic():
        deleted, _ = Invitation.objects.filter(**{f"{retention.counted_from}__lt": cutoff}).delete()
    if deleted:
        logger.info("Purged %d expired invitation(s) older than %s.", deleted, cutoff.isoformat())
    return deleted


@shared_task(name="accounts.tasks.purge_expired_invitations")
def purge_expired_invitations() -> int:
    """Daily: delete invitations more than 30 days past their expiry."""
    return purge_expired_invitations_now()
