"""Customer billing pages: the statement of account for a date range, on the page and as
a PDF. Both take the period as ``start`` and ``end`` GET parameters; without
them, the provider's current financial year, and the page says so. A period is at most
``MAX_YEARS`` long (the years VAT records are kept), so a statement's work is bounded
whatever the customer's history holds."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import urlencode

from accounts import roles
from accounts.access import customer_view, kept_page, private_download, require_permission
from accounts.models import Membership
from billing.delivery.pdf import render_statement_pdf, statement_filename
from billing.documents.periods import current_financial_year
from billing.receivables.statements import statement

MAX_YEARS = 6


class StatementPeriodForm(forms.Form):
    start = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def clean_start(self) -> dt.date:
        # The opening balance is the balance on the day before the start.
        start = self.cleaned_data["start"]
        if start <= dt.date.min:
            raise forms.ValidationError("Enter a start date after 1 January 0001.")
        return start

    def clean(self) -> dict:
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            raise forms.ValidationError("The end date must be on or after the start date.")
        if data.get("start") and data.get("end") and data["end"] >= _years_after(data["start"], MAX_YEARS):
            raise forms.ValidationError(
                f"A statement covers at most {MAX_YEARS} years: choose an end date before "
                f"{_years_after(data['start'], MAX_YEARS):%-d %B %Y}, or ask for several statements."
            )
        return data

    def error_text(self) -> str:
        """The errors as one line of plain text, each naming its field."""
        problems = []
        for name, errors in self.errors.items():
            label = f"{self.fields[name].label}: " if name in self.fields else ""
            problems.extend(f"{label}{error}" for error in errors)
        return " ".join(problems)


def _years_after(day: dt.date, years: int) -> dt.date:
    """The same day ``years`` later (28 February for 29 February), or the last date there is."""
    if day.year + years > dt.MAXYEAR:
        return dt.date.max
    if day.month == 2 and day.day == 29:
        day = day.replace(day=28)
    return day.replace(year=day.year + years)


def _period_form(request: HttpRequest) -> StatementPeriodForm:
    """The period asked for, or the current financial year when none was."""
    start, end = current_financial_year(timezone.localdate())
    return StatementPeriodForm(request.GET or None, initial={"start": start, "end": end})


def _period(form: StatementPeriodForm) -> tuple[dt.date, dt.date]:
    if form.is_bound:
        return form.cleaned_data["start"], form.cleaned_data["end"]
    return form.initial["start"], form.initial["end"]


@customer_view
@kept_page
def statement_page(request: HttpRequest, membership: Membership) -> HttpResponse:
    require_permission(membership, roles.Action.VIEW_BILLING)
    form = _period_form(request)
    result = pdf_url = None
    if not form.is_bound or form.is_valid():
        start, end = _period(form)
        result = statement(membership.customer, start, end)
        pdf_url = f"{reverse('billing:statement_pdf')}?{urlencode({'start': start, 'end': end})}"
    return render(
        request,
        "billing/statement.html",
        {
            "customer": membership.customer,
            "form": form,
            "statement": result,
            "pdf_url": pdf_url,
            "default_period": not form.is_bound,
            "max_years": MAX_YEARS,
        },
    )


@customer_view
@private_download
def statement_pdf(request: HttpRequest, membership: Membership) -> HttpResponse:
    """The statement as a PDF, rendered for this request: a statement is derived, not issued, so it is not stored."""
    require_permission(membership, roles.Action.VIEW_BILLING)
    form = _period_form(request)
    if form.is_bound and not form.is_valid():
        return HttpResponseBadRequest(form.error_text(), content_type="text/plain; charset=utf-8")
    result = statement(membership.customer, *_period(form))
    response = HttpResponse(render_statement_pdf(result), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{statement_filename(result)}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


urlpatterns = [
    path("statement/", statement_page, name="statement"),
    path("statement.pdf", statement_pdf, name="statement_pdf"),
]
