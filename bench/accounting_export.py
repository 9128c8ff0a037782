"""The sales day book of a large period as CSV and XLSX: rows per second and peak memory,
against PostgreSQL's ``COPY (the same query) TO STDOUT`` as the floor.

Small by default (20,000 invoice lines) so `make bench` stays quick; the issue's size is
an option:

    BENCH_ACCOUNTING_LINES=1000000 DATABASE_URL=postgres://... make bench BENCH=bench.accounting_export

Targets (on PostgreSQL): the CSV at least 0.5× the floor's rows per second, and peak RSS
at most 150 MB, for CSV and XLSX alike (XLSX's rows per second are reported beside the
floor's too). Each export runs in a fresh Python process (``python -m
bench.accounting_export --child ...``) so that its peak RSS is the export's own, not the
data set-up's: the process's own high-water mark (``VmHWM``; getrusage's maxrss would
carry the starting process's peak across exec); the floor runs the same way. Floor, CSV
and XLSX run in turn ``BENCH_ACCOUNTING_REPEATS`` times (default 3), reported as median
(min, max); the ratio is taken per repeat. On SQLite there is no COPY: the floor is a
plain iteration of the same query, written as CSV by the csv module.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

from bench.stats import spread

N_LINES = int(os.environ.get("BENCH_ACCOUNTING_LINES", "20000"))
LINES_PER_INVOICE = 2
N_CUSTOMERS = max(10, min(5000, N_LINES // 200))
YEAR = 2026


def _maxrss_mib() -> float:
    """This process's peak resident memory. On Linux the kernel's high-water mark of its own
    memory (VmHWM): getrusage's maxrss is not used there, as a process started by another
    inherits the starting process's peak in it (kept across exec), so a child would report
    the benchmark's own size, not the export's."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def _period():
    from billing.accounting import periods

    return periods.date_range(__import__("datetime").date(YEAR, 1, 1), __import__("datetime").date(YEAR, 12, 31))


