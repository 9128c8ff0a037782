"""Xero and Sage 50 import files, parsed back with the csv module column by column, and
Xero's limit of 500 invoices per file."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile

import pytest

from billing.accounting import formats
from billing.accounting.codes import ExportError
from billing.models import AccountingExport, AccountingSettings, CustomerAccountReference
from tests.accounts.factories import CustomerFactory
from tests.billing.accounting_helpers import NOVEMBER, export, file_bytes, worked_month
from tests.billing.factories import issued_invoice

pytestmark = pytest.mark.django_db
Kind, Format = AccountingExport.Kind, AccountingExport.Format


def _parse(content: bytes) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(content.decode("utf-8"))))
    return rows[0], rows[1:]


@pytest.fixture
def month():
    return worked_month()


def test_xero_invoices_have_xeros_columns_and_one_row_per_line(month):
    header, rows = _parse(file_bytes(export(Kind.DAY_BOOK, Format.XERO_INVOICES)))
    assert header == formats.XERO_INVOICE_HEADER
    assert header[:1] == ["*ContactName"] and "*InvoiceNumber" in header and "*TaxType" in header
    col = {name: i for i, name in enumerate(header)}
    first = month["first"]
    ours = [row for row in rows if row[col["*InvoiceNumber"]] == first.number]
    assert len(ours) == 2  # the number repeated on each of its lines
    hosting, backup = ours
    assert hosting[col["*ContactName"]] == "Alpha Hosting Ltd"
    assert hosting[col["*InvoiceDate"]] == "03/11/2026"
    assert hosting[col["*DueDate"]] == first.due_on.strftime("%d/%m/%Y")
    assert (hosting[col["*Description"]], hosting[col["*Quantity"]], hosting[col["*UnitAmount"]]) == (
        "Hosting",
        "1",
        "100.00",
    )
    assert (backup[col["*Quantity"]], backup[col["*UnitAmount"]], backup[col["TaxAmount"]]) == ("2", "7.50", "3.00")
    assert hosting[col["*AccountCode"]] == "200"
    assert hosting[col["*TaxType"]] == "20% (VAT on Income)"
    assert hosting[col["Total"]] == "138.00"
    assert hosting[col["Currency"]] == "GBP"
    assert all(len(row) == len(header) for row in rows)
    assert {row[col["*InvoiceNumber"]] for row in rows} == {first.number, month["second"].number}


def test_xero_credit_notes_use_the_credit_note_template(month):
    header, rows = _parse(file_bytes(export(Kind.DAY_BOOK, Format.XERO_CREDIT_NOTES)))
    assert header == formats.XERO_CREDIT_NOTE_HEADER
    col = {name: i for i, name in enumerate(header)}
    (row,) = rows
    assert row[col["*CreditNoteNumber"]] == month["note"].number
    assert row[col["Reference"]] == month["first"].number  # the invoice it corrects
    assert row[col["*CreditNoteDate"]] == "20/11/2026"
    assert (row[col["*UnitAmount"]], row[col["TaxAmount"]]) == ("10.00", "2.00")  # positive, as Xero expects


def test_more_than_500_invoices_are_split_into_files_of_500_in_a_zip(db):
    customer = CustomerFactory()
    invoices = [
        issued_invoice(customer, lines=(("Hosting", 1, "1.00"),), issued_on=dt.date(2026, 11, 2)) for _ in range(501)
    ]
    made = export(Kind.DAY_BOOK, Format.XERO_INVOICES)
    assert made.filename.endswith(".zip") and "split into 2 files" in made.note
    archive = zipfile.ZipFile(io.BytesIO(file_bytes(made)))
    names = sorted(archive.namelist())
    assert names == ["xero-invoices-01-of-02.csv", "xero-invoices-02-of-02.csv"]
    numbers = []
    for name in names:
        header, rows = _parse(archive.read(name))
        assert header == formats.XERO_INVOICE_HEADER
        numbers.append([row[header.index("*InvoiceNumber")] for row in rows])
    assert [len(part) for part in numbers] == [500, 1]
    assert sorted(numbers[0] + numbers[1]) == sorted(invoice.number for invoice in invoices)


def test_sage_audit_trail_has_sages_columns_types_and_codes(month):
    AccountingSettings.objects.create(sales_nominal_code="4000", bank_nominal_code="1200", sage_department="0")
    CustomerAccountReference.objects.create(customer=month["alpha"], reference="ALPHA")
    made = export(Kind.DAY_BOOK, Format.SAGE)
    header, rows = _parse(file_bytes(made))
    assert header == formats.SAGE_HEADER
    col = {name: i for i, name in enumerate(header)}
    by_reference = {(row[col["Type"]], row[col["Reference"]]): row for row in rows}
    invoice = by_reference[("SI", month["first"].number)]
    assert invoice[col["Account Reference"]] == "ALPHA"
    assert invoice[col["Nominal A/C Ref"]] == "4000"
    assert invoice[col["Department Code"]] == "0"
    assert invoice[col["Date"]] == "03/11/2026"
    assert (invoice[col["Net Amount"]], invoice[col["Tax Code"]], invoice[col["Tax Amount"]]) == (
        "115.00",
        "T1",
        "23.00",
    )
    note = by_reference[("SC", month["note"].number)]
    assert (note[col["Net Amount"]], note[col["Tax Amount"]]) == ("10.00", "2.00")
    assert month["first"].number in note[col["Details"]]
    receipts = [row for row in rows if row[col["Type"]] == "SA"]
    assert [
        (r[col["Nominal A/C Ref"]], r[col["Net Amount"]], r[col["Tax Code"]], r[col["Details"]]) for r in receipts
    ] == [
        ("1200", "100.00", "T9", "ALPHA-NOV"),
        ("1200", "300.00", "T9", "BETA-1"),
    ]
    for row in rows:
        assert len(row) == len(header)
        assert len(row[col["Account Reference"]]) <= 8
        assert len(row[col["Details"]]) <= 60
        assert row[col["Type"]] in {"SI", "SC", "SA"}
    assert "1 refund(s)" in made.note and "Customer Refund" in made.note


def test_sage_refuses_an_account_reference_longer_than_8_characters_before_writing(month):
    CustomerAccountReference.objects.create(customer=month["beta"], reference="BETANETWORKS")
    with pytest.raises(ExportError) as caught:
        export(Kind.DAY_BOOK, Format.SAGE)
    message = str(caught.value)
    assert "Account Reference" in message and "BETANETWORKS" in message and month["second"].number in message
    assert not AccountingExport.objects.get().file


def test_the_checks_run_on_distinct_values_before_any_row_is_written(month):
    from billing.accounting.codes import Codes
    from billing.models import AccountingTaxCode

    AccountingTaxCode.objects.filter(vat_code="S").update(sage_tax_code="")
    stream = io.BytesIO()
    with pytest.raises(ExportError, match="Tax Code"):
        formats.write_sage(NOVEMBER, Codes.load(), stream)
    assert stream.getvalue() == b""
