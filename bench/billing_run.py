"""The billing run against its floor: bare WeasyPrint rendering the run's own invoice
HTML in a fresh process, fed in blocks all through the run, repeated.

N customers (env ``BENCH_BILLING_CUSTOMERS``, default 300 so that ``make bench`` stays a
few minutes on SQLite), each with an owner and a billing contact and one or two monthly
subscriptions, are set up with ``bulk_create`` (not timed). One customer is billed first,
untimed, as the warm-up (fonts, templates, WeasyPrint's caches), and then the objects
alive are frozen out of the garbage collector's way (``gc.freeze()``;
``BENCH_BILLING_GC_FREEZE=0`` to compare without).

Each repeat (``BENCH_BILLING_REPEATS``, default 3) bills the next month for every
customer, with its floor interleaved:

- **the run**: ``run_billing`` bills the next month for every customer with Celery eager
  (the default without a broker), so each issued invoice is also rendered to PDF, stored
  with its SHA-256 and emailed with the PDF attached through the mail gateway — the whole
  path a real run takes — to ``bench.mail_backend``, which turns each message into the
  bytes SMTP would send and keeps none. The render-and-email tasks run as production's
  prefork workers run them: in a worker process forked from the run's, replaced after a
  task that left it above ``CELERY_WORKER_MAX_MEMORY_PER_CHILD`` (``RecycledWorker``),
  while the run waits for each, so that run and floor still take one core in turn.
  ``BENCH_BILLING_RECYCLE=0`` runs them in the run's own process instead, which grows by
  ~0.23 MB per invoice (memory WeasyPrint's native libraries keep) to 7 GB at 10,000;
- **the floor**: ``bench/weasyprint_floor.py``, a fresh Python process that imports no
  Django, started before the repeat and warmed up on the warm-up's document: bare
  ``HTML(...).write_pdf()`` with one shared URL fetcher. Every k-th document the run
  renders (its HTML exactly as ``billing.delivery.pdf`` rendered it: all of them up to
  2,000 invoices, then an evenly spread sample of about 2,000, ``floor_every``) is sent
  to it, and every ``FLOOR_BLOCK`` of them the run waits while the floor renders them. So run
  and floor alternate every few seconds, all run long, and a machine whose speed drifts
  (these are shared) slows both alike; the run's time leaves out its waits.

The ratio is the run's time per invoice over the floor's per document, per repeat; min,
median and max over the repeats are reported (a single run is never a pass/fail).
Wall-clock, and CPU: the run's CPU is this process's and its worker processes' plus
their PostgreSQL backends' (read from /proc for each process's one connection; on SQLite
the database is in the processes already), the floor's is its process's. Target: median
≤ 1.15×.

The run is measured as production runs it: ``bench/run.py`` turns Django's debug mode
off (``PORTAL_DEBUG=false``), which otherwise records every query.

The issue's target size (``TARGET_SIZE``), 10,000 customers on PostgreSQL; a smaller run
says in its table that it is below that size::

    BENCH_BILLING_CUSTOMERS=10000 DATABASE_URL=postgres://... make bench BENCH=bench.billing_run

Run through `make bench` (bench/run.py), which prepares a scratch database.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import time
import traceback
from decimal import Decimal
from pathlib import Path

PERIOD_START = dt.date(2026, 1, 1)
TARGET_RATIO = 1.15
TARGET_SIZE = 10_000  # customers: the size, at which the target is set
ROOT = Path(__file__).resolve().parent.parent


def n_customers() -> int:
    return int(os.environ.get("BENCH_BILLING_CUSTOMERS", "300"))


def _setup(n: int) -> None:
    """N active UK companies, each with an owner, a billing contact and 1–2 subscriptions."""
    from accounts import roles
    from accounts.models import Customer, LegalForm, Membership, Service, User
    from billing.models import BillingPeriod, Plan, Subscription
    from tests.billing.factories import configured_provider

    configured_provider()
    small = Plan.objects.create(
        name="VPS Small", period=BillingPeriod.MONTHLY, currency="GBP", price=Decimal("12.50"), vat_category="standard"
    )
    large = Plan.objects.create(
        name="Dedicated Large",
        period=BillingPeriod.MONTHLY,
        currency="GBP",
        price=Decimal("149.00"),
        vat_category="standard",
    )
    customers = Customer.objects.bulk_create(
        [
            Customer(
                legal_form=LegalForm.LIMITED_COMPANY,
                registered_name=f"Bench Widgets {i:05d} Ltd",
                company_number=f"{i:08d}",
                address_line1=f"{i} Bench Street",
                town="Exampletown",
                postcode="EX1 1AA",
                country="GB",
            )
            for i in range(n)
        ],
        batch_size=500,
    )
    if customers[0].pk is None:  # backends that do not return ids from bulk inserts
        customers = list(Customer.objects.filter(registered_name__startswith="Bench Widgets ").order_by("pk"))
    users = User.objects.bulk_create(
        [
            User(email=f"{who}{i}@bench-customer.example", full_name=f"{who.title()} {i}", password="!")
            for i in range(n)
            for who in ("owner", "billing")
        ],
        batch_size=500,
    )
    if users[0].pk is None:
        users = list(User.objects.filter(email__endswith="@bench-customer.example").order_by("pk"))
    Membership.objects.bulk_create(
        [
            Membership(user=users[2 * i + k], customer=customer, role=role)
            for i, customer in enumerate(customers)
            for k, role in enumerate((roles.Role.OWNER, roles.Role.BILLING))
        ],
        batch_size=500,
    )
    services = Service.objects.bulk_create(
        [
            Service(
                customer=customer,
                name=f"web-{s:02d}",
                kind=Service.Kind.VPS,
                platform=Service.Platform.VIRTUAL,
                started_on=dt.date(2025, 6, 1),
            )
            for i, customer in enumerate(customers)
            for s in range(1 + i % 2)  # every other customer has two services
        ],
        batch_size=500,
    )
    if services[0].pk is None:
        services = list(Service.objects.filter(customer__in=customers).order_by("pk"))
    Subscription.objects.bulk_create(
        [
            Subscription(service=service, plan=large if s % 3 == 2 else small, started_on=dt.date(2025, 6, 1))
            for s, service in enumerate(services)
        ],
        batch_size=500,
    )


def repeats() -> int:
    return max(1, int(os.environ.get("BENCH_BILLING_REPEATS", "3")))


def _period(repeat: int) -> dt.date:
    months = PERIOD_START.month - 1 + repeat
    return dt.date(PERIOD_START.year + months // 12, months % 12 + 1, 1)


def _backend_cpu() -> float:
    """CPU seconds so far of this connection's PostgreSQL backend (0 elsewhere)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return 0.0
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # a database on another machine: its CPU cannot be read from here
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mib() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def floor_every() -> int:
    """The floor renders every k-th of the run's invoices: all of them up to 2,000, then an
    evenly spread sample of about 2,000 (``BENCH_BILLING_FLOOR_EVERY`` sets k). The
    invoices are alike (one or two lines each), so the sample's time per document is the
    floor's; at 10,000 it keeps a repeat's floor to minutes, not a quarter of an hour."""
    return max(1, int(os.environ.get("BENCH_BILLING_FLOOR_EVERY", "0")) or n_customers() // 2000)


FLOOR_BLOCK = 20  # documents the floor renders at each of the run's waits


class Floor:
    """The floor's process for one repeat, fed every k-th of the documents the run renders.

    ``take(html)`` is called with each document's HTML as the run renders it; every
    ``FLOOR_BLOCK`` sampled documents the run waits for the floor to render them, and the
    wait is added to ``paused`` (wall, CPU) for the run's own time to leave out.
    """

    def __init__(self, base_url: str, warm_up: list[str]) -> None:
        self.process = subprocess.Popen(  # noqa: S603  (our own script, in a fresh interpreter)
            [sys.executable, str(ROOT / "bench" / "weasyprint_floor.py"), base_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.every = floor_every()
        self.seen = 0
        self.pending: list[str] = []
        self.totals = {"wall": 0.0, "cpu": 0.0, "gc": 0.0, "documents": 0, "bytes": 0}
        self.paused = [0.0, 0.0]
        self._render(warm_up)  # untimed: fonts and WeasyPrint's caches load

    def _render(self, documents: list[str]) -> dict:
        self.process.stdin.write(json.dumps(documents) + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            raise RuntimeError("the floor's process ended without an answer (see its error output above)")
        return json.loads(answer)

    def _flush(self) -> None:
        answer = self._render(self.pending)
        self.pending = []
        for key in self.totals:
            self.totals[key] += answer[key]

    def take(self, html: str) -> None:
        self.seen += 1
        if (self.seen - 1) % self.every:
            return
        self.pending.append(html)
        if len(self.pending) >= FLOOR_BLOCK:
            self.drain()

    def drain(self) -> None:
        """Render the documents waiting, while the run waits (its wait counted as paused)."""
        if not self.pending:
            return
        wall, cpu = time.perf_counter(), time.process_time()
        self._flush()
        self.paused[0] += time.perf_counter() - wall
        self.paused[1] += time.process_time() - cpu

    def state(self) -> dict:
        """What a worker process that fed the floor hands back (none pending: it drains first)."""
        return {"seen": self.seen, "totals": self.totals, "paused": self.paused}

    def restore(self, state: dict) -> None:
        self.seen, self.totals, self.paused = state["seen"], state["totals"], state["paused"]

    def close(self) -> dict:
        """Render what is left (the run's timer has stopped) and end the process; the totals."""
        if self.pending:
            self._flush()
        self.process.stdin.close()
        self.process.wait(timeout=60)
        return self.totals


def recycling() -> bool:
    """Whether the run's rendering tasks go to recycled worker processes (the default), as
    in production, or run in the run's own process (``BENCH_BILLING_RECYCLE=0``)."""
    return os.environ.get("BENCH_BILLING_RECYCLE", "1") != "0"


class RecycledWorker:
    """The run's render-and-email tasks, run as a Celery prefork worker runs them.

    Each task runs in a worker process forked from this one, which serves tasks one at a
    time and, after a task that left its peak resident set above ``limit_kib``, ends and is
    replaced by a new fork at the next task: billiard's rule for
    ``CELERY_WORKER_MAX_MEMORY_PER_CHILD`` (``ru_maxrss`` after each task). The run waits
    for each task, as eager Celery does, so run and floor still take one core in turn.

    Forked from the run's process, a worker starts at that process's size (production's
    start at the bare worker's), so it is replaced at least as often as production's. It
    opens its own database connection: the run's connection objects are kept, never used or
    closed, and the worker leaves by ``os._exit``. It freezes what is alive after its first
    task, as ``portal.celery`` has production's do. Each answer carries the worker's CPU,
    its PostgreSQL backend's, its collector's time and its emails, all since its fork, and
    the floor's state (the floor's process is the run's; the worker feeds it through the
    inherited pipes and drains its last block before it ends), which this process keeps.
    """

    COUNTED = ("cpu", "db_cpu", "gc", "sent", "sent_bytes")

    def __init__(self, tasks: list, *, limit_kib: int, floor: Floor, collector: list[float]) -> None:
        self.tasks = tasks
        self.limit_kib = limit_kib
        self.floor = floor
        self.collector = collector
        self.originals = {task.name: task.apply for task in tasks}
        self.child: tuple[int, object, object] | None = None
        self.last = dict.fromkeys(self.COUNTED, 0)
        self.totals = dict.fromkeys(self.COUNTED, 0)
        self.processes = 0
        self.peak_kib = 0
        self.errors: list[str] = []
        for task in tasks:
            # Eager Celery's apply_async calls the task's apply: the task is sent here instead.
            task.apply = self._apply_for(task.name)

    def _apply_for(self, name: str):
        def apply(args=None, kwargs=None, **options) -> None:
            if self.child is None:
                self._fork()
            self._ask({"task": name, "args": list(args or ()), "kwargs": dict(kwargs or {})})

        return apply

    def stop(self) -> None:
        """End the worker process, if one is running (it drains the floor's last block)."""
        if self.child is not None:
            self._ask({"task": None})

    def restore(self) -> None:
        """The tasks run in this process again, whether or not the worker answered its stop."""
        try:
            self.stop()
        finally:
            for task in self.tasks:
                del task.apply

    def _ask(self, command: dict) -> None:
        _pid, commands, answers = self.child
        commands.write(json.dumps(command) + "\n")
        commands.flush()
        line = answers.readline()
        if not line:  # it died: reaped, so that the next task forks a new one
            commands.close()
            answers.close()
            os.waitpid(self.child[0], 0)
            self.child = None
            raise RuntimeError("a worker process ended without an answer (see its error output above)")
        answer = json.loads(line)
        for key in self.COUNTED:
            self.totals[key] += answer[key] - self.last[key]
        self.last = answer
        self.floor.restore(answer["floor"])
        self.peak_kib = max(self.peak_kib, answer["rss_kib"])
        if answer["error"]:
            self.errors.append(answer["error"])
        if answer["exit"]:
            pid, commands, answers = self.child
            commands.close()
            answers.close()
            os.waitpid(pid, 0)
            self.child = None

    def _fork(self) -> None:
        commands_in, commands_out = os.pipe()
        answers_in, answers_out = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            os.close(commands_out)
            os.close(answers_in)
            try:
                self._serve(os.fdopen(commands_in), os.fdopen(answers_out, "w"))
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(1)  # only after an error: _serve leaves by os._exit(0)
        os.close(commands_in)
        os.close(answers_out)
        self.child = (pid, os.fdopen(commands_out, "w"), os.fdopen(answers_in))
        self.processes += 1
        self.last = dict.fromkeys(self.COUNTED, 0)

    def _serve(self, commands, answers) -> None:
        """The worker process's loop: a task per line, an answer per task."""
        from django.db import connections

        from bench.mail_backend import CountingBackend
        from portal.celery import _freeze_after_first_task

        inherited = []  # the run's connections: kept alive so that nothing closes them
        for connection in connections.all(initialized_only=True):
            inherited.append(connection.connection)
            connection.connection = None  # the next query connects afresh
            connection.run_on_commit = []
        _freeze_after_first_task()
        start = {"gc": self.collector[0], "sent": CountingBackend.sent, "sent_bytes": CountingBackend.sent_bytes}
        for line in commands:
            command = json.loads(line)
            error = ""
            if command["task"] is not None:
                try:
                    result = self.originals[command["task"]](command["args"], command["kwargs"])
                    if result.failed():
                        error = f"{command['task']}{tuple(command['args'])}: {result.result!r}"
                except Exception as exc:  # reported to the run, which then fails
                    error = f"{command['task']}{tuple(command['args'])}: {exc!r}"
            rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            exiting = command["task"] is None or rss_kib > self.limit_kib
            if exiting:
                self.floor.drain()
            answer = {
                "cpu": time.process_time(),  # a forked process's CPU starts at 0
                "db_cpu": _backend_cpu(),  # its own backend, started with it
                "gc": self.collector[0] - start["gc"],
                "sent": CountingBackend.sent - start["sent"],
                "sent_bytes": CountingBackend.sent_bytes - start["sent_bytes"],
                "floor": self.floor.state(),
                "rss_kib": rss_kib,
                "exit": exiting,
                "error": error,
            }
            answers.write(json.dumps(answer) + "\n")
            answers.flush()
            if exiting:
                os._exit(0)


def _spread(values: list[float], unit: str = "×", digits: int = 2) -> str:
    return (
        f"median {statistics.median(values):.{digits}f}{unit} (min {min(values):.{digits}f}, "
        f"max {max(values):.{digits}f})"
    )


def run() -> dict:
    from django.conf import settings
    from django.db import connection

    from accounts.audit import System
    from accounts.models import Customer
    from bench.mail_backend import CountingBackend
    from billing.delivery import pdf
    from billing.models import BillingRun, Invoice
    from billing.tasks import render_and_send_invoice, render_and_send_invoices
    from billing.workflows.run import run_billing
    from portal.celery import app

    n = n_customers()
    _setup(n + 1)  # one more, billed first as the warm-up
    if connection.vendor == "postgresql":
        # The tables were just filled in bulk: their statistics are brought up to date, as
        # autovacuum keeps a database in service, rather than left to its first pass (a
        # minute in), before which the planner takes 10,000 customers for a few dozen.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    settings.EMAIL_BACKEND = "bench.mail_backend.CountingBackend"
    app.conf.task_always_eager = True  # render, store and email in process, after each commit
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    logging.getLogger("celery.app.trace").setLevel(logging.WARNING)  # one INFO line per eager task
    base_url = str(getattr(settings, "BASE_DIR", "."))

    # Every document's HTML, as the renderer has it, goes to ``feeding`` (the warm-up's list,
    # then each repeat's floor).
    renderer = pdf._write_pdf
    warm_up_documents: list[str] = []
    feeding = [warm_up_documents.append]

    def render_and_feed(html: str) -> bytes:
        content = renderer(html)
        feeding[0](html)
        return content

    pdf._write_pdf = render_and_feed
    warm_up = Customer.objects.filter(services__subscriptions__isnull=False).order_by("pk").first()
    for repeat in range(repeats()):
        run_billing(_period(repeat), customer=warm_up, actor=System("benchmark"))
    freeze = os.environ.get("BENCH_BILLING_GC_FREEZE", "1") != "0"
    recycle = recycling()
    if freeze:  # what was alive after the warm-up is never traversed by the collector again
        gc.collect()
        gc.freeze()

    collector = [0.0, 0.0]

    def time_collections(phase: str, _info: dict) -> None:
        if phase == "start":
            collector[1] = time.perf_counter()
        else:
            collector[0] += time.perf_counter() - collector[1]

    results = []
    gc.callbacks.append(time_collections)
    try:
        for repeat in range(repeats()):
            period = _period(repeat)
            CountingBackend.sent = CountingBackend.sent_bytes = 0
            collector[0] = 0.0
            floor = Floor(base_url, warm_up_documents[:1])
            feeding[0] = floor.take
            worker = (
                RecycledWorker(
                    [render_and_send_invoice, render_and_send_invoices],
                    limit_kib=settings.CELERY_WORKER_MAX_MEMORY_PER_CHILD,
                    floor=floor,
                    collector=collector,
                )
                if recycle
                else None
            )
            rss = _rss_mib()
            backend = _backend_cpu()
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                billing_run = run_billing(period, actor=System("benchmark"))
            finally:
                if worker is not None:
                    worker.restore()  # its process ends (draining the floor's last block)
            workers = worker.totals if worker is not None else dict.fromkeys(RecycledWorker.COUNTED, 0)
            wall = time.perf_counter() - wall - floor.paused[0]
            cpu = time.process_time() - cpu + workers["cpu"] - floor.paused[1]
            backend = _backend_cpu() - backend + workers["db_cpu"]
            feeding[0] = warm_up_documents.append
            gc.callbacks.remove(time_collections)
            floor_result = floor.close()
            gc.callbacks.append(time_collections)
            assert billing_run.status == BillingRun.Status.DONE, billing_run.error
            assert worker is None or not worker.errors, worker.errors[:3]
            invoices = list(
                Invoice.objects.filter(period_start=period, kind=Invoice.Kind.INVOICE)
                .exclude(customer=warm_up)
                .select_related("customer", "corrects")
                .order_by("pk")
            )
            assert len(invoices) == billing_run.created == n, (len(invoices), billing_run.created, n)
            assert all(invoice.pdf for invoice in invoices), "an issued invoice has no stored PDF"
            sent = CountingBackend.sent + workers["sent"]
            assert sent == n, (sent, n)
            result = {
                "wall": wall,
                "cpu": cpu,
                "db_cpu": backend,
                "gc": collector[0] + workers["gc"],
                "rss_growth": _rss_mib() - rss,
                "workers": worker.processes if worker is not None else 0,
                "worker_peak_kib": worker.peak_kib if worker is not None else 0,
                "email_bytes": CountingBackend.sent_bytes + workers["sent_bytes"],
                "pdf_bytes": sum(invoice.pdf.size for invoice in invoices),
                "floor": floor_result,
            }
            results.append(result)
    finally:
        pdf._write_pdf = renderer
        if time_collections in gc.callbacks:
            gc.callbacks.remove(time_collections)

    # Per document: the floor may have rendered a sample of the run's documents.
    wall_ratios = [(r["wall"] / n) / (r["floor"]["wall"] / r["floor"]["documents"]) for r in results]
    db_known = all(r["db_cpu"] == r["db_cpu"] for r in results)  # NaN: not readable
    cpu_ratios = [
        ((r["cpu"] + (r["db_cpu"] if db_known else 0)) / n) / (r["floor"]["cpu"] / r["floor"]["documents"])
        for r in results
    ]
    per = [1000 * r["wall"] / n for r in results]
    floor_per = [1000 * r["floor"]["wall"] / r["floor"]["documents"] for r in results]
    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    db_cpu = (
        f"PostgreSQL backend {_spread([1000 * r['db_cpu'] / n for r in results], ' ms', 1)} per invoice, included"
        if engine == "postgresql" and db_known
        else ("in this process (SQLite)" if engine != "postgresql" else "not readable here: NOT included")
    )
    count = len(results)
    conditions = f"{n:,} customers, {n:,} invoices (1–2 lines each) per repeat, {count} repeat{'s' * (count != 1)}"
    median = statistics.median(wall_ratios)

    def verdict(value: float) -> str:
        """Met or not; below 3 repeats only a trend (a single run is never a pass/fail)."""
        said = "met" if value <= TARGET_RATIO else "NOT met"
        return said if count >= 3 else f"{said} in {count} repeat{'s' * (count != 1)}: a trend, not a pass/fail"

    documents = n * len(results)
    limit_mib = settings.CELERY_WORKER_MAX_MEMORY_PER_CHILD // 1024

    floor_documents = sum(r["floor"]["documents"] for r in results)

    def kib(key, per=documents) -> str:
        return f"{sum(key(r) for r in results) / per / 1024:,.1f} KiB"

    return {
        # Sized and per database: the default small run and the full-size one coexist.
        "title": f"Billing run: {n:,} customers on {engine}{'' if recycle else ', in one process'}"
        f"{'' if freeze else ', without gc.freeze()'}",
        "rows": [
            (
                "Billing run (invoice, issue, render + store PDF, email via gateway)",
                _spread(per, " ms", 0) + " per invoice",
                f"{conditions}; Celery eager, warmed up{', gc.freeze()d' if freeze else ''}, "
                + (
                    "each render-and-email task in a worker process forked from the run's and replaced after a "
                    f"task leaving it above CELERY_WORKER_MAX_MEMORY_PER_CHILD ({limit_mib:,} MiB), as prefork "
                    f"does: {_spread([r['workers'] for r in results], '', 0)} processes per repeat, one at a time; "
                    if recycle
                    else "all in one process; "
                )
                + "each email built to its SMTP bytes, not sent",
            ),
            (
                "Floor: bare WeasyPrint, same HTML, fresh process without Django",
                _spread(floor_per, " ms", 0) + " per invoice",
                "bench/weasyprint_floor.py; HTML(...).write_pdf() with one shared URL fetcher; one untimed "
                f"warm-up document; one process per repeat, fed {FLOOR_BLOCK} documents at a time while the run "
                "waits (the run's time leaves the waits out); "
                + (
                    "every one of the run's documents"
                    if floor_every() == 1
                    else f"one in {floor_every()} of the run's documents ({results[0]['floor']['documents']:,} "
                    "per repeat, evenly spread), timed per document"
                ),
            ),
            (
                "Run / floor, wall-clock",
                _spread(wall_ratios),
                f"target median ≤ {TARGET_RATIO}×: {verdict(median)} at this size"
                + (
                    f" ({n:,} customers, below the target size of {TARGET_SIZE:,}: not the target's measurement)"
                    if n < TARGET_SIZE
                    else ""
                ),
            ),
            (
                "Run / floor, CPU",
                _spread(cpu_ratios),
                f"target median ≤ {TARGET_RATIO}×: "
                f"{verdict(statistics.median(cpu_ratios))}; "
                f"run: this process + {db_cpu}; floor: its process",
            ),
            (
                "Garbage collector's time in the run",
                _spread([1000 * r["gc"] / n for r in results], " ms", 1) + " per invoice",
                "CPython's collector (gc.callbacks), included in the run's time; in the floor "
                + _spread([1000 * r["floor"]["gc"] / r["floor"]["documents"] for r in results], " ms", 1)
                + " per document",
            ),
            (
                "Worker processes' peak memory",
                _spread([r["worker_peak_kib"] / 1024 for r in results], " MiB", 0),
                "the largest getrusage maxrss a worker process reported, each repeat (from the run's size at its fork)",
            )
            if recycle
            else (
                "Run's memory growth",
                _spread([1024 * r["rss_growth"] / n for r in results], " KiB", 0) + " per invoice",
                "resident set of the run's process, before and after each repeat",
            ),
            (
                "PDF size",
                f"{kib(lambda r: r['pdf_bytes'])} average",
                f"stored PDFs; the floor's {kib(lambda r: r['floor']['bytes'], floor_documents)}; "
                f"the email with it attached {kib(lambda r: r['email_bytes'])}",
            ),
            (
                "Peak memory of the run's process",
                f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB",
                "getrusage maxrss, including the data set-up" + (", not its worker processes" if recycle else ""),
            ),
        ],
    }
