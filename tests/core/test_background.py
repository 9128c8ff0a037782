"""Tasks are queued only once the transaction that asked for them has committed."""

from __future__ import annotations

import logging

import pytest
from celery.app.task import Task
from django.db import transaction
from kombu.exceptions import OperationalError

from core.background import TransactionAwareTask
from portal.celery import app

pytestmark = pytest.mark.django_db(transaction=True)  # real commits and rollbacks


class Probe(app.Task):
    """The app's task class, not registered with the app: only its sends are looked at."""

    name = "tests.core.probe"

    def run(self, pk: int) -> None:  # never runs: sending is replaced below
        raise AssertionError("the probe only records sends")


Probe.bind(app)


@pytest.fixture
def sent(monkeypatch) -> list[tuple]:
    """What reached Celery's own send (the broker, or in-process without one)."""
    calls: list[tuple] = []

    def record(self, args=None, kwargs=None, **options):
        calls.append((self.name, tuple(args or ()), options.get("countdown")))
        return "sent"

    monkeypatch.setattr(Task, "apply_async", record)
    return calls


def test_it_is_the_apps_task_class():
    app.loader.import_default_modules()
    assert "tests.core.probe" not in app.tasks
    assert app.tasks, "autodiscovery found no tasks"
    assert all(isinstance(task, TransactionAwareTask) for task in app.tasks.values())


def test_outside_a_transaction_it_is_sent_at_once(sent):
    assert Probe().delay(1) == "sent"
    assert sent == [("tests.core.probe", (1,), None)]


def test_inside_a_transaction_it_is_sent_once_after_the_commit(sent):
    with transaction.atomic():
        assert Probe().delay(2) is None
        with transaction.atomic():  # a savepoint that is released: still one send, at the commit
            Probe().apply_async((3,), countdown=5)
        assert sent == [], "nothing may be sent before the commit"
    assert sent == [("tests.core.probe", (2,), None), ("tests.core.probe", (3,), 5)]


def test_a_transaction_that_rolls_back_sends_nothing(sent):
    with pytest.raises(RuntimeError), transaction.atomic():
        Probe().delay(4)
        raise RuntimeError("the caller failed after queueing")
    with transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():  # only the savepoint rolls back
            Probe().delay(5)
            raise RuntimeError("the inner block failed")
        Probe().delay(6)
    assert sent == [("tests.core.probe", (6,), None)]


@pytest.mark.parametrize("in_transaction", [True, False])
def test_a_send_that_fails_is_logged_and_not_raised(monkeypatch, caplog, in_transaction):
    def broker_down(self, *args, **kwargs):
        raise OperationalError("the broker is down")

    monkeypatch.setattr(Task, "apply_async", broker_down)
    with caplog.at_level(logging.ERROR, logger="core.background"):
        if in_transaction:
            with transaction.atomic():
                Probe().delay(7)
        else:
            assert Probe().delay(7) is None

    [record] = [r for r in caplog.records if r.name == "core.background"]
    assert "tests.core.probe" in record.getMessage()
    assert isinstance(record.exc_info[1], OperationalError)


def test_a_retry_is_sent_at_once_even_inside_a_transaction(sent):
    """A worker's retry belongs to the run of the task, not to a transaction it has open."""
    probe = Probe()
    probe.push_request(id="run-1", retries=0, is_eager=False, called_directly=False, args=(8,), kwargs={})
    try:
        with transaction.atomic():
            probe.retry(countdown=60, throw=False)
            assert sent == [("tests.core.probe", (8,), 60)]
    finally:
        probe.pop_request()


@pytest.mark.django_db  # the transaction a TestCase wraps each test in
def test_a_test_cases_own_transaction_does_not_count(sent, django_capture_on_commit_callbacks):
    """It stands for autocommit, so a test sees what production does."""
    Probe().delay(9)
    assert sent == [("tests.core.probe", (9,), None)]

    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        Probe().delay(10)
        assert len(sent) == 1
    assert len(callbacks) == 1
    assert sent[-1] == ("tests.core.probe", (10,), None)
