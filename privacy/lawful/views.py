"""The public transparency report: counts per year of demands by instrument and outcome,
as staff published them. No login; no customer details."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

from privacy.lawful.models import Outcome, TransparencyReport
from privacy.lawful.services import report_rows

app_name = "transparency"


def _render(request: HttpRequest, report: TransparencyReport | None) -> HttpResponse:
    rows = report_rows(report) if report else []
    totals = {outcome: sum(row[outcome] for row in rows) for outcome in Outcome.values}
    years = list(TransparencyReport.objects.values_list("year", flat=True))
    return render(
        request, "transparency/report.html", {"report": report, "rows": rows, "totals": totals, "years": years}
    )


def latest(request: HttpRequest) -> HttpResponse:
    return _render(request, TransparencyReport.objects.order_by("-year").first())


def year(request: HttpRequest, year: int) -> HttpResponse:
    report = TransparencyReport.objects.filter(year=year).first()
    if report is None:
        raise Http404(f"No transparency report has been published for {year}.")
    return _render(request, report)


urlpatterns = [
    path("", latest, name="latest"),
    path("<int:year>/", year, name="year"),
]
