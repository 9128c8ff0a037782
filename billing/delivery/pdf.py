"""The one renderer of billing PDFs: issued documents and statements of account.

An issued document (VAT invoice, credit note, payment request) is drawn from
``billing.delivery.document.document_data``, as its page in the portal and its email are.
It is stored once with its SHA-256, and the stored file is what every later download and
email returns.

A statement of account is not an issued document: it is derived from the account on the
day it is asked for, so it is drawn from today's provider and customer details and
rendered on each request, never stored.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Case, Value, When
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.correspondence.gateway import store_file
from accounts.models import ProviderDetails
from billing.delivery.document import buyer_block, document_data, seller_block
from billing.documents.snapshots import BuyerSnapshot, SellerSnapshot
from billing.models import BillingSettings, Invoice
from billing.money import format_money
from billing.receivables.statements import Statement
from core import pagecache
from core.files import read_verified

PDF_FOLDER = "billing/pdf"


def render_invoice_html(invoice: Invoice, data: dict[str, Any] | None = None) -> str:
    """The document's HTML; ``data``: its ``document_data``, when the caller has it already."""
    return render_to_string("billing/invoice_pdf.html", data if data is not None else document_data(invoice))


_fetcher = None


def url_fetcher():
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
    return HTML(string=html, base_url=base_url, url_fetcher=url_fetcher()).write_pdf()


def render_html_pdf(html: str) -> bytes:
    """Any billing letter or document rendered from ``html`` with the billing PDFs' fetcher."""
    return _write_pdf(html)


def render_invoice_pdf(invoice: Invoice, data: dict[str, Any] | None = None) -> bytes:
    """The document as PDF bytes (WeasyPrint, from ``billing/invoice_pdf.html``)."""
    return _write_pdf(render_invoice_html(invoice, data))


def pdf_filename(invoice: Invoice) -> str:
    return f"{invoice.number}.pdf"


def store_invoice_pdf(invoice: Invoice) -> Invoice:
    """Render and store the PDF privately with its SHA-256, once.

    The conditional UPDATE (``pdf=""``) makes a second or concurrent call a no-op: the
    first stored file stays the document's PDF, and ``invoice`` is refreshed to it.
    """
    _store(invoice)
    return invoice


def _check_issued(invoice: Invoice) -> None:
    if invoice.status == Invoice.Status.DRAFT or not invoice.number:
        raise ValueError("Only issued documents have a PDF.")


def _store(invoice: Invoice, data: dict[str, Any] | None = None) -> bytes | None:
    """``store_invoice_pdf``; returns the PDF when this call is the one that stored it."""
    _check_issued(invoice)
    if invoice.pdf:
        return None
    content = render_invoice_pdf(invoice, data)
    name, digest = store_file(PDF_FOLDER, pdf_filename(invoice), content)
    with pagecache.writes_for(customers=[invoice.customer_id]):  # the document shows on its customer's pages
        stored = Invoice.objects.filter(pk=invoice.pk, pdf="").update(pdf=name, pdf_sha256=digest)
    if stored:
        invoice.pdf, invoice.pdf_sha256 = name, digest
        return content
    invoice.refresh_from_db(fields=["pdf", "pdf_sha256"])  # a concurrent call stored it first
    return None


def stored_pdfs_bytes(documents: list[tuple[Invoice, dict[str, Any]]]) -> dict[int, bytes | Exception]:
    """``stored_pdf_bytes`` for documents issued together (a billing run's batch), each with
    its ``document_data``: those still without a PDF are rendered and stored one by one,
    then recorded in one conditional UPDATE for them all rather than one each.

    Answers each document's PDF by its pk, or the exception that stopped it (its rendering
    failed, or recording failed), so that one document failing stops none of the others.
    """
    done: dict[int, bytes | Exception] = {}
    rendered: dict[int, tuple[Invoice, bytes, str, str]] = {}
    for invoice, data in documents:
        try:
            if invoice.pdf:
                done[invoice.pk] = stored_pdf_bytes(invoice, data)
            else:
                _check_issued(invoice)
                content = render_invoice_pdf(invoice, data)
                rendered[invoice.pk] = (invoice, content, *store_file(PDF_FOLDER, pdf_filename(invoice), content))
        except Exception as exc:  # answered for this document; the others go on
            done[invoice.pk] = exc
    if not rendered:
        return done
    try:
        with pagecache.writes_for(customers={invoice.customer_id for invoice, *_ in rendered.values()}):
            Invoice.objects.filter(pk__in=rendered, pdf="").update(
                pdf=Case(*(When(pk=pk, then=Value(name)) for pk, (_, _, name, _) in rendered.items())),
                pdf_sha256=Case(*(When(pk=pk, then=Value(digest)) for pk, (*_, digest) in rendered.items())),
            )
        recorded = dict(Invoice.objects.filter(pk__in=rendered).values_list("pk", "pdf"))
    except Exception as exc:  # none recorded: the sweep of unsent documents renders them again
        return done | dict.fromkeys(rendered, exc)
    for pk, (invoice, content, name, digest) in rendered.items():
        if recorded.get(pk) == name:
            invoice.pdf, invoice.pdf_sha256 = name, digest
            done[pk] = content
        else:  # a concurrent call stored another rendering first: that one is the document's PDF
            invoice.refresh_from_db(fields=["pdf", "pdf_sha256"])
            done[pk] = read_verified(invoice.pdf.name, invoice.pdf_sha256)
    return done


def stored_pdf_bytes(invoice: Invoice, data: dict[str, Any] | None = None) -> bytes:
    """The stored PDF, rendering and storing it first if it is missing (from ``data``, the
    document's ``document_data``, when the caller has it already)."""
    content = _store(invoice, data)
    if content is not None:
        return content  # the bytes just written: the same as reading them back
    return read_verified(invoice.pdf.name, invoice.pdf_sha256)  # refuses a swapped file


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
        "seller": seller_block(SellerSnapshot.of(provider, BillingSettings.current())),
        "buyer": buyer_block(BuyerSnapshot.of(stmt.customer)),
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
