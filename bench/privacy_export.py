"""Data-subject export of a customer with ten years of history: seconds and the export's
own peak memory.

The customer is tests/large_customer.py's (``BENCH_EXPORT_SCALE``, default 0.2 so that
``make bench`` stays short; at 1: 500 documents, 5,004 messages in threads, 50 services
with their addresses, 25 contacts, 120 disclosures, requests and exports), and every
invoice and credit note has a stored PDF of its own (one real invoice PDF, stored once per
document under its own name with its own hash, so each file is read, checked and written
into the ZIP once). The export is built in a fresh process (bench/export_child.py) that
reports its own time and its peak resident memory above the process's baseline, so the
data set-up's memory is not counted; ``BENCH_EXPORT_REPEATS`` builds (default 3), reported
as median (min, max).

Run through `make bench` (bench/run.py), which prepares a scratch database.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from bench.stats import spread

ROOT = Path(__file__).resolve().parent.parent


def _pdfs(customer) -> int:
    """Give every document of ``customer`` without a PDF a stored PDF of its own name and hash."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from billing.delivery.pdf import PDF_FOLDER, stored_pdf_bytes
    from billing.models import Invoice

    documents = Invoice.objects.filter(customer=customer).exclude(status=Invoice.Status.DRAFT)
    model = documents.exclude(pdf="").first() or documents.first()
    pdf = stored_pdf_bytes(model)
    count = 0
    for pk in documents.filter(pdf="").values_list("pk", flat=True):
        # The same rendering, made distinct per document (a trailing PDF comment), so the
        # export cannot share one file between documents.
        content = pdf + f"\n% bench document {pk}\n".encode()
        name = default_storage.save(f"{PDF_FOLDER}/bench/{pk}.pdf", ContentFile(content))
        Invoice.objects.filter(pk=pk, pdf="").update(pdf=name, pdf_sha256=hashlib.sha256(content).hexdigest())
        count += 1
    return count + 1


def run() -> dict:
    from django.core.files.storage import default_storage
    from django.db import connection

    from privacy.models import DataExport
    from privacy.services import what_we_hold
    from tests import large_customer
    from tests.billing.factories import configured_provider

    scale = float(os.environ.get("BENCH_EXPORT_SCALE", "0.2"))
    repeats = max(1, int(os.environ.get("BENCH_EXPORT_REPEATS", "3")))
    configured_provider()
    built = large_customer.build(scale=scale)
    pdfs = _pdfs(built.customer)
    rows = sum(section.total for section in what_we_hold.what_we_hold(built.customer))
    connection.close()

    results = []
    for _ in range(repeats):
        export = DataExport.objects.create(requested_by=built.owner, customer=built.customer)
        connection.close()
        out = subprocess.run(  # noqa: S603  (our own script, in a fresh interpreter)
            [sys.executable, str(ROOT / "bench" / "export_child.py"), str(export.pk)],
            capture_output=True,
            text=True,
            check=True,
            env=os.environ,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert result["status"] == DataExport.Status.READY, result["error"]
        export.refresh_from_db()
        result["size"] = default_storage.size(export.file.name) / 2**20
        results.append(result)
    size = (
        f"{built.documents} documents with {pdfs} PDFs, {built.messages:,} messages, {built.services} services, "
        f"{built.contacts} contacts (scale {scale:g}); ~{rows:,} rows"
    )
    timed = f"{repeats} builds, each in a fresh process (bench/export_child.py)"
    return {
        "title": "Data-subject export (ten years of history)",
        "rows": [
            (
                "Export built (walk registry, ZIP with every PDF, hash, store, ledger)",
                spread([r["wall"] for r in results], "{:.2f}", " s"),
                f"{size}; {timed}; wall-clock (CPU {spread([r['cpu'] for r in results], '{:.2f}', ' s')})",
            ),
            ("ZIP size", f"{results[0]['size']:.1f} MiB", "JSON + CSV per model, files as stored, deflated"),
            (
                "The export's own peak memory",
                spread([r["peak"] - r["baseline"] for r in results], "{:.0f}", " MiB"),
                "peak resident set of the building process during the build (sampled every 5 ms, and "
                "getrusage maxrss when the build raised it) less its resident set just "
                f"before the build (median baseline {statistics.median(r['baseline'] for r in results):.0f} MiB: "
                "Django and the export's modules loaded); the data set-up ran in another process",
            ),
        ],
    }
