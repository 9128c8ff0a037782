"""Run the benchmarks on a scratch database and write docs/benchmarks.md.

make bench                      # embedded SQLite in a temporary folder
DATABASE_URL=postgres://... make bench   # a scratch PostgreSQL database (it is migrated)
BENCH_BILLING_CUSTOMERS=10000 DATABASE_URL=postgres://... make bench   # the billing run at the issue's size
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ["bench.mail_gateway", "bench.privacy_export", "bench.billing_run"]


def main() -> None:
    sys.path.insert(0, str(ROOT))
    scratch = tempfile.mkdtemp(prefix="portal-bench-")
    os.environ.setdefault("PORTAL_VAR_DIR", scratch)
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.PORTAL_MAIL_DOMAIN = "bench.example"
    call_command("migrate", verbosity=0)
    import importlib

    sections = []
    for name in sys.argv[1:] or BENCHMARKS:
        print(f"running {name} …", flush=True)
        result = importlib.import_module(name).run()
        sections.append(result)
        for row in result["rows"]:
            print("  ", " | ".join(row))
    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (bench/run.py); do not edit by hand. Timings are wall-clock on the",
        f"machine that ran them: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()},",
        f"database {engine}.",
        "",
    ]
    for section in sections:
        lines += [f"## {section['title']}", "", "| what | result | conditions |", "|---|---|---|"]
        lines += [f"| {a} | {b} | {c} |" for a, b, c in section["rows"]]
        lines.append("")
    (ROOT / "docs" / "benchmarks.md").write_text("\n".join(lines))
    print("wrote docs/benchmarks.md")


if __name__ == "__main__":
    main()
