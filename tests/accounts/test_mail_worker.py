"""The whole mail path with a real broker: gateway → commit → Redis → worker → SMTP server.

Runs in CI (CELERY_BROKER_URL set by .ci/run); skipped locally without a broker.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from pathlib import Path
from unittest import mock

import pytest
from celery.app.routes import Router, prepare
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.db import connections, transaction
from django.utils import timezone

from accounts import roles
from accounts.correspondence import gateway
from accounts.correspondence.models import MailKind, Message
from accounts.tasks import deliver_message, deliver_messages, requeue_due_messages
from portal.celery import app as celery_app
from tests.accounts.factories import MembershipFactory, UserFactory
from tests.test_celery_worker import broker  # noqa: F401  (the real-broker fixture)


@pytest.mark.broker
def test_gateway_to_smtp_through_a_real_worker(broker, transactional_db, provider, customer, smtp_server):  # noqa: F811
    MembershipFactory(customer=customer, role=roles.Role.OWNER, user=UserFactory(email="owner@c.example"))
    queue = f"portal-mail-test-{uuid.uuid4().hex}"
    finished = threading.Event()
    states: list[str] = []

    def task_finished(sender=None, retval=None, state=None, **kwargs) -> None:
        if getattr(sender, "name", None) == deliver_message.name:
            states.append(f"{state}:{retval}")
            connections.close_all()  # the worker thread's connection, so the test DB can be dropped
            finished.set()

    # Delivery has its own queue (settings.CELERY_TASK_ROUTES); here a queue of this test's
    # own, so no other worker on the broker can take the message. Only that queue has a
    # worker: the email leaves without any worker on the default queue.
    router = Router(prepare({deliver_message.name: {"queue": queue}}), celery_app.amqp.queues, True, app=celery_app)
    task_postrun.connect(task_finished, weak=False)
    try:
        with (
            mock.patch.object(celery_app.amqp, "router", router),
            start_worker(celery_app, pool="solo", perform_ping_check=False, queues=[queue], shutdown_timeout=30),
        ):
            with transaction.atomic():
                message = gateway.send_mail(
                    kind=MailKind.SERVICE,
                    template="staff_reply",
                    customer=customer,
                    idempotency_key="worker-1",
                    context={"subject": "Through the worker", "body": "Hello via Redis"},
                )
                assert Message.objects.get(pk=message.pk).status == Message.Status.QUEUED
            assert finished.wait(timeout=30), "the worker did not deliver within 30 s"
    finally:
        task_postrun.disconnect(task_finished)

    assert states == ["SUCCESS:sent"]
    assert Message.objects.get(pk=message.pk).status == Message.Status.SENT
    assert [e.rcpt_tos for e in smtp_server.received] == [["owner@c.example"]]
    assert b"Hello via Redis" in smtp_server.received[0].content


@pytest.mark.broker
def test_the_sweep_sends_due_messages_in_batches_through_a_real_worker(
    broker,  # noqa: F811
    transactional_db,
    provider,
    customer,
    smtp_server,
):
    MembershipFactory(customer=customer, role=roles.Role.OWNER, user=UserFactory(email="owner@c.example"))
    with mock.patch.object(deliver_message, "delay"), transaction.atomic():  # stored, not yet delivered
        ids = [
            gateway.send_mail(
                kind=MailKind.SERVICE,
                template="staff_reply",
                customer=customer,
                idempotency_key=f"sweep-{n}",
                context={"subject": f"Swept {n}", "body": "Hello"},
            ).pk
            for n in range(3)
        ]
    Message.objects.filter(pk__in=ids).update(next_attempt_at=timezone.now() - dt.timedelta(minutes=5))
    queue = f"portal-mail-test-{uuid.uuid4().hex}"
    finished = threading.Event()
    results: list = []

    def task_finished(sender=None, retval=None, state=None, **kwargs) -> None:
        if getattr(sender, "name", None) == deliver_messages.name:
            results.append((state, retval))
            connections.close_all()
            finished.set()

    router = Router(prepare({deliver_messages.name: {"queue": queue}}), celery_app.amqp.queues, True, app=celery_app)
    task_postrun.connect(task_finished, weak=False)
    try:
        with (
            mock.patch.object(celery_app.amqp, "router", router),
            start_worker(celery_app, pool="solo", perform_ping_check=False, queues=[queue], shutdown_timeout=30),
        ):
            assert requeue_due_messages() == 3  # one batch task for the three
            assert finished.wait(timeout=30), "the worker did not deliver within 30 s"
    finally:
        task_postrun.disconnect(task_finished)

    assert results == [("SUCCESS", {"sent": 3})]
    assert set(Message.objects.filter(pk__in=ids).values_list("status", flat=True)) == {Message.Status.SENT}
    assert len(smtp_server.received) == 3
    assert len({e.peer for e in smtp_server.received}) == 1  # one connection for the batch


def test_delivery_has_its_own_queue_and_every_other_task_the_default(settings):
    router = celery_app.amqp.router
    assert router.route({}, deliver_message.name)["queue"].name == settings.PORTAL_MAIL_QUEUE == "mail"
    assert router.route({}, requeue_due_messages.name)["queue"].name == "mail"
    assert router.route({}, deliver_messages.name)["queue"].name == "mail"
    others = (
        "billing.tasks.render_and_send_invoice",
        "billing.tasks.render_and_send_invoices",
        "privacy.tasks.retention_sweep",
        "privacy.tasks.build_export",
    )
    for name in others:
        assert name in celery_app.tasks
        assert router.route({}, name)["queue"].name == "celery"


def test_the_ordinary_worker_takes_mail_too_and_the_mail_worker_only_mail():
    """An installation that runs only `deploy/run worker` still sends its email."""
    run = (Path(__file__).resolve().parents[2] / "deploy" / "run").read_text()
    worker = run.split("\nworker)", 1)[1].split(";;", 1)[0]
    mail_worker = run.split("\nmail-worker)", 1)[1].split(";;", 1)[0]
    assert '--queues "${PORTAL_WORKER_QUEUES:-celery,mail}"' in worker
    assert "--queues mail " in mail_worker
