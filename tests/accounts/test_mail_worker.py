"""The whole mail path with a real broker: gateway → commit → Redis → worker → SMTP server.

Runs in CI (CELERY_BROKER_URL set by .ci/run); skipped locally without a broker.
"""

from __future__ import annotations

import threading
import uuid

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.db import connections, transaction

from accounts import roles
from accounts.correspondence import gateway
from accounts.correspondence.models import MailKind, Message
from accounts.tasks import deliver_message
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

    saved_queue = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    task_postrun.connect(task_finished, weak=False)
    try:
        with start_worker(celery_app, pool="solo", perform_ping_check=False, queues=[queue], shutdown_timeout=30):
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
        celery_app.conf.task_default_queue = saved_queue

    assert states == ["SUCCESS:sent"]
    assert Message.objects.get(pk=message.pk).status == Message.Status.SENT
    assert [e.rcpt_tos for e in smtp_server.received] == [["owner@c.example"]]
    assert b"Hello via Redis" in smtp_server.received[0].content
