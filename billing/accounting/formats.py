"""How each export is written: CSV, XLSX, Xero's sales invoice and credit note imports,
Sage 50's audit trail import, and the document pack (a ZIP of PDFs with a manifest).

Every writer writes to a binary file it is given, row by row as the report streams them:
memory does not grow with the period (XlsxWriter runs in constant-memory mode, and
ZIP members are written as streams). The checks a target format needs (an unmapped VAT
code, an account reference Sage cannot take) run on the period's distinct values
*before* anything is written (``check_xero``, ``check_sage``), and fail naming the record
and the field.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import xlsxwriter
from django.db import connection, transaction

from billing.accounting.codes import Codes, ExportError, vat_code
from billing.accounting.periods import Period
from billing.accounting.reports import CENT, Document, Report, documents, period_documents
from billing.models import Invoice, InvoiceLine, Payment, Refund
from core.files import read_verified

# A text cell starting with one of these is run as a formula by spreadsheets (CSV
# injection); in our plain CSV such a cell starts with an apostrophe, which they read as
# "this is text". Numbers ("-12.50") are numbers, not text, and are left alone.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

# Xero's published import templates (the columns, in this order; * marks the ones Xero requires).
XERO_INVOICE_HEADER = [
    "*ContactName", "EmailAddress", "POAddressLine1", "POAddressLine2", "POAddressLine3", "POAddressLine4",
    "POCity", "PORegion", "POPostalCode", "POCountry", "*InvoiceNumber", "Reference", "*InvoiceDate",
    "*DueDate", "Total", "InventoryItemCode", "*Description", "*Quantity", "*UnitAmount", "Discount",
    "*AccountCode", "*TaxType", "TaxAmount", "TrackingName1", "TrackingOption1", "TrackingName2",
    "TrackingOption2", "Currency", "BrandingTheme",
]  # fmt: skip
XERO_CREDIT_NOTE_HEADER = [
    "*ContactName", "EmailAddress", "POAddressLine1", "POAddressLine2", "POAddressLine3", "POAddressLine4",
    "POCity", "PORegion", "POPostalCode", "POCountry", "*CreditNoteNumber", "Reference", "*CreditNoteDate",
    "InventoryItemCode", "*Description", "*Quantity", "*UnitAmount", "Discount", "*AccountCode", "*TaxType",
    "TaxAmount", "TrackingName1", "TrackingOption1", "TrackingName2", "TrackingOption2", "Currency",
    "BrandingTheme",
]  # fmt: skip
XERO_MAX_INVOICES = 500  # Xero imports at most 500 invoices (or credit notes) per file
SAGE_HEADER = [
    "Type", "Account Reference", "Nominal A/C Ref", "Department Code", "Date", "Reference", "Details",
    "Net Amount", "Tax Code", "Tax Amount", "Exchange Rate", "Extra Reference", "User Name", "Project Refn",
    "Cost Code Refn",
]  # fmt: skip
SAGE_REFERENCE_MAX = 30
SAGE_DETAILS_MAX = 60
MANIFEST_HEADER = [
    "number",
    "type",
    "issue_date",
    "customer_account",
    "customer_name",
    "currency",
    "gross",
    "sha256",
    "file",
]


@dataclass
class Written:
    """What a writer wrote: data rows, the file's extension and anything to tell the person."""

    rows: int
    extension: str
    note: str = ""
    customer_ids: frozenset[int] = frozenset()


def _text(stream) -> io.TextIOWrapper:
    return io.TextIOWrapper(stream, encoding="utf-8", newline="", write_through=True)


def csv_cell(value, kind: str) -> str:
    """One cell as plain text: ISO dates, decimals with two places, never a float."""
    if value is None:
        return ""
    if isinstance(value, float):
        raise TypeError("Accounting exports never hold floats.")
    if kind == "money":
        value = Decimal(value).quantize(CENT)
        return f"{value.copy_abs() if value == 0 else value:f}"  # never "-0.00"
    if kind == "rate":
        value = Decimal(value)
        return f"{value.quantize(CENT):f}" if value == value.quantize(CENT) else f"{value.normalize():f}"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:f}"
    text = str(value)
    if text.startswith(FORMULA_START) and not re.fullmatch(r"[+-][0-9 ().,/+-]*", text):
        return "'" + text
    return text


