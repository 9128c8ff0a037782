"""Background work: a task queued on commit runs in-process without a broker, and a real
worker runs it with one.

Without a broker (the embedded default) a queued task runs in-process after commit.
With CELERY_BROKER_URL set (CI: Redis), ``test_real_worker_runs_the_retention_sweep``
starts a Celery worker against that broker and shows the task completing. The task is
the retention sweep, and its visible effect an expired invitation deleted.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import threading
import uuid

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.apps import apps
from django.db import connections, transaction
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from accounts import roles
from accounts.models import Invitation
from portal.celery import app as celery_app
from privacy.tasks import retention_sweep
from tests.accounts.factories import CustomerFactory


def make_invitation(*, expired_days_ago: float, email: str = "invitee@example.org") -> Invitation:
    _, token_hash = Invitation.new_token()
    return Invitation.objects.create(
        customer=CustomerFactory(),
        email=email,
        role=roles.Role.TECHNICAL,
        token_hash=token_hash,
        expires_at=timezone.now() - dt.timedelta(days=expired_days_ago),
    )


@pytest.fixture
def in_process_tasks():
    """The embedded default (no broker), even when CI has CELERY_BROKER_URL set."""
    saved = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = saved


def test_without_a_broker_a_task_queued_in_a_transaction_runs_in_process_after_commit(
    db, in_process_tasks, django_capture_on_commit_callbacks
):
    expired = make_invitation(expired_days_ago=45)

    with django_capture_on_commit_callbacks(execute=False) as pending, transaction.atomic():
        retention_sweep.delay()
    assert len(pending) == 1
    assert Invitation.objects.filter(pk=expired.pk).exists(), "nothing may run before the commit"

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        retention_sweep.delay()

    assert not Invitation.objects.filter(pk=expired.pk).exists()


def test_the_invitation_purge_is_no_longer_scheduled(freshly_migrated):
    """The retention sweep deletes expired invitations; accounts' own purge and its schedule went."""
    assert "accounts.tasks.purge_expired_invitations" not in freshly_migrated["scheduled"]
    assert "Purge expired invitations" not in freshly_migrated["schedule_names"]
    assert "privacy.tasks.retention_sweep" in freshly_migrated["scheduled"]


def test_the_migration_removes_the_purge_from_an_existing_schedule(db):
    purge = importlib.import_module("accounts.migrations.0003_schedule_invitation_purge")
    unschedule = importlib.import_module("accounts.migrations.0012_unschedule_invitation_purge")
    purge.schedule_invitation_purge(apps, None)  # as an install made before the change has it
    assert PeriodicTask.objects.filter(task=purge.TASK).exists()

    unschedule.unschedule_invitation_purge(apps, None)
    unschedule.unschedule_invitation_purge(apps, None)  # twice: nothing more

    assert not PeriodicTask.objects.filter(task=purge.TASK).exists()
    assert CrontabSchedule.objects.exists()  # the retention sweep's and the others' are untouched
    assert PeriodicTask.objects.filter(task="privacy.tasks.retention_sweep").exists()


@pytest.fixture
def broker():
    """The real broker from CELERY_BROKER_URL, with tasks going through it for this test.

    Set explicitly rather than trusted from settings: other tests switch the shared
    Celery app between in-process and broker modes.
    """
    url = os.environ.get("CELERY_BROKER_URL")
    if not url:
        reason = "needs a real broker: set CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/15); .ci/run does"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run this test, but it {reason}")
        pytest.skip(reason)
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.broker_url
    conf.task_always_eager, conf.broker_url = False, url
    yield url
    conf.task_always_eager, conf.broker_url = saved


@pytest.mark.broker
def test_real_worker_runs_the_retention_sweep(broker, transactional_db):
    """A worker consuming from the broker runs the sweep, which deletes the expired invitation.

    The worker runs in a thread of this process, so it sees the test database; the
    data is committed first (transactional_db), as it would be before a real queueing.
    """
    expired = make_invitation(expired_days_ago=60)
    queue = f"portal-test-{uuid.uuid4().hex}"  # our own queue: no other worker can take the task
    finished = threading.Event()
    outcome: dict[str, object] = {}

    def task_finished(sender=None, retval=None, state=None, **kwargs) -> None:
        if getattr(sender, "name", None) == retention_sweep.name:
            outcome.update(state=state, retval=retval)
            # The worker thread opened its own connection: close it so the test database
            # can be flushed and dropped afterwards (PostgreSQL refuses while it is in use).
            connections.close_all()
            finished.set()

    task_postrun.connect(task_finished, weak=False)
    try:
        with start_worker(celery_app, pool="solo", perform_ping_check=False, queues=[queue], shutdown_timeout=30):
            with celery_app.connection_for_write(broker) as connection:
                retention_sweep.apply_async(queue=queue, connection=connection)
            # Wait for the task rather than polling the table, which on SQLite would
            # compete with the worker's write for the shared in-memory database.
            assert finished.wait(timeout=30), "the worker did not run the task within 30 s"
    finally:
        task_postrun.disconnect(task_finished)

    assert outcome["state"] == "SUCCESS"
    invitations = next(m for m in outcome["retval"]["models"] if m["model"] == "accounts.Invitation")
    assert invitations["done"] == 1
    assert not Invitation.objects.filter(pk=expired.pk).exists()