def _set_up() -> int:
    """Customers, and N_LINES lines on issued invoices dated through the year; returns invoices."""
    import datetime as dt

    from django.db import connection

    from billing.models import Invoice, InvoiceLine
    from tests.accounts.factories import CustomerFactory, ProviderDetailsFactory

    ProviderDetailsFactory()
    customers = [CustomerFactory.build(registered_name=f"Bench Customer {i:05d} Ltd") for i in range(N_CUSTOMERS)]
    type(customers[0]).objects.bulk_create(customers, batch_size=1000)
    first_customer = type(customers[0]).objects.order_by("pk").values_list("pk", flat=True).first()
    n_invoices = N_LINES // LINES_PER_INVOICE
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # A scratch database: the triggers that guard issued documents are off while
            # history is inserted in bulk.
            cursor.execute("SET session_replication_role = replica")
            cursor.execute(
                """
                INSERT INTO billing_invoice (kind, status, customer_id, number, reason, currency, tax_point,
                    issued_on, due_on, seller, buyer, vat_rule, vat_wording, total_net, total_vat, total_gross,
                    gbp_rate_source, pdf, pdf_sha256, created_at)
                SELECT 'invoice', 'issued', %s + (g %% %s), 'INV-' || lpad(g::text, 8, '0'), '', 'GBP',
                    d, d, d + 30, '{}', '{}', 'uk_rate', '', 15.50, 3.10, 18.60, '', '', '', now()
                FROM generate_series(1, %s) AS g,
                     LATERAL (SELECT DATE %s + ((g * 365) / (%s + 1)) AS d) AS day
                """,
                [first_customer, N_CUSTOMERS, n_invoices, f"{YEAR}-01-01", n_invoices],
            )
            cursor.execute(
                """
                INSERT INTO billing_invoiceline (invoice_id, description, quantity, unit_price, vat_category,
                    vat_rate, net)
                SELECT i.id, CASE k WHEN 1 THEN 'Hosting, VPS plan ' ELSE 'Backup storage ' END || i.number,
                    1, CASE k WHEN 1 THEN 10.00 ELSE 5.50 END, 'standard', 20,
                    CASE k WHEN 1 THEN 10.00 ELSE 5.50 END
                FROM billing_invoice i CROSS JOIN generate_series(1, 2) AS k
                """
            )
            cursor.execute("SET session_replication_role = DEFAULT")
            cursor.execute("ANALYZE billing_invoice; ANALYZE billing_invoiceline")
        return n_invoices
    start = dt.date(YEAR, 1, 1)
    customer_ids = list(type(customers[0]).objects.values_list("pk", flat=True))
    for block in range(0, n_invoices, 2000):
        invoices = [
            Invoice(
                kind="invoice",
                status="issued",
                customer_id=customer_ids[g % N_CUSTOMERS],
                number=f"INV-{g:08d}",
                currency="GBP",
                issued_on=start + dt.timedelta(days=(g * 365) // (n_invoices + 1)),
                tax_point=start + dt.timedelta(days=(g * 365) // (n_invoices + 1)),
                vat_rule="uk_rate",
                total_net=Decimal("15.50"),
                total_vat=Decimal("3.10"),
                total_gross=Decimal("18.60"),
            )
            for g in range(block + 1, min(block + 2000, n_invoices) + 1)
        ]
        Invoice.objects.bulk_create(invoices)
    ids = Invoice.objects.order_by("pk").values_list("pk", "number")
    lines = []
    for pk, number in ids.iterator(chunk_size=5000):
        for description, price in (("Hosting, VPS plan ", "10.00"), ("Backup storage ", "5.50")):
            lines.append(
                InvoiceLine(
                    invoice_id=pk,
                    description=description + number,
                    unit_price=Decimal(price),
                    net=Decimal(price),
                    vat_rate=Decimal(20),
                    vat_category="standard",
                )
            )
        if len(lines) >= 5000:
            InvoiceLine.objects.bulk_create(lines)
            lines = []
    InvoiceLine.objects.bulk_create(lines)
    return n_invoices


def _child(what: str, target: str) -> dict:
    """Run in a fresh process: write the day book ``what`` (csv | xlsx | floor) to ``target``."""
    from django.db import connection

    from billing.accounting import daybook_sql, formats
    from billing.accounting.codes import Codes
    from billing.accounting.reports import DayBook, line_rows

    period = _period()
    rss_before = _maxrss_mib()
    started = time.perf_counter()
    with open(target, "wb") as handle:
        if what in ("floor", "plain"):
            if what == "floor" and connection.vendor == "postgresql":
                sql, params = daybook_sql.lines_sql(period, Codes.load())  # the day book's own query
            else:
                sql, params = line_rows(period).query.sql_with_params()  # the lines and their documents, joined
            if connection.vendor == "postgresql":
                connection.ensure_connection()
                with connection.connection.cursor() as cursor:
                    with cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER true)", params) as copy:
                        for block in copy:
                            handle.write(block)
                    rows = cursor.rowcount
            else:
                import csv
                import io

                text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
                writer = csv.writer(text)
                rows = 0
                for rows, row in enumerate(line_rows(period).iterator(chunk_size=2000), start=1):  # noqa: B007
                    writer.writerow(row)
                text.flush()
                text.detach()
        else:
            report = DayBook(period, codes=Codes.load())
            written = (formats.write_xlsx if what == "xlsx" else formats.write_csv)(report, handle)
            rows = written.rows
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows": rows,
        "bytes": Path(target).stat().st_size,
        "rss": _maxrss_mib(),
        "rss_before": rss_before,
    }


