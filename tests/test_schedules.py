"""Every schedule that a migration puts in the database names a task a worker can run.

Read from the migration modules' TASK constants (and RENAMED_TASKS, where a later
migration moved a schedule to a task's new name) rather than from the table, which a
transactional test elsewhere may have flushed.
"""

from __future__ import annotations

import importlib
import pkgutil

from portal.celery import app


def scheduled_tasks() -> set[str]:
    found, renamed = set(), {}
    for package in ("accounts.migrations", "billing.migrations", "privacy.migrations"):
        for module in pkgutil.iter_modules(importlib.import_module(package).__path__):
            migration = importlib.import_module(f"{package}.{module.name}")
            if getattr(migration, "TASK", None):
                found.add(migration.TASK)
            renamed.update(getattr(migration, "RENAMED_TASKS", {}))
    return {renamed.get(task, task) for task in found}


def test_every_scheduled_task_is_registered_with_the_worker():
    app.loader.import_default_modules()
    scheduled = scheduled_tasks()
    assert scheduled == {
        "accounts.correspondence.tasks.requeue_due_messages",
        "accounts.tasks.purge_expired_invitations",
        "billing.tasks.billing_run_task",
        "privacy.services.export.expire_exports_task",
        "privacy.services.policies.send_policy_change_notices_task",
        "privacy.services.requests.send_deadline_reminders_task",
        "privacy.services.retention.retention_sweep_task",
    }
    assert scheduled <= set(app.tasks), sorted(scheduled - set(app.tasks))
