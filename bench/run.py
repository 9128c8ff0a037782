"""Run the benchmarks on a scratch database and write docs/benchmarks.md.

make bench                      # embedded SQLite in a temporary folder
DATABASE_URL=postgres://... make bench   # a scratch PostgreSQL database (it is migrated)
BENCH_BILLING_CUSTOMERS=10000 DATABASE_URL=postgres://... make bench BENCH=bench.billing_run
                                # one benchmark at the issue's size; the other sections are kept
BENCH_ACCOUNTING_LINES=1000000 DATABASE_URL=postgres://... make bench BENCH=bench.accounting_export
BENCH_MAIL_FAULTS_MESSAGES=1070 make bench BENCH=bench.mail_faults   # mail under faults, larger

Each section says which database and date it was measured with, so sections run at
different times (or on different databases) can share the file honestly.
"""

from __future__ import annotations

import os
import platform
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = [
    "bench.pages",
    "bench.mail_gateway",
    "bench.mail_faults",
    "bench.privacy_export",
    "bench.billing_run",
    "bench.usage_ingest",
    "bench.usage_percentile",
    "bench.accounting_export",
    "bench.abuse_intake",
]


def main() -> None:
    sys.path.insert(0, str(ROOT))
    scratch = tempfile.mkdtemp(prefix="portal-bench-")
    os.environ.setdefault("PORTAL_VAR_DIR", scratch)
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    # As in production: in debug mode Django records every query, which is not what we measure.
    os.environ.setdefault("PORTAL_DEBUG", "false")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.utils import timezone

    settings.PORTAL_MAIL_DOMAIN = "bench.example"
    call_command("migrate", verbosity=0)
    import importlib

    sections = []
    for name in sys.argv[1:] or BENCHMARKS:
        print(f"running {name} …", flush=True)
        load_before = _load()
        result = importlib.import_module(name).run()
        result["load"] = f"load average {load_before} at the start, {_load()} at the end"
        sections.append(result)
        for row in result["rows"]:
            print("  ", " | ".join(row))
    engine = _database()
    machine = (
        f"{_cpu_model()}, {platform.machine()}, {os.cpu_count()} cores, {_memory()}, Python {platform.python_version()}"
    )
    written = {}
    for section in sections:
        lines = [
            f"## {section['title']}",
            "",
            f"Measured {timezone.localdate():%-d %B %Y} on {engine}; {machine}; {section['load']} "
            "(the machine is shared: other work ran beside the benchmark).",
            "",
            "| what | result | conditions |",
            "|---|---|---|",
        ]
        lines += [f"| {a} | {b} | {c} |" for a, b, c in section["rows"]]
        written[section["title"]] = "\n".join(lines) + "\n"
    target = ROOT / "docs" / "benchmarks.md"
    kept = _sections(target.read_text()) if target.exists() else {}
    merged = {**kept, **written}  # a section run now replaces its old measurement
    header = (
        "# Benchmarks\n\nWritten by `make bench` (bench/run.py); do not edit by hand. Each section says when, on "
        "which machine and database, and under what load it was measured; each row says what it is compared with "
        "(its floor), how it was timed, how many repeats and their spread (median, min and max). A target is "
        "judged on the median of repeats, never on one run; a miss is written as NOT met. Sizes are the "
        "benchmark's defaults unless the section's title or conditions name another; how to run each at full "
        "size is in its module's docstring (bench/*.py).\n"
    )
    target.write_text(header + "".join(f"\n{body}" for body in merged.values()))
    print(f"wrote docs/benchmarks.md ({', '.join(written)})")


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory() -> str:
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        return f"{kib / 2**20:.0f} GiB memory"
    except (OSError, ValueError, IndexError):
        return "unknown memory"


def _database() -> str:
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            return f"PostgreSQL {cursor.fetchone()[0].split()[0]} (on this machine)"
    if connection.vendor == "sqlite":
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version} (embedded)"
    return connection.vendor


def _sections(text: str) -> dict[str, str]:
    """The "## Title" sections of an existing benchmarks.md, in order, by title."""
    parts = re.split(r"^(?=## )", text, flags=re.MULTILINE)[1:]
    return {part.splitlines()[0][3:].strip(): part.rstrip("\n") + "\n" for part in parts}


if __name__ == "__main__":
    main()
