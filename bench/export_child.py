"""Build one data export in a fresh process and report its own cost (bench/privacy_export.py).

    python bench/export_child.py EXPORT_ID

Django is set up and everything the export uses imported before the baseline is read,
so what is reported is the export's own: wall-clock and CPU seconds, and the peak
resident memory during the build (sampled every 5 ms, and getrusage's maxrss when the
build raised it) with the resident set just before the build. One line of JSON.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
from pathlib import Path


def _rss_mib() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.db import connection

    from privacy.models import DataExport
    from privacy.services import export as export_service

    connection.ensure_connection()
    DataExport.objects.filter(pk=int(sys.argv[1])).exists()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    baseline = _rss_mib()
    sampled = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            sampled.append(_rss_mib())

    sampler = threading.Thread(target=sample)
    sampler.start()
    wall, cpu = time.perf_counter(), time.process_time()
    export = export_service.build_export(int(sys.argv[1]))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    done.set()
    sampler.join()
    # maxrss catches a peak between two samples, but only if it is higher than any peak
    # before the baseline (Django's start-up): then it is the build's.
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak = max(max(sampled), maxrss if maxrss > before else 0)
    result = {"status": export.status, "error": export.error, "wall": wall, "cpu": cpu}
    print(json.dumps({**result, "baseline": baseline, "peak": peak}))


if __name__ == "__main__":
    main()
