"""The one renderer of billing PDFs: issued documents and statements of account.

An issued document (VAT invoice, credit note, payment request) is drawn only from what
it holds — the seller and buyer snapshots copied on at issue, its lines and its totals —
never from the live customer or provider rows, so it renders the same in six years as on
the day it was issued (VAT Regulations 1995 reg 14; DOMAIN.md §1–2). It is stored once
with its SHA-256, and the stored file is what every later download and email returns.

A statement of account is not an issued document: it is derived from the account on the
day it is asked for, so it is drawn from today's provider and customer details and
rendered on each request, never stored.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import ProviderDetails
from billing.models import Invoice
from billing.money import format_money, split_vat
from billing.services import buyer_details, seller_details, sterling_summary
from billing.statements import Statement

PDF_FOLDER = "billing/pdf"


def _first(mapping: dict, *keys: str, default: Any = "") -> Any:
    for key in keys:
        value = mapping.get(key)
        if value not in (None, "", []):
            return value
    return default


def _lines(value: Any) -> list[str]:
    """Address lines from a snapshot that stores a list or a multi-line string."""
    if isinstance(value, str):
        return [line.strip() for line in value.splitlines() if line.strip()]
    return [str(line).strip() for line in value or [] if str(line).strip()]


def _grouped_iban(value: str) -> str:
    """In groups of four, as banks print it (and people read it out)."""
    from stdnum import iban

    return iban.format(value) if value else ""


def _legal_form_label(value: str) -> str:
    from accounts.models import LegalForm

    return LegalForm(value).label.lower() if value in LegalForm.values else ""


def party_details(snapshot: dict) -> dict[str, Any]:
    """One party's details from its snapshot, whichever key spelling the issuer used."""
    snapshot = snapshot or {}
    registered_name = _first(snapshot, "registered_name", "name", "legal_name")
    return {
        "name": _first(snapshot, "name", "display_name", "trading_name", "registered_name"),
        "registered_name": registered_name,
        "address_lines": _lines(_first(snapshot, "address_lines", "postal_address_lines", "address", default=[])),
        "vat_number": _first(snapshot, "vat_number"),
        "company_number": _first(snapshot, "company_number"),
        "legal_form": _legal_form_label(_first(snapshot, "legal_form")),
        "registered_in": _first(snapshot, "registered_in"),
        "registered_office": _lines(_first(snapshot, "registered_office", "registered_office_lines", default=[])),
        "email": _first(snapshot, "billing_email", "email"),
        "phone": _first(snapshot, "phone"),
        "website": _first(snapshot, "website"),
        "bank_account_name": _first(snapshot, "bank_account_name"),
        "bank_sort_code": _first(snapshot, "bank_sort_code"),
        "bank_account_number": _first(snapshot, "bank_account_number"),
        "bank_iban": _grouped_iban(_first(snapshot, "bank_iban", "iban")),
        "bank_bic": _first(snapshot, "bank_bic", "bic"),
    }


def _seller(snapshot: dict) -> dict[str, Any]:
    """The seller's block: its address is its registered office unless it gave another."""
    seller = party_details(snapshot)
    if not seller["registered_office"]:
        seller["registered_office"] = seller["address_lines"]
    if not seller["address_lines"]:
        seller["address_lines"] = seller["registered_office"]
    return seller


def _buyer(snapshot: dict) -> dict[str, Any]:
    """The customer's block: its legal name, with a different trading name added to it."""
    buyer = party_details(snapshot)
    trading_name = _first(snapshot or {}, "trading_name")
    buyer["name"] = buyer["registered_name"] or buyer["name"]
    buyer["trading_name"] = trading_name if trading_name != buyer["name"] else ""
    return buyer


def _title(invoice: Invoice) -> str:
    if invoice.kind == Invoice.Kind.CREDIT_NOTE:
        return "Credit note"
    if invoice.kind == Invoice.Kind.PRO_FORMA:
        # VAT reg 90 / HMRC VATTOS9165: a payment request creates no tax point.
        return "Payment request — This is not a VAT invoice"
    return "VAT invoice"