def _in_child(what: str, target: str) -> dict:
    root = Path(__file__).resolve().parent.parent
    output = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "bench.accounting_export", "--child", what, target],
        cwd=root,
        env=os.environ.copy(),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def run() -> dict:
    import tempfile

    from django.db import connection, connections

    repeats = max(1, int(os.environ.get("BENCH_ACCOUNTING_REPEATS", "3")))
    started = time.perf_counter()
    n_invoices = _set_up()
    set_up = time.perf_counter() - started
    connections.close_all()
    folder = Path(tempfile.mkdtemp(prefix="bench-accounting-"))
    runs: dict[str, list[dict]] = {"floor": [], "csv": [], "xlsx": []}
    for repeat in range(repeats):  # floor, CSV and XLSX in turn, each repeat
        for what in runs:
            result = _in_child(what, str(folder / f"{what}-{repeat}.{'xlsx' if what == 'xlsx' else 'csv'}"))
            result["rows"] = result["rows"] or N_LINES
            result["rate"] = result["rows"] / result["seconds"]
            runs[what].append(result)
    plain = _in_child("plain", str(folder / "plain.csv"))
    floor, ours, xlsx = runs["floor"], runs["csv"], runs["xlsx"]
    ratios = [o["rate"] / f["rate"] for o, f in zip(ours, floor, strict=True)]
    xlsx_ratios = [x["rate"] / f["rate"] for x, f in zip(xlsx, floor, strict=True)]
    engine = connection.vendor
    if engine == "postgresql":
        floor_what = "PostgreSQL COPY (the day book's query, VAT shares included) TO STDOUT, CSV"
    else:
        floor_what = "the lines query iterated and written by the csv module (SQLite has no COPY)"
    plain_rate = (plain["rows"] or N_LINES) / plain["seconds"]
    conditions = (
        f"{N_LINES:,} invoice lines on {n_invoices:,} invoices, {N_CUSTOMERS:,} customers; one year "
        f"(set up in {set_up:.0f} s, untimed); {repeats} repeats of floor, CSV and XLSX in turn, each export in a "
        "fresh process (python -m bench.accounting_export --child), timed there from the query sent to the file "
        "closed (wall-clock); peak RSS is that process's own high-water mark (VmHWM), start-up included"
    )
    met = "met" if statistics.median(ratios) >= 0.5 else "NOT met"
    peak = max(r["rss"] for r in ours + xlsx)
    rss_met = "met" if peak * 1.048576 <= 150 else "NOT met"
    seconds = "{:.1f}"
    return {
        "title": f"Accountants' sales day book: {N_LINES:,} lines on {engine}",
        "rows": [
            (
                "Floor: " + floor_what,
                f"{spread([r['rate'] for r in floor])} rows/s",
                f"{conditions}; seconds {spread([r['seconds'] for r in floor], seconds)}; "
                f"peak RSS up to {max(r['rss'] for r in floor):.0f} MiB",
            ),
            (
                "Day book as CSV (billing.accounting, streamed, VAT shared per line)",
                f"{spread([r['rate'] for r in ours])} rows/s",
                f"{ours[0]['bytes'] / 1048576:.0f} MiB file; seconds {spread([r['seconds'] for r in ours], seconds)}; "
                f"peak RSS up to {max(r['rss'] for r in ours):.0f} MiB "
                f"({statistics.median(r['rss_before'] for r in ours):.0f} MiB after start-up)",
            ),
            ("CSV / floor (rows per second)", spread(ratios, "{:.2f}×"), f"per repeat; target median ≥ 0.5×; {met}"),
            (
                "Day book as XLSX (XlsxWriter, constant memory)",
                f"{spread([r['rate'] for r in xlsx])} rows/s",
                f"{xlsx[0]['bytes'] / 1048576:.0f} MiB file; seconds {spread([r['seconds'] for r in xlsx], seconds)}; "
                f"peak RSS up to {max(r['rss'] for r in xlsx):.0f} MiB; XLSX / floor {spread(xlsx_ratios, '{:.2f}×')}",
            ),
            (
                "Peak RSS of the exports (CSV and XLSX)",
                f"{peak:.0f} MiB ({peak * 1.048576:.0f} MB)",
                f"the highest of all repeats; target ≤ 150 MB; {rss_met}",
            ),
            (
                "For comparison: COPY of the bare lines query (join and sort, no VAT shares)",
                f"{plain_rate:,.0f} rows/s ({plain['seconds']:.1f} s)",
                f"one run; what reading the lines costs; the day book's CSV is "
                f"{statistics.median(r['rate'] for r in ours) / plain_rate:.2f}× of it",
            ),
        ],
    }


if __name__ == "__main__" and sys.argv[1:2] == ["--child"]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("PORTAL_DEBUG", "false")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import django

    django.setup()
    print(json.dumps(_child(sys.argv[2], sys.argv[3])))
