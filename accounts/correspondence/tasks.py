"""Celery tasks for correspondence: thin wrappers around delivery (STYLE.md)."""

from __future__ import annotations

from celery import shared_task

from accounts.correspondence import delivery


@shared_task(bind=True, acks_late=True, max_retries=delivery.MAX_ATTEMPTS)
def deliver_message(self, message_id: int) -> str:
    outcome = delivery.deliver(message_id)
    if outcome.status == "retry" and not self.request.is_eager:
        # With a broker, retry on schedule; in-process (no broker) the sweep retries.
        raise self.retry(countdown=outcome.retry_in.total_seconds())
    return outcome.status


@shared_task
def requeue_due_messages() -> int:
    """The safety net: queue messages whose enqueue failed, retries that are due, stuck sends."""
    ids = delivery.due_message_ids()
    for message_id in ids:
        deliver_message.delay(message_id)
    return len(ids)
