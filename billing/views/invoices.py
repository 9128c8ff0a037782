"""Customer billing pages: invoices and credit notes.

Documents are looked up through ``Invoice.objects.visible_to(membership)``, so another
customer's document answers 404; a role without VIEW_BILLING (technical contacts) gets
403 with a reason first.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path
from django.utils import timezone

from accounts import roles
from accounts.access import customer_view, private_download, require_permission
from accounts.models import Membership
from billing.collections.status import account_collections, document_collections
from billing.delivery.document import document_data
from billing.delivery.pdf import pdf_filename, stored_pdf_bytes
from billing.models import Invoice
from billing.money import format_money


def _documents(membership: Membership):
    """Issued documents with what payments and credit notes have settled of them and what
    is still due (the one balance rule, ``InvoiceQuerySet.with_balance``), in one query."""
    return Invoice.objects.visible_to(membership).select_related("corrects").with_balance()


def _with_amounts(invoice: Invoice) -> Invoice:
    invoice.balance_due = format_money(invoice.balance, invoice.currency)
    invoice.days_overdue = (timezone.localdate() - invoice.due_on).days if invoice.is_overdue else 0
    invoice.total = format_money(invoice.total_gross, invoice.currency)
    return invoice


@customer_view
def invoice_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    require_permission(membership, roles.Action.VIEW_BILLING)
    invoices = [_with_amounts(invoice) for invoice in _documents(membership)]
    return render(
        request,
        "billing/invoice_list.html",
        {
            "customer": membership.customer,
            "invoices": invoices,
            # A suspension or a handoff is only ever about overdue documents.
            **(account_collections(membership.customer) if any(i.days_overdue for i in invoices) else {}),
        },
    )


@customer_view
def invoice_detail(request: HttpRequest, membership: Membership, invoice_id: int) -> HttpResponse:
    require_permission(membership, roles.Action.VIEW_BILLING)
    invoice = get_object_or_404(_documents(membership).prefetch_related("lines", "refunds"), pk=invoice_id)
    # The same data the PDF is drawn from (lines, totals, VAT, what is paid and due), so
    # the page and the PDF cannot disagree.
    return render(
        request,
        "billing/invoice_detail.html",
        {"customer": membership.customer, **document_data(invoice), "collections": document_collections(invoice)},
    )


@customer_view
@private_download
def invoice_pdf(request: HttpRequest, membership: Membership, invoice_id: int) -> HttpResponse:
    """The stored PDF — the same bytes that were emailed — rendered and stored first if missing."""
    require_permission(membership, roles.Action.VIEW_BILLING)
    invoice = get_object_or_404(Invoice.objects.visible_to(membership), pk=invoice_id)
    response = HttpResponse(stored_pdf_bytes(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{pdf_filename(invoice)}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


urlpatterns = [
    path("invoices/", invoice_list, name="invoices"),
    path("invoices/<int:invoice_id>/", invoice_detail, name="invoice_detail"),
    path("invoices/<int:invoice_id>/pdf/", invoice_pdf, name="invoice_pdf"),
]
