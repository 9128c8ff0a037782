"""Customer pages under load, against a bare view behind the same middleware.

Builds a customer with ten years of history (tests/large_customer.py: 500 documents,
5,004 messages, 50 services, 25 contacts at ``BENCH_PAGES_SCALE=1``; the default, 0.1,
keeps ``make bench`` short), serves the portal with gunicorn exactly as production
starts it (``deploy/run web``, ``BENCH_PAGES_WORKERS`` processes, default 4, debug off,
request logging on), logs the customer's owner in once (one session, as a person
clicking around), and drives every customer page and the bare view
(``/bench/bare/``: the same middleware and customer-page decorator, no work of its own;
on only for the benchmark, ``PORTAL_BENCH_BARE_VIEW``) with ``BENCH_PAGES_CONCURRENCY``
concurrent requests (default 32).

Each round sends ``BENCH_PAGES_REQUESTS`` requests (default 32) to each page in turn, the
pages in a new random order each round, the bare view among them, so every page and the
floor meet the same machine; ``BENCH_PAGES_ROUNDS`` rounds (default 5). Latency is
client-side wall-clock, from opening the connection to the last byte (gunicorn's sync
workers close every connection), measured by threads in this process on the same
machine. Reported per page: p50 and p95 over all rounds, the lowest and highest of the
rounds' p95, and each round's p95 divided by the bare view's p95 in that round, as median
(min, max) over the rounds; the target (≤ 2×) is judged on the worst page's median, never
on one round. Every response must be 200 or the benchmark stops.

Two servers are measured one after the other, the same way: first as production runs
(kept pages on, ``core.pagecache``: the untimed warm-up renders each page once, and the
timed requests are served the kept page, as a person finds it on coming back while
nothing it shows has changed), then with ``PORTAL_PAGE_CACHE=false``, every request
rendered, which is what the first view after a change costs. The target is judged on the
first; the second's ratios are reported beside it, so neither figure hides the other.

    BENCH_PAGES_SCALE=1 DATABASE_URL=postgres://... make bench BENCH=bench.pages
"""

from __future__ import annotations

import http.client
import os
import random
import socket
import statistics
import subprocess
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 2.0


def _setting(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(port: int, path: str, cookie: str) -> tuple[int, float, int]:
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request("GET", path, headers={"Cookie": cookie, "Host": "127.0.0.1"})
        response = connection.getresponse()
        body = response.read()
        return response.status, time.perf_counter() - started, len(body)
    finally:
        connection.close()


def _drive(port: int, path: str, cookie: str, *, requests: int, concurrency: int) -> list[float]:
    """``requests`` GETs of ``path``, ``concurrency`` at a time; their latencies in seconds."""
    latencies: list[float] = []
    failures: list[str] = []
    left = iter(range(requests))
    lock = threading.Lock()

    def client() -> None:
        while True:
            with lock:
                if next(left, None) is None:
                    return
            status, seconds, _ = _get(port, path, cookie)
            with lock:
                latencies.append(seconds)
                if status != 200:
                    failures.append(f"{path} answered {status}")

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} failed requests, e.g. {failures[0]}")
    return latencies


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def _pages(built) -> dict[str, str]:
    from django.urls import reverse

    from accounts.correspondence.models import Message
    from billing.models import Invoice

    invoice = Invoice.objects.filter(customer=built.customer).order_by("-issued_on").first()
    thread = Message.objects.filter(customer=built.customer, thread__isnull=True).order_by("-created_at").first()
    return {
        "bare view (floor)": reverse("portal:bench_bare"),
        "dashboard": reverse("portal:dashboard"),
        "invoice list": reverse("billing:invoices"),
        "invoice detail": reverse("billing:invoice_detail", args=[invoice.pk]),
        "statement (default period)": reverse("billing:statement"),
        "correspondence list": reverse("correspondence:list"),
        "conversation": reverse("correspondence:detail", args=[thread.pk]),
        "privacy centre": reverse("privacy:centre"),
        "what we hold": reverse("privacy:what_we_hold"),
        "disclosures": reverse("privacy:disclosures"),
        "data exports": reverse("privacy:exports"),
        "privacy requests": reverse("privacy:requests"),
        "contacts": reverse("accounts:contacts"),
        "services": reverse("accounts:services"),
        "profile": reverse("accounts:profile"),
    }


def _serve(port: int, workers: int, *, kept: bool) -> subprocess.Popen:
    environ = {
        **os.environ,
        "PORTAL_PAGE_CACHE": "true" if kept else "false",
        "PORTAL_BIND": f"127.0.0.1:{port}",
        "PORTAL_WEB_WORKERS": str(workers),
        "PORTAL_BENCH_BARE_VIEW": "true",
        "PORTAL_DEBUG": "false",
        "PORTAL_ALLOWED_HOSTS": "127.0.0.1",
    }
    server = subprocess.Popen(  # noqa: S603  (our own deploy script)
        [str(ROOT / "deploy" / "run"), "web"],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}")
        try:
            if _get(port, "/healthz", "")[0] == 200:
                return server
        except OSError:
            pass
        time.sleep(0.3)
    server.terminate()
    raise RuntimeError("gunicorn did not answer /healthz within 60 s")