def _vat_summary(invoice: Invoice, lines: list) -> list[dict[str, Any]]:
    """Net and VAT per rate, highest rate first, exactly as ``billing.services`` computed the
    totals (VAT Notice 700 s.17.5, docs/billing.md). With a stored sterling rate, each
    rate's net and VAT in sterling too (DOMAIN.md §1)."""
    nets: dict[Decimal, Decimal] = defaultdict(Decimal)
    for line in lines:
        nets[line.vat_rate] += line.net
    summary = split_vat(list(nets.items()), invoice.currency)
    rows = [{"rate": rate, "net": net, "vat": vat} for rate, net, vat in summary]
    if invoice.currency != "GBP" and invoice.gbp_rate:
        for row, (_, net_gbp, vat_gbp) in zip(rows, sterling_summary(invoice.gbp_rate, summary), strict=True):
            row["net_gbp"], row["vat_gbp"] = net_gbp, vat_gbp
    return rows


def document_context(invoice: Invoice) -> dict[str, Any]:
    """Everything the PDF template shows, from the document's own fields only."""
    lines = list(invoice.lines.all())
    currency = invoice.currency
    seller = _seller(invoice.seller)
    # The customer's name on a VAT invoice is its legal name; a trading name is added to it.
    buyer = _buyer(invoice.buyer)

    def money(amount: Decimal | None, cur: str = currency) -> str:
        return "" if amount is None else format_money(amount, cur)

    summary = _vat_summary(invoice, lines)
    return {
        "invoice": invoice,
        "title": _title(invoice),
        "is_credit_note": invoice.kind == Invoice.Kind.CREDIT_NOTE,
        "is_pro_forma": invoice.kind == Invoice.Kind.PRO_FORMA,
        "original": invoice.corrects,
        "seller": seller,
        "buyer": buyer,
        "lines": [
            {
                "description": line.description,
                "quantity": f"{line.quantity.normalize():f}",
                "unit_price": money(line.unit_price),
                "vat_rate": f"{line.vat_rate.normalize():f}%",
                "net": money(line.net),
                "period_start": line.period_start,
                "period_end": line.period_end,
            }
            for line in lines
        ],
        "vat_summary": [
            {
                "rate": f"{row['rate'].normalize():f}%",
                "net": money(row["net"]),
                "vat": money(row["vat"]),
                "net_gbp": money(row.get("net_gbp"), "GBP"),
                "vat_gbp": money(row.get("vat_gbp"), "GBP"),
            }
            for row in summary
        ],
        "total_net": money(invoice.total_net),
        "total_vat": money(invoice.total_vat),
        "total_gross": money(invoice.total_gross),
        "foreign_currency": currency != "GBP",
        "has_sterling_totals": currency != "GBP" and invoice.total_vat_gbp is not None,
        # DOMAIN.md §1: the total VAT in sterling, and for other currencies the sterling
        # net and VAT at the stored rate with its source and date.
        "total_vat_gbp": money(invoice.total_vat if currency == "GBP" else invoice.total_vat_gbp, "GBP"),
        "total_net_gbp": money(invoice.total_net if currency == "GBP" else invoice.total_net_gbp, "GBP"),
    }


def render_invoice_html(invoice: Invoice) -> str:
    return render_to_string("billing/invoice_pdf.html", document_context(invoice))


_fetcher = None


def _url_fetcher():
    """One fetcher for every document, limited to local files and data: URLs.

    WeasyPrint otherwise builds a new fetcher (and loads the system certificates) for
    each document, ~10 ms each; and a billing document must never fetch anything from the network.
    """
    global _fetcher
    if _fetcher is None:
        from weasyprint import URLFetcher

        _fetcher = URLFetcher(allowed_protocols={"file", "data"})
    return _fetcher


def _write_pdf(html: str) -> bytes:
    from weasyprint import HTML

    base_url = str(getattr(settings, "BASE_DIR", "."))
    return HTML(string=html, base_url=base_url, url_fetcher=_url_fetcher()).write_pdf()


