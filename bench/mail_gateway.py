"""The mail gateway against its floors: storing against a bare INSERT of the same row,
delivering against Django's SMTP backend sending the same message to the same server.

- **Stored**: ``gateway.send_mail`` (render the template, store the message and its
  recipients, publish the delivery task after commit to Celery's in-memory transport, no
  worker), one transaction per message, against the floor: the same message row (every
  column as the gateway stored it, a new Message-ID) written by one raw ``INSERT`` in its
  own transaction.
- **Delivered**: ``delivery.deliver`` (claim the message, build it, send it through
  Django's SMTP backend on a new connection, mark it and its recipients sent), against
  the floor: Django's SMTP backend alone sending an ``EmailMessage`` with the same
  sender, recipients, subject and body, also on a new connection per message. The
  server is aiosmtpd's sink on loopback, in its own process, for both.
- **Delivered in batches**: ``delivery.deliver_many`` on as many other stored messages, in
  batches of the sweep's size (``accounts.tasks.SWEEP_BATCH``): one claim and one SMTP
  connection per batch, each message marked as soon as the server answered. Its floor:
  Django's SMTP backend sending the same messages with ``send_messages``, one connection
  per batch of the same size.

Gateway and floor alternate in blocks (``BENCH_MAIL_STORE`` and ``BENCH_MAIL_DELIVER``
messages, default 500 and 200), ``BENCH_MAIL_REPEATS`` times (default 3); rates and the
ratio per repeat, reported as median (min, max). Wall-clock, this process.

Run through `make bench` (bench/run.py), which prepares a scratch database; the figures
that matter are on PostgreSQL (``DATABASE_URL=postgres://...``).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import uuid

from django.conf import settings
from django.db import connection, transaction

from bench.stats import spread


def _n(name: str, default: int) -> int:
    return max(1, int(os.environ.get(name, str(default))))


def _sink() -> tuple[subprocess.Popen, int]:
    from tests.smtp import free_port

    port = free_port()
    server = subprocess.Popen(  # noqa: S603  (aiosmtpd's own command line)
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Sink"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import smtplib

    deadline = time.monotonic() + 20
    while True:
        try:
            smtplib.SMTP("127.0.0.1", port, timeout=2).quit()
            return server, port
        except OSError:
            if time.monotonic() > deadline:
                server.terminate()
                raise
            time.sleep(0.2)


def run() -> dict:
    from django.core.mail import EmailMessage, get_connection

    from accounts import roles, tasks
    from accounts.correspondence import delivery, gateway
    from accounts.correspondence.models import MailKind, Message
    from portal.celery import app
    from tests.accounts.factories import CustomerFactory, MembershipFactory, ProviderDetailsFactory

    n_store, n_deliver = _n("BENCH_MAIL_STORE", 500), _n("BENCH_MAIL_DELIVER", 200)
    n_store = max(n_store, 2 * n_deliver)  # one block for each way of delivering
    batch = tasks.SWEEP_BATCH
    repeats = _n("BENCH_MAIL_REPEATS", 3)
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    ProviderDetailsFactory()
    customer = CustomerFactory()
    for role in roles.Role:
        MembershipFactory(customer=customer, role=role)

    def store(tag: str, i: int) -> Message:
        with transaction.atomic():
            return gateway.send_mail(
                kind=MailKind.BILLING,
                template="staff_reply",
                customer=customer,
                context={"subject": f"Invoice {i}", "body": "Your invoice is attached."},
                idempotency_key=f"bench-store-{tag}-{i}",
            )

    app.conf.task_always_eager = False
    app.conf.broker_url = "memory://localhost/"
    model = store("template", 0)
    fields = [f for f in Message._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    table = connection.ops.quote_name(Message._meta.db_table)
    insert = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"  # noqa: S608  (names from the model)

    def row(i: int) -> list:
        values = []
        for f in fields:
            value = getattr(model, f.attname)
            if f.name == "message_id":
                value = f"bare-{uuid.uuid4().hex}@bench.example"
            elif f.name == "idempotency_key":
                value = None
            values.append(f.get_db_prep_save(value, connection))
        return values

    server, port = _sink()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", port, False
    settings.EMAIL_USE_SSL = False
    stored, bare, delivered, backend, batched, backend_batched = [], [], [], [], [], []
    try:
        for repeat in range(repeats):
            app.conf.task_always_eager = False
            started = time.perf_counter()
            ids = [store(f"r{repeat}", i).pk for i in range(n_store)]
            stored.append(n_store / (time.perf_counter() - started))
            rows = [row(i) for i in range(n_store)]  # prepared untimed, as the gateway's rendering is not
            started = time.perf_counter()
            for values in rows:
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(insert, values)
            bare.append(n_store / (time.perf_counter() - started))
            app.conf.task_always_eager = True

            started = time.perf_counter()
            outcomes = [delivery.deliver(pk).status for pk in ids[:n_deliver]]
            delivered.append(n_deliver / (time.perf_counter() - started))
            assert outcomes.count("sent") == n_deliver, outcomes[:5]
            sample = Message.objects.get(pk=ids[0])
            messages = [
                EmailMessage(sample.subject, sample.body_text, sample.from_address, sample.to_addresses)
                for _ in range(n_deliver)
            ]
            started = time.perf_counter()
            for message in messages:
                with get_connection(fail_silently=False) as smtp:
                    smtp.send_messages([message])
            backend.append(n_deliver / (time.perf_counter() - started))

            block = ids[n_deliver : 2 * n_deliver]
            started = time.perf_counter()
            sent = 0
            for start in range(0, n_deliver, batch):
                outcomes = delivery.deliver_many(block[start : start + batch])
                sent += sum(outcome.status == "sent" for outcome in outcomes.values())
            batched.append(n_deliver / (time.perf_counter() - started))
            assert sent == n_deliver, sent
            started = time.perf_counter()
            for start in range(0, n_deliver, batch):
                with get_connection(fail_silently=False) as smtp:
                    smtp.send_messages(messages[start : start + batch])
            backend_batched.append(n_deliver / (time.perf_counter() - started))
    finally:
        server.terminate()
        server.wait(timeout=10)
    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    store_ratio = [b / s for s, b in zip(stored, bare, strict=True)]
    deliver_ratio = [b / d for d, b in zip(delivered, backend, strict=True)]
    batch_ratio = [b / d for d, b in zip(batched, backend_batched, strict=True)]
    speedup = [b / d for d, b in zip(delivered, batched, strict=True)]
    timed = f"{repeats} repeats, gateway and floor in alternate blocks; wall-clock"
    return {
        "title": "Mail gateway",
        "rows": [
            (
                "Stored and queued (render, store message + recipients, publish after commit)",
                spread(stored, unit=" messages/s"),
                f"{n_store} messages per repeat, one transaction each; {timed}",
            ),
            (
                "Floor: bare INSERT of the same message row",
                spread(bare, unit=" rows/s"),
                f"{n_store} rows per repeat, one transaction each, raw SQL, values prepared untimed",
            ),
            ("Gateway cost / bare INSERT", spread(store_ratio, "{:.1f}", "×"), "per repeat"),
            (
                "Delivered (claim, build, send on a new SMTP connection, mark sent)",
                spread(delivered, unit=" messages/s"),
                f"{n_deliver} messages per repeat; aiosmtpd sink on loopback in its own process; {timed}",
            ),
            (
                "Floor: Django's SMTP backend alone, same message, same server",
                spread(backend, unit=" messages/s"),
                f"{n_deliver} messages per repeat, a new connection each",
            ),
            ("Delivery cost / Django's SMTP backend", spread(deliver_ratio, "{:.2f}", "×"), f"per repeat; {engine}"),
            (
                "Delivered in batches (deliver_many: one claim and one SMTP connection per batch, each marked)",
                spread(batched, unit=" messages/s"),
                f"{n_deliver} other messages per repeat in batches of {batch} (the sweep's); same server; "
                f"{spread(speedup, '{:.1f}', '×')} the rate one at a time",
            ),
            (
                "Floor: Django's SMTP backend, same messages, send_messages on one connection per batch",
                spread(backend_batched, unit=" messages/s"),
                f"{n_deliver} messages per repeat in batches of {batch}",
            ),
            (
                "Batch delivery cost / Django's SMTP backend",
                spread(batch_ratio, "{:.2f}", "×"),
                f"per repeat; {engine}",
            ),
        ],
    }