def run() -> dict:
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    from tests import large_customer
    from tests.billing.factories import configured_provider

    scale = float(_setting("BENCH_PAGES_SCALE", "0.1"))
    requests = int(_setting("BENCH_PAGES_REQUESTS", "32"))
    concurrency = int(_setting("BENCH_PAGES_CONCURRENCY", "32"))
    rounds = int(_setting("BENCH_PAGES_ROUNDS", "5"))
    workers = int(_setting("BENCH_PAGES_WORKERS", "4"))

    configured_provider()
    built = large_customer.build(scale=scale)
    pages = _pages(built)
    client = Client()
    client.force_login(built.owner)  # logged in once: one session row, as for a person
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    connection.close()  # the server's processes open their own

    load = {"workers": workers, "rounds": rounds, "requests": requests, "concurrency": concurrency}
    samples, round_p95, sizes = _measure(pages, cookie, kept=True, **load)
    fresh, fresh_p95, _ = _measure(pages, cookie, kept=False, **load)
    bare = _percentile(samples["bare view (floor)"], 95)
    size = (
        f"{built.documents} documents, {built.messages:,} messages, {built.services} services, "
        f"{built.contacts} contacts"
    )
    rows = [
        (
            "Conditions",
            f"{concurrency} concurrent, {rounds} rounds × {requests} requests per page",
            f"{size} (scale {scale:g}); gunicorn via deploy/run web, {workers} sync workers, debug off; "
            "client threads on the same machine, new connection per request, latency to last byte; "
            "pages in a new random order each round, bare view among them; kept pages on (the default): "
            "each page rendered once in the untimed warm-up, then served kept while nothing it shows changes",
        )
    ]
    floor = "bare view (floor)"
    kept_ratios = _round_ratios(round_p95, floor)
    for name in pages:
        p50, p95 = statistics.median(samples[name]), _percentile(samples[name], 95)
        each = kept_ratios.get(name)
        rows.append(
            (
                name,
                f"p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms",
                f"p95 {p95 / bare:.2f}× bare over all rounds"
                + (f"; each round's p95 / its bare p95: median {_spread(each)}" if each else "")
                + f"; rounds' p95 {min(round_p95[name]) * 1000:.0f}–{max(round_p95[name]) * 1000:.0f} ms; "
                f"{sizes[name] / 1024:.0f} KiB",
            )
        )
    fresh_ratios = _round_ratios(fresh_p95, floor)
    fresh_worst = max(fresh_ratios, key=lambda name: statistics.median(fresh_ratios[name]))
    rows.append(
        (
            "Every request rendered (PORTAL_PAGE_CACHE=false: as the first view after a change)",
            f"worst median {_spread(fresh_ratios[fresh_worst])} bare ({fresh_worst})",
            f"a second server, same conditions, bare p95 {_percentile(fresh[floor], 95) * 1000:.0f} ms; "
            "each page's median of rounds' p95 / bare p95: "
            + ", ".join(f"{name} {statistics.median(r):.1f}×" for name, r in fresh_ratios.items()),
        )
    )
    worst = max(kept_ratios, key=lambda name: statistics.median(kept_ratios[name]))
    verdict = statistics.median(kept_ratios[worst])
    rows.append(
        (
            "Worst page: its rounds' p95 / the bare view's p95 in the same round",
            f"median {_spread(kept_ratios[worst])} ({worst})",
            f"target median ≤ {TARGET:g}×: {'met' if verdict <= TARGET else 'NOT met'} "
            f"({rounds} rounds, each every page and the floor in a new random order)",
        )
    )
    return {"title": f"Customer pages under load (scale {scale:g})", "rows": rows}


def _round_ratios(round_p95: dict[str, list[float]], floor: str) -> dict[str, list[float]]:
    """Each page's p95 over the bare view's p95 of the same round, round by round."""
    return {
        name: [p95 / bare for p95, bare in zip(rounds, round_p95[floor], strict=True)]
        for name, rounds in round_p95.items()
        if name != floor
    }


def _spread(ratios: list[float]) -> str:
    return f"{statistics.median(ratios):.2f}× (min {min(ratios):.2f}, max {max(ratios):.2f})"


def _measure(pages: dict[str, str], cookie: str, *, kept: bool, **load: int):
    """Serve, warm every page untimed, then drive the rounds; samples, each round's p95 and
    each page's size, by page."""
    workers, rounds, requests, concurrency = (load[k] for k in ("workers", "rounds", "requests", "concurrency"))
    port = _free_port()
    server = _serve(port, workers, kept=kept)
    samples: dict[str, list[float]] = {name: [] for name in pages}
    round_p95: dict[str, list[float]] = {name: [] for name in pages}
    sizes: dict[str, int] = {}
    try:
        for name, path in pages.items():  # warm every worker's templates and caches, untimed
            _drive(port, path, cookie, requests=2 * workers, concurrency=workers)
            sizes[name] = _get(port, path, cookie)[2]
        rng = random.Random(28)
        for _ in range(rounds):
            order = list(pages)
            rng.shuffle(order)
            for name in order:
                latencies = _drive(port, pages[name], cookie, requests=requests, concurrency=concurrency)
                samples[name] += latencies
                round_p95[name].append(_percentile(latencies, 95))
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    return samples, round_p95, sizes
