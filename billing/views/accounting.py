"""The accountants' exports at /accounting/exports/ (mounted by ``portal.accounting_urls``).

Only a member of the Accountant group with MFA (``accounts.middleware``) whose login
belongs to a firm of accountants engaged today reaches these pages; everyone else gets
404. An accountant sees their own firm's exports; another firm's answer 404.
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from accounts.access import private_download
from billing.accounting import periods
from billing.accounting.codes import ExportError
from billing.accounting.exports import FORMATS, request_export
from billing.models import Accountant, AccountingExport, AccountingSettings
from core.files import check_verified

RECENT = 30


class ExportForm(forms.Form):
    """Which export, in which format, for which period (and balances as at which day)."""

    kind = forms.ChoiceField(label="Export", choices=AccountingExport.Kind.choices)
    format = forms.ChoiceField(label="Format", choices=AccountingExport.Format.choices)
    period = forms.ChoiceField(label="Period")
    start = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    as_at = forms.DateField(
        label="Balances as at",
        required=False,
        help_text="Aged debtors: the day balances are aged at (default: the period's last day).",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args, today: dt.date | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.choices = period_choices(today or timezone.localdate())
        self.fields["period"].choices = [
            (key, period.label if period else label) for key, label, period in self.choices
        ]

    def clean(self):
        data = super().clean()
        kind, fmt = data.get("kind"), data.get("format")
        if kind and fmt and fmt not in FORMATS[kind]:
            offered = ", ".join(AccountingExport.Format(f).label for f in FORMATS[kind])
            self.add_error("format", f"The {AccountingExport.Kind(kind).label.lower()} comes as {offered}.")
        key = data.get("period")
        if key == "range":
            start, end = data.get("start"), data.get("end")
            if not start or not end:
                self.add_error("start", "Give the first and the last day of the range.")
            elif end < start:
                self.add_error("end", "The range cannot end before it starts.")
            else:
                data["resolved"] = periods.date_range(start, end)
        elif key:
            data["resolved"] = next(period for choice, _, period in self.choices if choice == key)
        return data


def period_choices(today: dt.date) -> list[tuple[str, str, periods.Period | None]]:
    """The periods offered: recent months, VAT quarters of the provider's stagger,
    financial years, and any range."""
    settings = AccountingSettings.current()
    choices: list[tuple[str, str, periods.Period | None]] = []
    year, month = today.year, today.month
    for _ in range(24):
        period = periods.month(year, month)
        choices.append((f"month:{year}-{month:02d}", "", period))
        year, month = periods.add_months(year, month, -1)
    for period in periods.vat_quarters(settings.vat_stagger, until=today):
        choices.append((f"quarter:{period.end:%Y-%m}", "", period))
    for period in periods.financial_years(settings.year_end_month, settings.year_end_day, until=today):
        choices.append((f"year:{period.end:%Y-%m-%d}", "", period))
    choices.append(("range", "Dates below (from and to)", None))
    # The previous month first: the usual monthly export.
    choices.insert(0, choices.pop(1))
    return choices


def _accountant(request: HttpRequest) -> Accountant:
    """The accountant's link to their firm, or 404 for anyone else."""
    user = request.user
    if not user.is_authenticated or not user.is_accountant:
        raise Http404("Not an accountant.")
    accountant = Accountant.objects.select_related("firm").filter(user=user).first()
    if accountant is None:
        raise Http404("This login belongs to no firm of accountants.")
    return accountant


@login_required
@require_http_methods(["GET", "POST"])
def exports(request: HttpRequest) -> HttpResponse:
    accountant = _accountant(request)
    firm = accountant.firm
    form = ExportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            export = request_export(
                kind=data["kind"],
                fmt=data["format"],
                period=data["resolved"],
                as_at=data.get("as_at"),
                actor=request.user,
                firm=firm,
            )
        except ExportError as exc:
            form.add_error(None, str(exc))
        else:
            if export.status == AccountingExport.Status.READY:
                messages.success(request, f"Your {export.get_kind_display().lower()} is ready.")
            else:
                messages.info(request, "This export is large: we are preparing it. This page shows its progress.")
            return redirect("accounting:export", export_id=export.pk)
    rows = list(firm.exports.select_related("made_by")[:RECENT])
    return render(
        request,
        "billing/accounting/exports.html",
        {
            "firm": firm,
            "engaged": firm.is_engaged(),
            "form": form,
            "exports": rows,
            "formats": {kind: [AccountingExport.Format(f).label for f in fmts] for kind, fmts in FORMATS.items()},
        },
    )


def _firm_export(request: HttpRequest, export_id: int) -> AccountingExport:
    accountant = _accountant(request)
    return get_object_or_404(AccountingExport.objects.select_related("made_by"), pk=export_id, firm=accountant.firm)


@login_required
def export_detail(request: HttpRequest, export_id: int) -> HttpResponse:
    export = _firm_export(request, export_id)
    working = export.status in (AccountingExport.Status.QUEUED, AccountingExport.Status.RUNNING)
    return render(request, "billing/accounting/export.html", {"export": export, "working": working})


@login_required
@private_download
def export_download(request: HttpRequest, export_id: int) -> HttpResponse:
    export = _firm_export(request, export_id)
    if export.is_expired or export.status != AccountingExport.Status.READY:
        messages.error(request, "This file is not available (it expired or is not ready): make the export again.")
        return redirect("accounting:export", export_id=export.pk)
    return serve_export(export)


def serve_export(export: AccountingExport) -> FileResponse:
    """The stored file, streamed, after checking it is the file that was recorded."""
    check_verified(export.file.name, export.sha256)
    return FileResponse(export.file.open("rb"), as_attachment=True, filename=export.filename)


urlpatterns = [
    path("exports/", exports, name="exports"),
    path("exports/<int:export_id>/", export_detail, name="export"),
    path("exports/<int:export_id>/download/", export_download, name="export_download"),
]
