"""Every task is in its app's tasks module, and every schedule names a task a worker runs.

Autodiscovery looks at ``<app>.tasks`` only (portal/celery.py keeps no list of its own),
so a task defined anywhere else is found only if something happens to import its module
first. Schedules (django-celery-beat) name tasks by their dotted names, so a task that
moves needs a migration renaming its schedule.
"""

from __future__ import annotations

import importlib
import inspect

import pytest
from django.apps import apps as global_apps
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from portal.celery import app

OUR_APPS = ("portal", "billing", "privacy", "accounts")
TASK_MODULES = {f"{label}.tasks" for label in OUR_APPS}


def registered_tasks() -> dict:
    app.loader.import_default_modules()  # autodiscovery, as a worker does at start
    return {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}


def test_every_task_is_defined_in_its_apps_tasks_module():
    tasks = registered_tasks()
    misplaced = {name: task.__module__ for name, task in tasks.items() if task.__module__ not in TASK_MODULES}
    assert misplaced == {}
    assert {task.__module__ for task in tasks.values()} >= {"accounts.tasks", "privacy.tasks", "billing.tasks"}


def test_a_tasks_name_says_where_it_is():
    """The name stored in a schedule is the module and function a reader looks for."""
    wrong = {
        name: f"{task.__module__}.{task.run.__name__}"
        for name, task in registered_tasks().items()
        if name != f"{task.__module__}.{task.run.__name__}"
    }
    assert wrong == {}


def _a_key(parameter: inspect.Parameter) -> bool:
    """A primary key (``message_id: int``) or a list of them (``message_ids: list[int]``)."""
    if parameter.name.endswith(("_id", "_pk")):
        return parameter.annotation in (int, "int")
    return parameter.name.endswith("_ids") and parameter.annotation in (list[int], "list[int]")


def test_tasks_take_primary_keys_only():
    """Nothing personal on the broker: a task's arguments are the keys of rows it loads."""
    taking_more = {}
    for name, task in registered_tasks().items():
        parameters = [p for p in inspect.signature(task.run).parameters.values() if p.name != "self"]
        other = [p.name for p in parameters if not _a_key(p)]
        if other:
            taking_more[name] = other
    assert taking_more == {}


def test_every_schedule_in_the_migrated_database_names_a_registered_task(freshly_migrated):
    assert freshly_migrated["scheduled"], "the migrations schedule tasks: none found"
    assert set(freshly_migrated["scheduled"]) - set(freshly_migrated["registered"]) == set()
    assert set(registered_tasks()) <= set(freshly_migrated["registered"])  # as in this process


@pytest.mark.parametrize(
    ("migration", "old", "new"),
    [
        (
            "accounts.migrations.0011_tasks_in_accounts_tasks",
            "accounts.correspondence.tasks.requeue_due_messages",
            "accounts.tasks.requeue_due_messages",
        ),
        (
            "billing.migrations.0021_billing_settings_and_settled_requests",
            "billing.run.billing_run_task",
            "billing.tasks.billing_run_task",
        ),
        (
            "privacy.migrations.0011_tasks_in_privacy_tasks",
            "privacy.services.retention.retention_sweep_task",
            "privacy.tasks.retention_sweep",
        ),
    ],
)
def test_a_schedule_made_under_the_old_name_is_renamed(db, migration, old, new):
    module = importlib.import_module(migration)
    every_day = CrontabSchedule.objects.create(minute="0", hour="4")
    schedule = PeriodicTask.objects.create(name="made before the move", task=old, crontab=every_day)

    module.rename_scheduled_tasks(global_apps, None)
    schedule.refresh_from_db()
    assert schedule.task == new

    module.rename_back(global_apps, None)
    schedule.refresh_from_db()
    assert schedule.task == old
