"""The accountants' exports on a month worked by hand.

Alpha Hosting: an October invoice of £60.00 (due 31 Oct); on 3 Nov an invoice of
Hosting £100.00 + Backup 2 × £7.50 = £115.00 net, £23.00 VAT, £138.00 (due 3 Dec); on
10 Nov £100.00 received (£60.00 to October's, £40.00 to 3 Nov's); on 20 Nov a credit
note of £10.00 + £2.00 VAT against 3 Nov's. Beta Networks: on 15 Nov an invoice of
£200.00 + £40.00 VAT; on 25 Nov £300.00 received (£240.00 allocated, £60.00 on account);
on 28 Nov £20.00 refunded.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from decimal import Decimal

import openpyxl
import pytest
from django.utils import timezone

from billing.accounting import formats
from billing.accounting.codes import ExportError
from billing.models import AccountingExport, AccountingTaxCode, CustomerAccountReference
from privacy.models import DisclosureEntry
from tests.billing.accounting_helpers import csv_rows, export, file_bytes, firm, worked_month

pytestmark = pytest.mark.django_db
Kind, Format = AccountingExport.Kind, AccountingExport.Format


@pytest.fixture
def month():
    return worked_month()


def _lines(rows):
    return [row for row in rows if row["record"] == "line"]


def _totals(rows):
    return [row for row in rows if row["record"] == "total"]


def test_day_book_lists_every_line_with_its_vat_and_totals_per_rate(month):
    rows = csv_rows(export(Kind.DAY_BOOK))
    lines = _lines(rows)
    assert [(r["document_number"], r["type"], r["description"], r["net"], r["vat"], r["gross"]) for r in lines] == [
        (month["first"].number, "Invoice", "Hosting", "100.00", "20.00", "120.00"),
        (month["first"].number, "Invoice", "Backup", "15.00", "3.00", "18.00"),
        (month["second"].number, "Invoice", "Dedicated server", "200.00", "40.00", "240.00"),
        (month["note"].number, "Credit note", "Outage credit", "-10.00", "-2.00", "-12.00"),
    ]
    first = lines[0]
    assert first["issue_date"] == "2026-11-03"
    assert first["vat_rate"] == "20.00" and first["vat_code"] == "S"
    assert first["currency"] == "GBP" and first["exchange_rate"] == "1.00"
    assert first["net_gbp"] == "100.00" and first["vat_gbp"] == "20.00"
    assert first["customer_account"] == f"C{month['alpha'].pk:05d}"
    assert first["customer_name"] == "Alpha Hosting Ltd"
    (total,) = _totals(rows)
    assert (total["net"], total["vat"], total["gross"], total["vat_rate"]) == ("305.00", "61.00", "366.00", "20.00")


def test_receipts_and_refunds_with_their_allocations(month):
    rows = csv_rows(export(Kind.RECEIPTS))
    lines = _lines(rows)
    assert [(r["date"], r["type"], r["amount"], r["unallocated"]) for r in lines] == [
        ("2026-11-10", "Receipt", "100.00", "0.00"),
        ("2026-11-25", "Receipt", "300.00", "60.00"),
        ("2026-11-28", "Refund", "20.00", ""),
    ]
    assert lines[0]["allocated_to"] == f"{month['october'].number} 60.00; {month['first'].number} 40.00"
    assert lines[0]["method"] == "Bank transfer" and lines[0]["reference"] == "ALPHA-NOV"
    assert lines[2]["allocated_to"] == "Account credit (overpayment)"
    assert [(r["type"], r["amount"]) for r in _totals(rows)] == [
        ("Receipts", "400.00"),
        ("Refunds", "20.00"),
        ("Receipts less refunds", "380.00"),
    ]


def test_aged_debtors_at_the_month_end_and_later(month):
    rows = csv_rows(export(Kind.AGED_DEBTORS))
    by_name = {r["customer_name"]: r for r in _lines(rows)}
    alpha, beta = by_name["Alpha Hosting Ltd"], by_name["Beta Networks Ltd"]
    assert (alpha["current"], alpha["days_1_30"], alpha["balance"], alpha["position"]) == (
        "86.00",
        "0.00",
        "86.00",
        "owes",
    )
    assert (beta["unallocated_credit"], beta["balance"], beta["position"]) == ("-40.00", "-40.00", "in credit")
    (total,) = _totals(rows)
    assert total["balance"] == "46.00"
    # On 15 January the 3 Nov invoice (due 3 Dec) is 43 days overdue.
    later = csv_rows(export(Kind.AGED_DEBTORS, as_at=dt.date(2027, 1, 15)))
    alpha = next(r for r in _lines(later) if r["customer_name"] == "Alpha Hosting Ltd")
    assert (alpha["current"], alpha["days_31_60"]) == ("0.00", "86.00")
    # As at 31 October only October's invoice was issued, and it was due that day.
    october = csv_rows(export(Kind.AGED_DEBTORS, as_at=dt.date(2026, 10, 31)))
    assert [(r["customer_name"], r["current"], r["balance"]) for r in _lines(october)] == [
        ("Alpha Hosting Ltd", "60.00", "60.00")
    ]


def test_a_written_off_balance_can_be_taken_out_of_the_aged_debtors(month, monkeypatch):
    from billing.accounting import reports

    first = month["first"]
    monkeypatch.setattr(
        reports, "BALANCE_EXCLUSIONS", [lambda ids, as_at: {first.pk: Decimal("86.00")} if first.pk in ids else {}]
    )
    rows = csv_rows(export(Kind.AGED_DEBTORS))
    assert [r["customer_name"] for r in _lines(rows)] == ["Beta Networks Ltd"]


def test_ledger_control_reconciles_with_the_day_book_and_receipts(month):
    rows = csv_rows(export(Kind.LEDGER_CONTROL))
    by_name = {r["customer_name"]: r for r in _lines(rows)}
    alpha, beta = by_name["Alpha Hosting Ltd"], by_name["Beta Networks Ltd"]
    columns = ("opening_balance", "invoices", "credit_notes", "receipts", "refunds", "closing_balance")
    assert [alpha[k] for k in columns] == [
        "60.00", "138.00", "12.00", "100.00", "0.00", "86.00",
    ]  # fmt: skip
    assert [beta[k] for k in columns] == [
        "0.00", "240.00", "0.00", "300.00", "20.00", "-40.00",
    ]  # fmt: skip
    (total,) = _totals(rows)
    assert [total[k] for k in columns] == [
        "60.00", "378.00", "12.00", "400.00", "20.00", "46.00",
    ]  # fmt: skip


def test_vat_return_boxes_on_the_invoice_basis_with_the_documents_behind_them(month):
    rows = csv_rows(export(Kind.VAT_RETURN))
    boxes = {r["box"]: r["value_gbp"] for r in rows if r["record"] == "box"}
    assert boxes == {
        "1": "61.00", "2": "0.00", "3": "61.00", "4": "0.00", "5": "61.00", "6": "305.00", "7": "0.00",
        "8": "0.00", "9": "0.00",
    }  # fmt: skip
    documents = [(r["document_number"], r["vat_gbp"], r["net_gbp"]) for r in rows if r["record"] == "document"]
    assert documents == [
        (month["first"].number, "23.00", "115.00"),
        (month["second"].number, "40.00", "200.00"),
        (month["note"].number, "-2.00", "-10.00"),
    ]
    assert "whole pounds" in next(r["description"] for r in rows if r["box"] == "6")


def test_vat_return_under_cash_accounting_counts_vat_on_payments_received(month):
    from billing.models import AccountingSettings

    AccountingSettings.objects.create(cash_accounting=True)
    rows = csv_rows(export(Kind.VAT_RETURN))
    boxes = {r["box"]: r["value_gbp"] for r in rows if r["record"] == "box"}
    # Received in November: 60.00 of October's (VAT 10.00), 40.00 of 3 Nov's (VAT 40 × 23/138
    # = 6.666…), 240.00 of Beta's (VAT 40.00); the credit note released nothing (unpaid part).
    assert boxes["1"] == "56.66"
    assert "cash accounting" in next(r["description"] for r in rows if r["box"] == "1")


def test_services_register_lists_services_held_in_the_period(month):
    from tests.accounts.factories import ServiceFactory
    from tests.billing.factories import PlanFactory, SubscriptionFactory

    service = ServiceFactory(customer=month["alpha"], name="vps-17", started_on=dt.date(2026, 6, 1))
    SubscriptionFactory(
        service=service, plan=PlanFactory(name="VPS Large", price=Decimal("25.00")), started_on=dt.date(2026, 6, 1)
    )
    ServiceFactory(customer=month["beta"], name="gone", started_on=dt.date(2025, 1, 1), ended_on=dt.date(2026, 10, 31))
    rows = csv_rows(export(Kind.SERVICES))
    assert [(r["service"], r["plan"], r["price"], r["service_start"], r["plan_end"]) for r in rows] == [
        ("vps-17", "VPS Large", "25.00", "2026-06-01", "")
    ]


def test_an_empty_period_gives_a_valid_empty_file_and_says_so(db):
    made = export(Kind.DAY_BOOK)
    assert made.status == AccountingExport.Status.READY
    assert "no sales day book data" in made.note
    assert csv_rows(made) == []
    assert file_bytes(made).decode().startswith("record,document_number,type,issue_date")
    xlsx = openpyxl.load_workbook(io.BytesIO(file_bytes(export(Kind.RECEIPTS, Format.XLSX))))
    assert xlsx.active.max_row == 1


def test_xlsx_cells_are_typed(month):
    made = export(Kind.DAY_BOOK, Format.XLSX)
    assert made.filename.endswith(".xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(file_bytes(made))).active
    header = [cell.value for cell in sheet[1]]
    first = dict(zip(header, sheet[2], strict=True))
    assert first["issue_date"].is_date and first["issue_date"].value.date() == dt.date(2026, 11, 3)
    assert first["net"].data_type == "n" and first["net"].value == 100
    assert "£" in first["net"].number_format and "0.00" in first["net"].number_format
    assert first["vat_rate"].data_type == "n"
    assert first["description"].data_type == "s" and first["description"].value == "Hosting"
    assert first["document_number"].value == month["first"].number


def test_csv_has_no_float_and_guards_against_formulas():
    assert formats.csv_cell(Decimal("1.5"), "money") == "1.50"
    assert formats.csv_cell("=HYPERLINK(1)", "text") == "'=HYPERLINK(1)"
    assert formats.csv_cell("-12.50", "text") == "-12.50"
    with pytest.raises(TypeError):
        formats.csv_cell(1.5, "money")


def test_document_pack_holds_each_stored_pdf_and_a_manifest(month, settings):
    from django.core.files.base import ContentFile

    from billing.models import Invoice

    # Store a PDF for the 3 Nov invoice as the delivery task would (set once, with its hash).
    first = month["first"]
    content = b"%PDF-1.7 the invoice"
    from privacy.services.ledger import artefact_hash

    first.pdf.save(f"{first.number}.pdf", ContentFile(content), save=False)
    first.pdf_sha256 = artefact_hash(content)
    first.save(update_fields=["pdf", "pdf_sha256"])
    made = export(Kind.DOCUMENT_PACK, Format.ZIP)
    archive = zipfile.ZipFile(io.BytesIO(file_bytes(made)))
    assert archive.read(f"invoices/{first.number}.pdf") == content
    manifest = {r["number"]: r for r in csv_rows(archive.read("manifest.csv"))}
    assert manifest[first.number]["sha256"] == artefact_hash(content)
    assert manifest[first.number]["gross"] == "138.00"
    assert manifest[month["note"].number]["file"] == ""  # not rendered in this test
    assert "no stored PDF yet" in made.note
    assert set(manifest) == set(Invoice.objects.filter(issued_on__month=11).values_list("number", flat=True))


def test_a_format_the_export_does_not_offer_is_refused(db):
    with pytest.raises(ExportError, match="not offered"):
        export(Kind.AGED_DEBTORS, Format.SAGE)
    assert not AccountingExport.objects.exists()


# --- Every export for a firm is a disclosure ------------------------------------------------


def test_an_export_for_a_firm_is_one_ledger_entry_naming_every_customer_it_covers(month):
    accountants = firm()
    made = export(Kind.DAY_BOOK, firm=accountants)
    entry = DisclosureEntry.objects.get()
    assert made.disclosure_sequence == entry.sequence
    assert entry.recipient == accountants.name and entry.recipient_kind == "accountant"
    assert entry.legal_basis == "legal_obligation"
    assert "accounting" in entry.purpose.lower()
    assert set(entry.customer_ids) == {month["alpha"].pk, month["beta"].pk}
    assert entry.artefact_sha256 == made.sha256
    assert sorted(entry.categories) == ["financial", "identity"]


def test_an_export_for_our_own_use_is_not_a_disclosure(month):
    export(Kind.DAY_BOOK)
    assert not DisclosureEntry.objects.exists()


def test_each_customer_sees_the_export_on_their_disclosures_page(month, client):
    from accounts import roles
    from tests.accounts.factories import MembershipFactory

    accountants = firm()
    export(Kind.RECEIPTS, firm=accountants)
    owner = MembershipFactory(customer=month["alpha"], role=roles.Role.OWNER).user
    client.force_login(owner)
    page = client.get("/privacy/disclosures/").content.decode()
    today = timezone.localdate()
    assert (
        f"Invoice and payment records shared with {accountants.name}, our accountants, on {today.day} {today:%B %Y}"
        in page.replace("&amp;", "&")
    )


def test_a_customer_not_in_the_export_does_not_see_it(month, client):
    from accounts import roles
    from tests.accounts.factories import CustomerFactory, MembershipFactory

    export(Kind.RECEIPTS, firm=firm())
    outsider = MembershipFactory(customer=CustomerFactory(), role=roles.Role.OWNER).user
    client.force_login(outsider)
    assert "our accountants" not in client.get("/privacy/disclosures/").content.decode()


def test_a_firm_whose_engagement_ended_cannot_get_exports(month):
    with pytest.raises(ExportError, match="not engaged"):
        export(Kind.DAY_BOOK, firm=firm(engaged_until=dt.date(2025, 12, 31)))
    assert not DisclosureEntry.objects.exists()


# --- Codes kept as settings ---------------------------------------------------------------


def test_account_references_come_from_the_customer_or_the_format(month):
    CustomerAccountReference.objects.create(customer=month["beta"], reference="BETA01")
    rows = _lines(csv_rows(export(Kind.LEDGER_CONTROL)))
    assert {r["customer_name"]: r["customer_account"] for r in rows} == {
        "Alpha Hosting Ltd": f"C{month['alpha'].pk:05d}",
        "Beta Networks Ltd": "BETA01",
    }


def test_an_unmapped_vat_code_fails_before_writing_naming_the_document_and_field(month):
    AccountingTaxCode.objects.filter(vat_code="S").update(xero_tax_type="")
    with pytest.raises(ExportError) as caught:
        export(Kind.DAY_BOOK, Format.XERO_INVOICES)
    message = str(caught.value)
    assert month["first"].number in message and "TaxType" in message and "VAT code S" in message
    failed = AccountingExport.objects.get()
    assert failed.status == AccountingExport.Status.FAILED and not failed.file


def test_making_an_export_is_in_the_audit_trail(month):
    from accounts.audit import AuditEvent

    made = export(Kind.DAY_BOOK, firm=firm())
    actions = dict(AuditEvent.objects.about(made).values_list("action", "actor_id"))
    assert actions == {"accounting.export_requested": made.made_by_id, "accounting.export_disclosed": None}


def test_a_debt_written_off_by_collections_leaves_the_aged_debtors(month):
    from billing.collections.handoff import write_off
    from tests.accounts.factories import StaffFactory

    first = month["first"]
    write_off(first, reason="Company dissolved", actor=StaffFactory(), on=dt.date(2026, 11, 30))
    rows = csv_rows(export(Kind.AGED_DEBTORS))
    assert [r["customer_name"] for r in _lines(rows)] == ["Beta Networks Ltd"]  # Alpha's 86.00 was written off