def write_csv(report: Report, stream) -> Written:
    """Header, rows, totals. Where the report's rows are one PostgreSQL query
    (``Report.copy_query``), PostgreSQL writes them itself (``COPY … TO STDOUT``) and the
    blocks go straight to the file; the totals follow from the csv module."""
    text = _text(stream)
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(report.header())
    kinds = [column.kind for column in report.columns]
    copy = report.copy_query()
    if copy is not None:
        text.flush()
        sql, params = copy
        connection.ensure_connection()
        lines = 0
        with transaction.atomic(), connection.connection.cursor() as cursor:
            with cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params) as out:
                for block in out:
                    stream.write(block)
                    lines += bytes(block).count(b"\n")
                    report.tick(lines)
            rows = report.copied(max(cursor.rowcount, 0))
        for row in rows:
            writer.writerow([csv_cell(value, kind) for value, kind in zip(row, kinds, strict=True)])
    else:
        for row in report.rows():
            writer.writerow([csv_cell(value, kind) for value, kind in zip(row, kinds, strict=True)])
    text.flush()
    text.detach()
    return Written(report.data_rows, "csv", customer_ids=frozenset(report.customer_ids))


_CURRENCY_FORMATS = {"GBP": "£#,##0.00;-£#,##0.00", "EUR": "€#,##0.00;-€#,##0.00", "USD": "$#,##0.00;-$#,##0.00"}


