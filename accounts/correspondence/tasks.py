"""Celery tasks for correspondence: thin wrappers around delivery."""

from __future__ import annotations

import time

from celery import shared_task

from accounts.correspondence import delivery

# In-process (no broker, so no beat), deliveries also run the sweep, at most this often:
# as often as beat runs it in production, not once per email of a billing run.
EAGER_SWEEP_EVERY = 60.0
_last_eager_sweep = -EAGER_SWEEP_EVERY


@shared_task(bind=True, acks_late=True, max_retries=delivery.MAX_ATTEMPTS)
def deliver_message(self, message_id: int) -> str:
    outcome = delivery.deliver(message_id)
    if self.request.is_eager:
        # In-process the sweep retries (there is no broker to retry on schedule).
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
    """The safety net: queue messages whose enqueue failed, retries that are due, stuck sends."""
    ids = delivery.due_message_ids()
    for message_id in ids:
        deliver_message.delay(message_id)
    return len(ids)
