"""The Celery app. Without CELERY_BROKER_URL, tasks run in-process (task_always_eager).

Every task is a ``core.background.TransactionAwareTask``: queued inside a transaction, it
is sent only once that transaction commits.
"""

from __future__ import annotations

import gc
import os

from celery import Celery
from celery.signals import task_postrun, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal", task_cls="core.background:TransactionAwareTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Every task is in its app's tasks module (<app>.tasks), which autodiscovery finds.
app.autodiscover_tasks()


@worker_process_init.connect
def _freeze_after_first_task(**kwargs) -> None:
    """In each worker process (prefork), once its first task has run: what is alive then
    (Django, the apps, WeasyPrint and its fonts, loaded by that task) is frozen out of the
    garbage collector's way (``gc.freeze()``), so the collections a PDF's render sets off
    stop traversing it again and again. Processes are replaced past
    ``CELERY_WORKER_MAX_MEMORY_PER_CHILD`` and freeze again after their own first task."""
    task_postrun.connect(_freeze_once, dispatch_uid="portal.freeze_after_first_task")


def _freeze_once(**kwargs) -> None:
    task_postrun.disconnect(_freeze_once, dispatch_uid="portal.freeze_after_first_task")
    gc.collect()
    gc.freeze()
