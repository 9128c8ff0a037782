"""Customer billing pages: the statement of account for a date range (issue 4)."""

from __future__ import annotations

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone

from accounts import roles
from accounts.models import Membership
from accounts.views import customer_view, require_permission
from billing.statements import current_financial_year, statement


class StatementPeriodForm(forms.Form):
    start = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict:
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            raise forms.ValidationError("The end date must be on or after the start date.")
        return data


@customer_view
def statement_page(request: HttpRequest, membership: Membership) -> HttpResponse:
    require_permission(membership, roles.Action.VIEW_BILLING)
    start, end = current_financial_year(timezone.localdate())
    form = StatementPeriodForm(request.GET if request.GET else None, initial={"start": start, "end": end})
    if form.is_bound and form.is_valid():
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    result = None if form.is_bound and not form.is_valid() else statement(membership.customer, start, end)
    return render(
        request,
        "billing/statement.html",
        {"customer": membership.customer, "form": form, "statement": result},
    )


urlpatterns = [path("statement/", statement_page, name="statement")]