def write_xlsx(report: Report, stream) -> Written:
    """Typed cells: dates as dates, money as numbers in the row's currency format, rates
    and quantities as numbers, text as text (never a formula). Constant memory: each row
    is flushed to a temporary file as soon as the next one starts."""
    workbook = xlsxwriter.Workbook(
        stream, {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
    )
    sheet = workbook.add_worksheet(report.title[:31])
    bold = workbook.add_format({"bold": True})
    date_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
    rate_format = workbook.add_format({"num_format": "0.00####"})
    money_formats: dict[str, object] = {}
    kinds = [column.kind for column in report.columns]
    names = report.header()
    currency_at = names.index("currency") if "currency" in names else None
    for col, name in enumerate(names):
        sheet.write_string(0, col, name, bold)
        sheet.set_column(col, col, 14 if kinds[col] != "text" else 24)
    row_number = 0
    for row in report.rows():
        row_number += 1
        currency = (row[currency_at] if currency_at is not None else "GBP") or "GBP"
        for col, (value, kind) in enumerate(zip(row, kinds, strict=True)):
            if value is None or value == "":
                continue
            if kind == "money":
                if currency not in money_formats:
                    pattern = _CURRENCY_FORMATS.get(currency, f'#,##0.00 "{currency}";-#,##0.00 "{currency}"')
                    money_formats[currency] = workbook.add_format({"num_format": pattern})
                sheet.write_number(row_number, col, float(value), money_formats[currency])
            elif kind in ("rate", "quantity", "int") or isinstance(value, Decimal | int):
                sheet.write_number(row_number, col, float(value), rate_format if kind == "rate" else None)
            elif isinstance(value, dt.date):
                sheet.write_datetime(row_number, col, dt.datetime.combine(value, dt.time()), date_format)
            else:
                sheet.write_string(row_number, col, str(value))
    workbook.close()
    return Written(report.data_rows, "xlsx", customer_ids=frozenset(report.customer_ids))


# ---------------------------------------------------------------------------------------
# Xero
# ---------------------------------------------------------------------------------------


def _uk_date(day: dt.date | None) -> str:
    return day.strftime("%d/%m/%Y") if day else ""


def _codes_in_period(period: Period, kinds) -> Iterator[tuple[str, str]]:
    """(VAT code, the first document with it) for each VAT code the period's lines use."""
    seen: dict[str, str] = {}
    pairs = (
        InvoiceLine.objects.filter(invoice__in=period_documents(period, kinds))
        .values_list("invoice__vat_rule", "vat_category")
        .distinct()
        .order_by()
    )
    for rule, category in pairs:
        code = vat_code(rule, category)
        if code not in seen:
            example = (
                period_documents(period, kinds)
                .filter(vat_rule=rule, lines__vat_category=category)
                .order_by("issued_on", "number")
                .values_list("number", flat=True)
                .first()
            )
            seen[code] = example or ""
    return iter(sorted(seen.items()))


def check_xero(period: Period, codes: Codes, kind: str) -> None:
    label = "Credit note" if kind == Invoice.Kind.CREDIT_NOTE else "Invoice"
    for code, number in _codes_in_period(period, [kind]):
        codes.xero_tax_type(code, f"{label} {number}")


def _xero_rows(doc: Document, codes: Codes) -> Iterator[list[str]]:
    record = f"{doc.type_label} {doc.number}"
    for line in doc.lines:
        common_head = [doc.customer_name, "", "", "", "", "", "", "", "", ""]
        tail = [
            line.description,
            f"{line.quantity.normalize():f}",
            f"{line.unit_price:f}",
            "",
            codes.settings.xero_sales_account,
            codes.xero_tax_type(line.vat_code, record),
            f"{line.vat:.2f}",
            "",
            "",
            "",
            "",
            doc.currency,
            "",
        ]
        if doc.is_credit_note:
            yield [*common_head, doc.number, doc.corrects, _uk_date(doc.issued_on), "", *tail]
        else:
            due = doc.due_on or doc.issued_on
            yield [*common_head, doc.number, "", _uk_date(doc.issued_on), _uk_date(due), f"{doc.gross:.2f}", "", *tail]


def write_xero(period: Period, codes: Codes, stream, *, kind: str) -> Written:
    """Xero's sales invoice (or credit note) import: one row per line, the document's
    number repeated on each; at most 500 documents per file, so more are split into
    several files in a ZIP."""
    check_xero(period, codes, kind)
    header = XERO_CREDIT_NOTE_HEADER if kind == Invoice.Kind.CREDIT_NOTE else XERO_INVOICE_HEADER
    count = period_documents(period, [kind]).count()
    name = "credit-notes" if kind == Invoice.Kind.CREDIT_NOTE else "invoices"
    rows = 0
    customers: set[int] = set()
    if count <= XERO_MAX_INVOICES:
        text = _text(stream)
        writer = csv.writer(text)
        writer.writerow(header)
        for doc in documents(period, [kind]):
            customers.add(doc.customer_id)
            for row in _xero_rows(doc, codes):
                writer.writerow(row)
                rows += 1
        text.flush()
        text.detach()
        return Written(rows, "csv", customer_ids=frozenset(customers))
    parts = (count + XERO_MAX_INVOICES - 1) // XERO_MAX_INVOICES
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        member = writer = text = None
        part = 0
        for index, doc in enumerate(documents(period, [kind])):
            if index % XERO_MAX_INVOICES == 0:
                if text is not None:
                    text.close()
                part += 1
                member = archive.open(f"xero-{name}-{part:02d}-of-{parts:02d}.csv", "w")
                text = io.TextIOWrapper(member, encoding="utf-8", newline="")
                writer = csv.writer(text)
                writer.writerow(header)
            customers.add(doc.customer_id)
            for row in _xero_rows(doc, codes):
                writer.writerow(row)
                rows += 1
        if text is not None:
            text.close()
    return Written(
        rows,
        "zip",
        note=f"{count} documents: more than Xero's {XERO_MAX_INVOICES} per import, so split into {parts} files.",
        customer_ids=frozenset(customers),
    )


# ---------------------------------------------------------------------------------------
# Sage 50
# ---------------------------------------------------------------------------------------


def _sage_field(value: str, limit: int, record: str, field: str) -> str:
    if len(value) > limit:
        raise ExportError(f"{record}: field {field}: {value!r} is longer than Sage's {limit} characters.")
    return value


def _period_payments(period: Period):
    return Payment.objects.filter(received_on__range=(period.start, period.end))


def check_sage(period: Period, codes: Codes) -> None:
    """Every value the Sage file will hold, checked before anything is written."""
    for code, number in _codes_in_period(period, [Invoice.Kind.INVOICE, Invoice.Kind.CREDIT_NOTE]):
        codes.sage_tax_code(code, f"Document {number}")
    for nominal, field in ((codes.settings.sales_nominal_code, "sales"), (codes.settings.bank_nominal_code, "bank")):
        if not re.fullmatch(r"\d{1,8}", nominal or ""):
            raise ExportError(
                f"Accounting settings: field {field} nominal code: {nominal!r} is not a Sage nominal code."
            )
    customers = period_documents(period).values_list("customer_id", flat=True).distinct().order_by().iterator()
    for customer_id in customers:
        example = period_documents(period).filter(customer_id=customer_id).values_list("number", flat=True).first()
        codes.sage_reference(customer_id, f"Document {example}")
        _sage_field(example, SAGE_REFERENCE_MAX, f"Document {example}", "Reference")
    for pk, customer_id, reference in _period_payments(period).values_list("pk", "customer_id", "reference").iterator():
        record = f"Receipt #{pk}"
        codes.sage_reference(customer_id, record)
        _sage_field(reference, SAGE_DETAILS_MAX, record, "Details")


def write_sage(period: Period, codes: Codes, stream) -> Written:
    """Sage 50's audit trail import: SI for an invoice and SC for a credit note, one row
    per VAT code of each (net and VAT at that code), and SA for each payment received (on
    account: Sage allocates it). Refunds have no type in this import and are listed in the
    note for entering as Customer Refunds."""
    check_sage(period, codes)
    settings = codes.settings
    text = _text(stream)
    writer = csv.writer(text)
    writer.writerow(SAGE_HEADER)
    rows = 0
    customers: set[int] = set()
    for doc in documents(period):
        record = f"{doc.type_label} {doc.number}"
        account = codes.sage_reference(doc.customer_id, record)
        exchange = (
            "" if doc.currency == "GBP" or not doc.gbp_rate else f"{(1 / doc.gbp_rate).quantize(Decimal('0.000001')):f}"
        )
        by_code: dict[str, list[Decimal]] = {}
        for line in doc.lines:
            entry = by_code.setdefault(line.vat_code, [Decimal("0.00"), Decimal("0.00")])
            entry[0] += line.net
            entry[1] += line.vat
        details = f"{doc.type_label} {doc.number}" + (f" for {doc.corrects}" if doc.corrects else "")
        for code, (net, vat) in sorted(by_code.items()):
            writer.writerow(
                [
                    "SC" if doc.is_credit_note else "SI",
                    account,
                    settings.sales_nominal_code,
                    settings.sage_department,
                    _uk_date(doc.issued_on),
                    _sage_field(doc.number, SAGE_REFERENCE_MAX, record, "Reference"),
                    _sage_field(details, SAGE_DETAILS_MAX, record, "Details"),
                    f"{net:.2f}",
                    codes.sage_tax_code(code, record),
                    f"{vat:.2f}",
                    exchange,
                    "",
                    "",
                    "",
                    "",
                ]
            )
            rows += 1
        customers.add(doc.customer_id)
    payments = _period_payments(period).order_by("received_on", "pk")
    for payment in payments.iterator(chunk_size=2000):
        record = f"Receipt #{payment.pk}"
        writer.writerow(
            [
                "SA",
                codes.sage_reference(payment.customer_id, record),
                settings.bank_nominal_code,
                settings.sage_department,
                _uk_date(payment.received_on),
                f"R{payment.pk}",
                _sage_field(payment.reference, SAGE_DETAILS_MAX, record, "Details"),
                f"{payment.amount:.2f}",
                "T9",
                "0.00",
                "",
                "",
                "",
                "",
                "",
            ]
        )
        rows += 1
        customers.add(payment.customer_id)
    text.flush()
    text.detach()
    refunds = Refund.objects.filter(paid_on__range=(period.start, period.end)).count()
    note = (
        f"{refunds} refund(s) paid in the period are not in the file: Sage 50's audit trail import has no "
        "customer refund type; enter them in Sage as Customer Refunds (see the receipts and refunds export)."
        if refunds
        else ""
    )
    return Written(rows, "csv", note=note, customer_ids=frozenset(customers))


# ---------------------------------------------------------------------------------------
# The document pack
# ---------------------------------------------------------------------------------------


def write_document_pack(period: Period, codes: Codes, stream) -> Written:
    """A ZIP of every invoice and credit note PDF issued in the period, as stored (each
    checked against its recorded SHA-256), with ``manifest.csv``. A document whose PDF is
    not stored yet is listed in the manifest with no file."""
    rows = 0
    missing = []
    customers: set[int] = set()
    docs = (
        period_documents(period)
        .select_related("customer")
        .order_by("issued_on", "kind", "number")
        .only(
            "number", "kind", "issued_on", "customer__registered_name", "currency", "total_gross", "pdf", "pdf_sha256"
        )
    )
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED) as archive, tempfile.TemporaryFile() as spool:
        # Each PDF goes in as it is read (one in memory at a time); the manifest's rows
        # wait in a temporary file and go in last, since a ZIP member is written whole.
        manifest = _text(spool)
        writer = csv.writer(manifest)
        writer.writerow(MANIFEST_HEADER)
        for invoice in docs.iterator(chunk_size=200):
            customers.add(invoice.customer_id)
            label = "Credit note" if invoice.kind == Invoice.Kind.CREDIT_NOTE else "Invoice"
            name = f"{'credit-notes' if label == 'Credit note' else 'invoices'}/{invoice.number}.pdf"
            if invoice.pdf:
                archive.writestr(name, read_verified(invoice.pdf.name, invoice.pdf_sha256))
            else:
                missing.append(invoice.number)
                name = ""
            writer.writerow(
                [
                    invoice.number,
                    label,
                    invoice.issued_on.isoformat(),
                    codes.reference(invoice.customer_id),
                    invoice.customer.registered_name,
                    invoice.currency,
                    f"{invoice.total_gross:.2f}",
                    invoice.pdf_sha256 if name else "",
                    name,
                ]
            )
            rows += 1
        manifest.flush()
        manifest.detach()
        spool.seek(0)
        with archive.open("manifest.csv", "w") as member:
            shutil.copyfileobj(spool, member, 1024 * 1024)
    note = ""
    if missing:
        shown = ", ".join(missing[:10]) + (" …" if len(missing) > 10 else "")
        note = f"{len(missing)} document(s) have no stored PDF yet and are listed without one: {shown}."
    return Written(rows, "zip", note=note, customer_ids=frozenset(customers))
