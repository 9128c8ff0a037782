"""Customer billing pages: invoices and credit notes.

The list shows 25 documents a page, newest first, with the total number and what is due
on the documents shown by the filters (year of issue, kind, unpaid or overdue only), so
its work does not grow with the customer's history.

Documents are looked up through ``Invoice.objects.visible_to(membership)``, so another
customer's document answers 404; a role without VIEW_BILLING (technical contacts) gets
403 with a reason first.
"""

from __future__ import annotations

from django import forms
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path
from django.utils import timezone

from accounts import roles
from accounts.access import customer_view, kept_page, private_download, require_permission
from accounts.models import Membership
from billing.collections.status import account_collections, document_collections
from billing.delivery.document import document_data
from billing.delivery.pdf import pdf_filename, stored_pdf_bytes
from billing.models import Invoice
from billing.money import format_money
from core.links import row_link
from core.pagination import paginate

SHOW_CHOICES = [
    ("", "All documents"),
    ("unpaid", "Unpaid only"),
    ("overdue", "Overdue only"),
    ("invoices", "Invoices and payment requests"),
    ("credit_notes", "Credit notes"),
]


class InvoiceFilterForm(forms.Form):
    """The list's filters. Anything not offered is ignored (the whole list), never an error."""

    year = forms.TypedChoiceField(label="Year", required=False, coerce=int, empty_value=None)
    show = forms.ChoiceField(label="Show", required=False, choices=SHOW_CHOICES)

    def __init__(self, data, *, years: list[int]):
        super().__init__(data)
        self.fields["year"].choices = [("", "All years"), *((year, str(year)) for year in years)]

    def narrow(self, documents):
        if not self.is_valid():
            return documents
        year, show = self.cleaned_data.get("year"), self.cleaned_data.get("show")
        if year:
            documents = documents.filter(issued_on__year=year)
        if show == "unpaid":
            documents = documents.filter(balance__gt=0)
        elif show == "overdue":
            documents = documents.overdue(timezone.localdate()).filter(balance__gt=0)
        elif show == "invoices":
            documents = documents.exclude(kind=Invoice.Kind.CREDIT_NOTE)
        elif show == "credit_notes":
            documents = documents.filter(kind=Invoice.Kind.CREDIT_NOTE)
        return documents


def _documents(membership: Membership):
    """Issued documents with what payments and credit notes have settled of them and what
    is still due (the one balance rule, ``InvoiceQuerySet.with_balance``), in one query."""
    return Invoice.objects.visible_to(membership).select_related("corrects").with_balance()


def _with_amounts(invoice: Invoice, detail_url, pdf_url) -> Invoice:
    invoice.balance_due = format_money(invoice.balance, invoice.currency)
    invoice.days_overdue = (timezone.localdate() - invoice.due_on).days if invoice.is_overdue else 0
    invoice.total = format_money(invoice.total_gross, invoice.currency)
    invoice.detail_url = detail_url(invoice.pk)
    invoice.pdf_url = pdf_url(invoice.pk)
    return invoice


@customer_view
@kept_page
def invoice_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    require_permission(membership, roles.Action.VIEW_BILLING)
    documents = _documents(membership)
    years = [day.year for day in documents.dates("issued_on", "year", order="DESC")]
    form = InvoiceFilterForm(request.GET, years=years)
    shown = form.narrow(documents)
    # The number of documents and what is due on them, per currency, in one query.
    totals = list(shown.order_by().values("currency").annotate(n=Count("pk"), due=Sum("balance")).order_by("currency"))
    page = paginate(request, shown, count=sum(row["n"] for row in totals))
    # Reversed once per page, not once per row: the pk is the only part that changes.
    detail_url, pdf_url = row_link("billing:invoice_detail"), row_link("billing:invoice_pdf")
    due = [format_money(row["due"], row["currency"]) for row in totals if row["due"]]
    invoices = [_with_amounts(invoice, detail_url, pdf_url) for invoice in page]
    return render(
        request,
        "billing/invoice_list.html",
        {
            "customer": membership.customer,
            "form": form,
            "page": page,
            "invoices": invoices,
            "due": due,
            "filtered": form.is_valid() and any(form.cleaned_data.values()),
            # A notice of suspension, debts with an agency: on every page, whichever documents it shows.
            **account_collections(membership.customer),
        },
    )


@customer_view
@kept_page
def invoice_detail(request: HttpRequest, membership: Membership, invoice_id: int) -> HttpResponse:
    require_permission(membership, roles.Action.VIEW_BILLING)
    invoice = get_object_or_404(_documents(membership).prefetch_related("lines", "refunds"), pk=invoice_id)
    # The same data the PDF is drawn from (lines, totals, VAT, what is paid and due), so
    # the page and the PDF cannot disagree.
    return render(
        request,
        "billing/invoice_detail.html",
        {
            "customer": membership.customer,
            **document_data(invoice, with_balance=True),
            "collections": document_collections(invoice),
        },
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
