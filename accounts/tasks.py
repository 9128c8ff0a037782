"""Background work for accounts: thin tasks that take primary keys and call one service.

Every task is a ``core.background.TransactionAwareTask`` (queued after the commit of the
transaction that asked for it), takes no personal data (the broker carries primary keys
only), and is safe to run twice. Schedules live in the database (django-celery-beat),
created by accounts' migrations. Expired invitations are deleted by privacy's retention
sweep (``privacy.tasks.retention_sweep``), like every other declared record.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from celery import shared_task
from django.conf import settings

from accounts.correspondence import delivery

# In-process (no broker, so no beat), deliveries also run the mail sweep, at most this
# often: as often as beat runs it in production, not once per email of a billing run.
EAGER_SWEEP_EVERY = 60.0
_last_eager_sweep = -EAGER_SWEEP_EVERY
# In-process delivery runs in whatever stored the message, often a web request, so it
# never waits long for the mail server: one connection attempt with a short timeout
# (PORTAL_EMAIL_INLINE_TIMEOUT), and after the server could not be reached no further
# attempt in this process for this many seconds; the messages stay queued for the sweep.
PAUSE_AFTER_UNREACHABLE = 60.0
# The sweep hands due messages to workers this many at a time: one claim, one SMTP
# connection per batch (accounts.correspondence.delivery.deliver_many).
SWEEP_BATCH = 50


@dataclass
class InProcessDelivery:
    """Whether this process is holding back in-process delivery (the embedded default)."""

    paused_until: float = 0.0  # time.monotonic() until which no delivery is attempted

    @property
    def paused(self) -> bool:
        return time.monotonic() < self.paused_until

    def pause(self) -> None:
        self.paused_until = time.monotonic() + PAUSE_AFTER_UNREACHABLE

    def resume(self) -> None:
        self.paused_until = 0.0


in_process = InProcessDelivery()


@shared_task(bind=True, acks_late=True, max_retries=delivery.MAX_ATTEMPTS)
def deliver_message(self, message_id: int) -> str:
    """Hand one stored outbound message to the mail server (accounts.correspondence.delivery)."""
    if self.request.is_eager:
        return _deliver_in_process(message_id)
    outcome = delivery.deliver(message_id)
    if outcome.status == "retry":
        raise self.retry(countdown=outcome.retry_in.total_seconds())
    return outcome.status


def _deliver_in_process(message_id: int) -> str:
    """Without a broker there is no worker to retry on schedule: the sweep retries."""
    if in_process.paused:
        return "paused"  # the server was just unreachable; the message waits, queued, for the sweep
    outcome = delivery.deliver(message_id, timeout=settings.PORTAL_EMAIL_INLINE_TIMEOUT)
    if outcome.server_trouble:
        in_process.pause()
        return outcome.status
    _sweep_in_process()
    return outcome.status


def _sweep_in_process() -> None:
    global _last_eager_sweep
    now = time.monotonic()
    if now - _last_eager_sweep >= EAGER_SWEEP_EVERY:
        _last_eager_sweep = now
        requeue_due_messages.delay()


@shared_task(bind=True, acks_late=True)
def deliver_messages(self, message_ids: list[int]) -> dict[str, int]:
    """Hand a batch of stored outbound messages to the mail server on one connection.

    Those deferred again are queued with their back-off for a later sweep; those not due
    or held by another worker are skipped. In-process, as ``deliver_message``: nothing is
    attempted while the server was just unreachable, and if it cannot be reached the rest
    of the batch waits, queued, for the next sweep."""
    if self.request.is_eager and in_process.paused:
        return {"paused": len(message_ids)}
    timeout = settings.PORTAL_EMAIL_INLINE_TIMEOUT if self.request.is_eager else None
    outcomes = delivery.deliver_many(message_ids, timeout=timeout)
    if self.request.is_eager and any(outcome.server_trouble for outcome in outcomes.values()):
        in_process.pause()
    counts: dict[str, int] = {}
    for outcome in outcomes.values():
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return counts


@shared_task
def requeue_due_messages() -> int:
    """Every minute, the mail gateway's safety net: queue messages whose enqueue failed,
    retries that are due, and sends that got stuck, in batches of ``SWEEP_BATCH``.

    In-process, each sweep tries the mail server again, once: if it cannot be reached,
    the rest of the due messages wait for the next sweep."""
    in_process.resume()
    ids = delivery.due_message_ids()
    for start in range(0, len(ids), SWEEP_BATCH):
        deliver_messages.delay(ids[start : start + SWEEP_BATCH])
    return len(ids)


# Set inside ``delivery_batch``: the messages stored meanwhile, to be queued together.
_batch: ContextVar[list[int] | None] = ContextVar("delivery_batch", default=None)


@contextmanager
def delivery_batch() -> Iterator[None]:
    """Messages stored within the block are queued for delivery together as it ends, in
    tasks of ``SWEEP_BATCH`` (``deliver_messages``: one claim, one connection), rather than
    one task each: for work that stores many at once, such as a billing run's invoices.

    Each is still queued after the commit of the transaction it was stored in (or at once,
    outside one); one stored in a transaction that rolled back is not found, so not sent."""
    pks: list[int] = []
    token = _batch.set(pks)
    try:
        yield
    finally:
        _batch.reset(token)
        for start in range(0, len(pks), SWEEP_BATCH):
            deliver_messages.delay(pks[start : start + SWEEP_BATCH])


def queue_delivery(sender, *, message_pk: int, **kwargs) -> None:
    """``message_queued`` receiver: deliver the stored message in the background, after
    commit (inside ``delivery_batch``, with the others of the batch as it ends)."""
    batch = _batch.get()
    if batch is not None:
        batch.append(message_pk)
        return
    deliver_message.delay(message_pk)
