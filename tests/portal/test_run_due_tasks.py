"""Without a broker there is no beat: ``manage.py run_due_tasks`` (which ``make run``
starts next to the server) runs the schedules that are due, in-process."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from accounts import roles
from accounts.correspondence.models import Message
from tests.accounts.factories import CustomerFactory, MembershipFactory
from tests.billing.factories import issued_invoice

pytestmark = pytest.mark.django_db

DOCUMENT_SWEEP = "billing.tasks.send_unsent_documents"


def _run() -> str:
    out = io.StringIO()
    call_command("run_due_tasks", stdout=out)
    return out.getvalue()


def _last_ran(task: str, ago: dt.timedelta) -> None:
    PeriodicTask.objects.filter(task=task).update(last_run_at=timezone.now() - ago)


def test_the_due_document_sweep_runs_without_a_broker_and_only_when_due(provider):
    customer = CustomerFactory()
    MembershipFactory(customer=customer, role=roles.Role.BILLING)
    # Issued half an hour ago by a run that was killed before its delivery was queued.
    lost = issued_invoice(
        customer, issued_on=timezone.localdate(), created_at=timezone.now() - dt.timedelta(minutes=30)
    )
    PeriodicTask.objects.exclude(task=DOCUMENT_SWEEP).update(enabled=False)  # this test is about one schedule
    _last_ran(DOCUMENT_SWEEP, dt.timedelta(minutes=5))  # every 15 minutes: not due yet
    assert _run() == ""
    lost.refresh_from_db()
    assert not lost.pdf

    _last_ran(DOCUMENT_SWEEP, dt.timedelta(minutes=16))
    out = _run()
    assert "Send issued documents left without a PDF or email: done" in out
    lost.refresh_from_db()
    assert lost.pdf
    assert Message.objects.filter(template="invoice", related_id=str(lost.pk)).count() == 1
    assert _run() == ""  # it just ran: not due again for 15 minutes
    task = PeriodicTask.objects.get(task=DOCUMENT_SWEEP)
    assert timezone.now() - task.last_run_at < dt.timedelta(minutes=1) and task.total_run_count == 1


def test_a_failing_task_is_reported_and_the_others_still_run(provider, monkeypatch):
    from billing import tasks

    def broken():
        raise RuntimeError("renderer missing")

    monkeypatch.setattr(tasks.send_unsent_documents, "run", broken)
    PeriodicTask.objects.exclude(task__in=[DOCUMENT_SWEEP, "accounts.tasks.requeue_due_messages"]).update(enabled=False)
    _last_ran(DOCUMENT_SWEEP, dt.timedelta(hours=1))
    _last_ran("accounts.tasks.requeue_due_messages", dt.timedelta(hours=1))
    out = _run()
    assert "failed: RuntimeError: renderer missing" in out
    assert "Re-queue due and stuck emails: done" in out


def test_with_a_broker_beat_runs_the_schedules(settings):
    from portal.celery import app

    app.conf.task_always_eager = False
    try:
        with pytest.raises(CommandError, match="celery beat runs the schedules"):
            call_command("run_due_tasks")
    finally:
        app.conf.task_always_eager = True
