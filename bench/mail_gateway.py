"""Mail gateway throughput: stored and queued per second, delivered per second to a local SMTP sink.

Run through `make bench` (bench/run.py), which prepares a scratch database.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import transaction

N_STORE = 2000
N_DELIVER = 500


def run() -> dict:
    from accounts import roles
    from accounts.correspondence import delivery, gateway
    from accounts.correspondence.models import MailKind, Message
    from portal.celery import app
    from tests.accounts.factories import CustomerFactory, MembershipFactory, ProviderDetailsFactory
    from tests.smtp import SMTPServer

    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command

    ProviderDetailsFactory()
    customer = CustomerFactory()
    for role in roles.Role:
        MembershipFactory(customer=customer, role=role)

    # Store and queue: a real publish to Celery's in-memory transport (no worker runs).
    app.conf.task_always_eager = False
    app.conf.broker_url = "memory://"
    started = time.perf_counter()
    for i in range(N_STORE):
        with transaction.atomic():
            gateway.send_mail(
                kind=MailKind.BILLING,
                template="staff_reply",
                customer=customer,
                context={"subject": f"Invoice {i}", "body": "Your invoice is attached."},
                idempotency_key=f"bench-store-{i}",
            )
    store_seconds = time.perf_counter() - started
    app.conf.task_always_eager = True

    # Deliver: the real SMTP backend to aiosmtpd on loopback, one connection per message
    # (as the delivery task does).
    ids = list(Message.objects.order_by("pk").values_list("pk", flat=True)[:N_DELIVER])
    with SMTPServer() as server:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", server.port, False
        started = time.perf_counter()
        outcomes = [delivery.deliver(pk).status for pk in ids]
        deliver_seconds = time.perf_counter() - started
        received = len(server.received)
    assert outcomes.count("sent") == N_DELIVER == received, (outcomes[:5], received)
    return {
        "title": "Mail gateway",
        "rows": [
            (
                "Stored and queued (render, store, publish after commit)",
                f"{N_STORE / store_seconds:,.0f} messages/s",
                f"{N_STORE} messages, one transaction each",
            ),
            (
                "Delivered to a local SMTP sink (aiosmtpd)",
                f"{N_DELIVER / deliver_seconds:,.0f} messages/s",
                f"{N_DELIVER} messages, claim + send + mark sent",
            ),
        ],
    }
