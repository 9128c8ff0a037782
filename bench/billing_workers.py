"""The billing run with real Celery workers: the speed-up from one rendering worker to two,
and how long each invoice's email waits between being stored and being sent.

Needs a broker and a database that several processes share: PostgreSQL
(``DATABASE_URL``) and Redis (``BENCH_BROKER_URL``, default ``redis://127.0.0.1:6379/13``;
the benchmark empties that Redis database first, so give it one of its own). Not part of
the default ``make bench``::

    DATABASE_URL=postgres://.../fresh_db make bench BENCH=bench.billing_workers

``BENCH_WORKERS_CUSTOMERS`` customers (default 200) as in bench/billing_run.py. The
processes are production's, started by ``deploy/run``: rendering workers
(``deploy/run worker`` on the default queue, one process each), one mail worker
(``deploy/run mail-worker``, the ``mail`` queue) delivering to aiosmtpd's sink on
loopback in its own process. Each trial queues the billing run as staff do
(``run_billing_task``): a worker issues the invoices in groups and queues each one's PDF
and email; the mail worker delivers. A trial's time runs from queuing the run to the last
invoice's PDF stored (polled every 0.25 s); then the trial waits for the last email.

Trials alternate one and two rendering workers, ABBA (1, 2, 2, 1, 1, 2: three pairs,
``BENCH_WORKERS_PAIRS``), each billing the next month for every customer, each with its
workers started fresh; an untimed first run bills the catch-up month and warms the
database. Reported: the speed-up per pair as median (min, max), and from stored to sent
(``Message.sent_at - created_at`` of the run's invoice emails) p50 and p95 by worker count.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import statistics
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRST_PERIOD = dt.date(2026, 3, 1)
LATENCY_TARGET = 10.0


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def _month(index: int) -> dt.date:
    months = FIRST_PERIOD.month - 1 + index
    return dt.date(FIRST_PERIOD.year + months // 12, months % 12 + 1, 1)


def _start(role: str, name: str, environ: dict) -> subprocess.Popen:
    return subprocess.Popen(  # noqa: S603  (our own deploy script)
        [str(ROOT / "deploy" / "run"), role],
        cwd=ROOT,
        env={**environ, "PORTAL_WORKER_NAME": name},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, 15)
    for process in processes:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


def _wait_for(names: list[str]) -> None:
    from portal.celery import app

    destinations = [f"{name}@{socket.gethostname()}" for name in names]
    deadline = time.monotonic() + 120
    while len(app.control.ping(destination=destinations, timeout=1.0)) < len(destinations):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the workers {destinations} did not answer within 120 s")


def _trial(period: dt.date, customers, workers: int, environ: dict, n: int) -> dict:
    from django.db import close_old_connections

    from accounts.correspondence.models import Message
    from billing.models import BillingRun, Invoice
    from billing.tasks import run_billing_task

    names = [f"bench-render{i}-{os.getpid()}" for i in range(workers)]
    renderers = [_start("worker", name, environ) for name in names]
    try:
        _wait_for(names)  # every worker is up and consuming before the run is queued
        run = BillingRun.objects.create(period_start=period)
        started_at = dt.datetime.now(dt.UTC)
        started = time.perf_counter()
        run_billing_task.delay(run.pk)
        invoices = Invoice.objects.filter(period_start=period, kind=Invoice.Kind.INVOICE, customer__in=customers)
        deadline = started + 120 + 5 * n
        while invoices.exclude(pdf="").count() < n:
            if time.perf_counter() > deadline:
                done = invoices.exclude(pdf="").count()
                raise RuntimeError(f"only {done} of {n} PDFs after {deadline - started:.0f} s")
            time.sleep(0.25)
            close_old_connections()
        rendered = time.perf_counter() - started
        emails = Message.objects.filter(customer__in=customers, created_at__gte=started_at, kind="billing")
        while emails.filter(status=Message.Status.SENT).count() < n:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"only {emails.filter(status=Message.Status.SENT).count()} of {n} emails sent")
            time.sleep(0.25)
        all_sent = time.perf_counter() - started
        waits = [(sent - created).total_seconds() for created, sent in emails.values_list("created_at", "sent_at")]
    finally:
        _stop(renderers)
    return {"workers": workers, "seconds": rendered, "all_sent": all_sent, "waits": waits}


def run() -> dict:
    import redis
    from django.conf import settings

    from accounts.models import Customer
    from bench.billing_run import _setup
    from bench.mail_gateway import _sink
    from billing.models import Subscription
    from portal.celery import app

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit("bench.billing_workers needs PostgreSQL (DATABASE_URL): several processes share it.")
    if Subscription.objects.exists():
        raise SystemExit("bench.billing_workers bills every customer: run it on a database of its own.")
    n = int(os.environ.get("BENCH_WORKERS_CUSTOMERS", "200"))
    pairs = int(os.environ.get("BENCH_WORKERS_PAIRS", "3"))
    broker = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/13")
    redis.Redis.from_url(broker).flushdb()
    _setup(n)
    customers = list(Customer.objects.filter(registered_name__startswith="Bench Widgets "))
    app.conf.task_always_eager = False
    app.conf.broker_url = broker

    sink, port = _sink()
    environ = {
        **os.environ,
        "CELERY_BROKER_URL": broker,
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(port),
        "EMAIL_USE_TLS": "false",
        "PORTAL_DEBUG": "false",
        "PORTAL_WORKER_QUEUES": "celery",
        "PORTAL_WORKER_CONCURRENCY": "1",
    }
    mail_worker = _start("mail-worker", f"bench-mail-{os.getpid()}", environ)
    _wait_for([f"bench-mail-{os.getpid()}"])
    order = [1, 2, 2, 1] * pairs
    order = order[: 2 * pairs]
    trials = []
    try:
        _trial(_month(0), customers, 2, environ, n)  # the catch-up month, untimed
        for index, workers in enumerate(order, start=1):
            trials.append(_trial(_month(index), customers, workers, environ, n))
            print(f"    trial {index}: {workers} worker(s), {trials[-1]['seconds']:.1f} s", flush=True)
    finally:
        _stop([mail_worker])
        sink.terminate()
        sink.wait(timeout=10)

    ones = [t["seconds"] for t in trials if t["workers"] == 1]
    twos = [t["seconds"] for t in trials if t["workers"] == 2]
    speedups = [one / two for one, two in zip(ones, twos, strict=True)]
    rows = [
        (
            "Conditions",
            f"{n:,} customers, {n:,} invoices per trial, {len(trials)} trials (ABBA: {', '.join(map(str, order))})",
            "PostgreSQL and Redis on this machine; deploy/run worker (1 process each, default queue) and one "
            "deploy/run mail-worker (threads) delivering to aiosmtpd's sink in its own process; "
            "run queued as run_billing_task; time from queuing to the last PDF stored",
        ),
        (
            "1 rendering worker",
            f"median {statistics.median(ones):.1f} s (min {min(ones):.1f}, max {max(ones):.1f})",
            f"{n / statistics.median(ones):.1f} invoices/s",
        ),
        (
            "2 rendering workers",
            f"median {statistics.median(twos):.1f} s (min {min(twos):.1f}, max {max(twos):.1f})",
            f"{n / statistics.median(twos):.1f} invoices/s",
        ),
        (
            "Speed-up, 1 → 2 workers",
            f"median {statistics.median(speedups):.2f}× (min {min(speedups):.2f}, max {max(speedups):.2f})",
            f"{len(speedups)} pairs; {os.cpu_count()} cores, shared with PostgreSQL and the mail worker",
        ),
    ]
    for workers in (1, 2):
        waits = [w for t in trials if t["workers"] == workers for w in t["waits"]]
        p95 = _percentile(waits, 95)
        per_trial = [_percentile(t["waits"], 95) for t in trials if t["workers"] == workers]
        rows.append(
            (
                f"Stored → sent during the run, {workers} rendering worker{'s' if workers > 1 else ''}",
                f"p50 {statistics.median(waits):.2f} s, p95 {p95:.2f} s",
                f"{len(waits):,} invoice emails; trials' p95 {min(per_trial):.2f}–{max(per_trial):.2f} s; "
                f"one mail worker; target p95 ≤ {LATENCY_TARGET:g} s: {'met' if p95 <= LATENCY_TARGET else 'NOT met'}",
            )
        )
    return {"title": f"Billing run with Celery workers: {n:,} customers", "rows": rows}
