"""Run the benchmarks on a scratch database and write docs/benchmarks.md.

make bench                      # embedded SQLite in a temporary folder
DATABASE_URL=postgres://... make bench   # a scratch PostgreSQL database (it is migrated)
BENCH_BILLING_CUSTOMERS=10000 DATABASE_URL=postgres://... make bench BENCH=bench.billing_run
                                # one benchmark at the issue's size; the other sections are kept

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
BENCHMARKS = ["bench.pages", "bench.mail_gateway", "bench.privacy_export", "bench.billing_run"]


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
        result = importlib.import_module(name).run()
        sections.append(result)
        for row in result["rows"]:
            print("  ", " | ".join(row))
    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    written = {}
    for section in sections:
        lines = [
            f"## {section['title']}",
            "",
            f"Measured {timezone.localdate():%-d %B %Y} on {engine}; {machine}.",
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
        "# Benchmarks\n\nWritten by `make bench` (bench/run.py); do not edit by hand. Timings are "
        "wall-clock on the machine that ran them.\n"
    )
    target.write_text(header + "".join(f"\n{body}" for body in merged.values()))
    print(f"wrote docs/benchmarks.md ({', '.join(written)})")


def _sections(text: str) -> dict[str, str]:
    """The "## Title" sections of an existing benchmarks.md, in order, by title."""
    parts = re.split(r"^(?=## )", text, flags=re.MULTILINE)[1:]
    return {part.splitlines()[0][3:].strip(): part.rstrip("\n") + "\n" for part in parts}


if __name__ == "__main__":
    main()
