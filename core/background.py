"""Background tasks that are queued only once the data they need has committed.

A task queued inside a transaction can reach a worker before the transaction commits
(the worker then reads rows that are not there yet) or for a transaction that then rolls
back (the worker acts on something that never happened). So ``TransactionAwareTask``,
the Celery app's task class (``portal/celery.py``), queues differently by where it is
called:

- inside an atomic block, ``apply_async`` (and so ``delay``) hands the send to
  ``transaction.on_commit(..., robust=True)``: nothing is sent if the transaction rolls
  back, and the task is sent once after it commits;
- outside one (autocommit: whatever was written is already committed), it sends at once.

Either way a failing send is logged, never raised to the caller: the data that asked for
the task has committed, and every task's work is kept in the database where a scheduled
sweep finds what was never queued (docs/architecture.md). Tasks take primary keys only,
so nothing personal is put on the broker.

This module imports no app (see ``core``).
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from functools import partial
from typing import Any

from celery import Task
from django.db import transaction

logger = logging.getLogger(__name__)

# Set while Celery re-sends a task for a retry: that send belongs to the worker's run of
# the task, not to any transaction the task has open, and must happen (or fail) at once.
_retrying: ContextVar[bool] = ContextVar("retrying", default=False)


def in_transaction() -> bool:
    """Whether the caller is inside an atomic block (of the default database).

    The blocks a Django ``TestCase`` wraps each test in do not count: they stand in for
    the autocommit the code runs in outside tests (Django's check of durable blocks
    ignores them the same way). So a test sees what production does, a task queued
    outside the code's own transactions is sent at once, and tests of code that queues
    inside one run its callbacks as they always have (``django_capture_on_commit_callbacks``
    or a transactional test).
    """
    return any(not block._from_testcase for block in transaction.get_connection().atomic_blocks)


class TransactionAwareTask(Task):
    """A task whose ``delay``/``apply_async`` inside a transaction waits for its commit."""

    def apply_async(self, args=None, kwargs=None, **options):
        send = partial(self._send, args, kwargs, options)
        if _retrying.get():
            return send(log_failure=False)
        if in_transaction():
            transaction.on_commit(send, robust=True)
            return None
        return send()

    def _send(self, args, kwargs, options: dict[str, Any], *, log_failure: bool = True):
        """Hand the task to the broker (in-process without one); a failure is logged."""
        try:
            return super().apply_async(args, kwargs, **options)
        except Exception:
            if not log_failure:
                raise
            logger.exception("Could not queue task %s; the work it was for stays to be found by its sweep", self.name)
            return None

    def retry(self, *args, **kwargs):
        token = _retrying.set(True)
        try:
            return super().retry(*args, **kwargs)
        finally:
            _retrying.reset(token)
