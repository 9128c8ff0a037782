"""The Celery app. Without CELERY_BROKER_URL, tasks run in-process (task_always_eager).

Every task is a ``core.background.TransactionAwareTask``: queued inside a transaction, it
is sent only once that transaction commits.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal", task_cls="core.background:TransactionAwareTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Every task is in its app's tasks module (<app>.tasks), which autodiscovery finds.
app.autodiscover_tasks()