def render_invoice_pdf(invoice: Invoice) -> bytes:
    """The document as PDF bytes (WeasyPrint, from ``billing/invoice_pdf.html``)."""
    return _write_pdf(render_invoice_html(invoice))


def pdf_filename(invoice: Invoice) -> str:
    return f"{invoice.number}.pdf"


def store_invoice_pdf(invoice: Invoice) -> Invoice:
    """Render and store the PDF privately with its SHA-256, once.

    The conditional UPDATE (``pdf=""``) makes a second or concurrent call a no-op: the
    first stored file stays the document's PDF, and ``invoice`` is refreshed to it.
    """
    _store(invoice)
    return invoice


def _store(invoice: Invoice) -> bytes | None:
    """``store_invoice_pdf``; returns the PDF when this call is the one that stored it."""
    from accounts.correspondence.gateway import store_file

    if invoice.status == Invoice.Status.DRAFT or not invoice.number:
        raise ValueError("Only issued documents have a PDF.")
    if invoice.pdf:
        return None
    content = render_invoice_pdf(invoice)
    name, digest = store_file(PDF_FOLDER, pdf_filename(invoice), content)
    if Invoice.objects.filter(pk=invoice.pk, pdf="").update(pdf=name, pdf_sha256=digest):
        invoice.pdf, invoice.pdf_sha256 = name, digest
        return content
    invoice.refresh_from_db(fields=["pdf", "pdf_sha256"])  # a concurrent call stored it first
    return None


def stored_pdf_bytes(invoice: Invoice) -> bytes:
    """The stored PDF, rendering and storing it first if it is missing."""
    content = _store(invoice)
    if content is not None:
        return content  # the bytes just written: the same as reading them back
    with default_storage.open(invoice.pdf.name, "rb") as handle:
        return handle.read()


def statement_context(stmt: Statement) -> dict[str, Any]:
    """Everything the statement PDF shows: today's seller and customer details and the
    statement's entries, each with its debit, credit and running balance.

    Entries are shown by their own description and amounts, whatever their kind, so a new
    kind of entry (a refund, say) needs no change here or in the template.
    """
    provider = ProviderDetails.current()
    if provider is None:
        # As for issuing an invoice: the seller's details go on every billing document.
        raise ValueError("Provider details are not configured: the seller's details go on every statement.")

    # The account is kept in the customer's currency: every invoice is issued in it.
    currency = stmt.customer.currency

    def money(amount: Decimal) -> str:
        return format_money(amount, currency)

    closing = stmt.closing_balance
    if closing > 0:
        closing_label = "Amount due"
    elif closing < 0:
        closing_label = "In credit"
    else:
        closing_label = "Closing balance"
    return {
        "title": "Statement of account",
        "seller": _seller(seller_details(provider)),
        "buyer": _buyer(buyer_details(stmt.customer)),
        "start": stmt.start,
        "end": stmt.end,
        "produced_on": timezone.localdate(),
        "currency": currency,
        "opening_balance": money(stmt.opening_balance),
        "entries": [
            {
                "on": entry.on,
                "kind": entry.kind,
                "reference": entry.reference,
                "description": entry.description,
                "debit": money(entry.debit) if entry.debit else "",
                "credit": money(entry.credit) if entry.credit else "",
                "balance": money(entry.balance),
            }
            for entry in stmt.entries
        ],
        "total_debits": money(stmt.total_debits),
        "total_credits": money(stmt.total_credits),
        "closing_label": closing_label,
        # Labelled "Amount due" or "In credit", so shown without its sign.
        "closing_balance": money(abs(closing)),
        "amount_due": closing > 0,
    }


def render_statement_html(stmt: Statement) -> str:
    return render_to_string("billing/statement_pdf.html", statement_context(stmt))


def render_statement_pdf(stmt: Statement) -> bytes:
    """The statement as PDF bytes (WeasyPrint, from ``billing/statement_pdf.html``), not stored."""
    return _write_pdf(render_statement_html(stmt))


def statement_filename(stmt: Statement) -> str:
    return f"statement-{stmt.start.isoformat()}-{stmt.end.isoformat()}.pdf"
