"""Customer pages: a service's bandwidth usage for a month, as an SVG graph, a table of
daily totals and a CSV of its 5-minute samples, with what it bills.

Every contact who may see the service sees its usage; the amounts billed are shown to
those who may see billing. Services are looked up among the customer's own, so another
customer's service answers 404.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict

from django import forms
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path
from django.utils import timezone

from accounts import roles
from accounts.access import customer_view, kept_page, private_download, require_permission
from accounts.models import Membership, Service
from billing.documents.periods import add_months
from billing.models import Subscription
from billing.money import format_money
from billing.usage.charges import usage_bills
from billing.usage.models import UsageCharge, UsageSample, UsageTerms
from billing.usage.rates import SLOT_SECONDS, gigabytes, mbit_per_second
from billing.views.usage_graph import rate_graph, transfer_graph


def month_choices(service: Service, today: dt.date) -> list[tuple[str, str]]:
    """Months from the service's start to this one, newest first."""
    month, first = today.replace(day=1), service.started_on.replace(day=1)
    choices = []
    while month >= first and len(choices) < 120:
        choices.append((month.strftime("%Y-%m"), month.strftime("%B %Y")))
        month = add_months(month, -1)
    return choices


class UsagePeriodForm(forms.Form):
    month = forms.ChoiceField(label="Month")

    def __init__(self, *args, service: Service, today: dt.date, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["month"].choices = month_choices(service, today) or [(today.strftime("%Y-%m"), "This month")]

    def chosen_month(self) -> dt.date:
        value = self.cleaned_data["month"] if self.is_bound else self.fields["month"].choices[0][0]
        return dt.date.fromisoformat(f"{value}-01")


def _service(membership: Membership, service_id: int) -> Service:
    service = get_object_or_404(Service.objects.for_customer(membership.customer), pk=service_id)
    require_permission(membership, roles.Action.VIEW_SERVICES)
    return service


def _bounds(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(month, dt.time(), tzinfo=dt.UTC)
    return start, dt.datetime.combine(add_months(month, 1), dt.time(), tzinfo=dt.UTC)


def _samples(service: Service, start: dt.datetime, end: dt.datetime):
    return (
        UsageSample.objects.filter(service=service, interval_start__gte=start, interval_start__lt=end)
        .order_by("interval_start")
        .values_list("interval_start", "bytes_in", "bytes_out")
    )


def _subscription(service: Service, month: dt.date) -> Subscription | None:
    """The subscription with usage terms that ran last in ``month``."""
    _, last = _bounds(month)
    return (
        Subscription.objects.filter(service=service, plan__usage_terms__isnull=False, started_on__lt=last.date())
        .filter(Q(ended_on__isnull=True) | Q(ended_on__gte=month))
        .select_related("plan__usage_terms", "service")
        .order_by("-started_on", "-pk")
        .first()
    )


def _daily(samples) -> list[dict]:
    days: dict[dt.date, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for moment, bytes_in, bytes_out in samples:
        day = days[moment.date()]
        day[0] += bytes_in
        day[1] += bytes_out
        day[2] = max(day[2], bytes_in)
        day[3] = max(day[3], bytes_out)
        day[4] += 1
    return [
        {
            "day": day,
            "in_gb": gigabytes(v[0]),
            "out_gb": gigabytes(v[1]),
            "peak_in": mbit_per_second(v[2]),
            "peak_out": mbit_per_second(v[3]),
            "samples": v[4],
        }
        for day, v in sorted(days.items())
    ]


@customer_view
@kept_page
def usage_page(request: HttpRequest, membership: Membership, service_id: int) -> HttpResponse:
    service = _service(membership, service_id)
    now = timezone.now()
    form = UsagePeriodForm(request.GET or None, service=service, today=now.astimezone(dt.UTC).date())
    if form.is_bound and not form.is_valid():
        return render(
            request,
            "billing/usage.html",
            {"customer": membership.customer, "service": service, "form": form},
            status=400,
        )
    month = form.chosen_month()
    start, end = _bounds(month)
    until = min(end, now)
    samples = list(_samples(service, start, end))
    sub = _subscription(service, month)
    terms: UsageTerms | None = sub.plan.usage_terms if sub else None
    bill = usage_bills([sub], month, until=None if end <= now else now).get(sub.pk) if sub else None
    charge = (
        UsageCharge.objects.filter(subscription=sub, month=month).select_related("invoice_line__invoice").first()
        if sub
        else None
    )
    title = f"Bandwidth of {service.name}, {month:%B %Y}"
    if terms is not None and terms.method == UsageTerms.Method.TRANSFER:
        graph = transfer_graph(
            samples,
            start,
            end,
            until,
            count_inbound=terms.directions == UsageTerms.Directions.IN_AND_OUT,
            allowance_gb=bill.allowance if bill else terms.allowance_gb,
            title=title,
        )
    else:
        graph = rate_graph(
            samples,
            start,
            end,
            until,
            p95_mbps=bill.measured if bill else None,
            commit_mbps=bill.allowance if bill else None,
            title=title,
        )
    can_bill = membership.can(roles.Action.VIEW_BILLING)
    return render(
        request,
        "billing/usage.html",
        {
            "customer": membership.customer,
            "service": service,
            "form": form,
            "month": month,
            "in_progress": end > now,
            "graph": graph,
            "terms": terms,
            "bill": bill,
            "amount": format_money(bill.amount, sub.plan.currency) if bill and can_bill else None,
            "charge": charge if can_bill else None,
            "can_bill": can_bill,
            "days": _daily(samples),
            "sample_count": len(samples),
            "expected": int((until - start).total_seconds()) // SLOT_SECONDS,
            "csv_month": month.strftime("%Y-%m"),
        },
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


@customer_view
@private_download
def usage_csv(request: HttpRequest, membership: Membership, service_id: int) -> HttpResponse:
    """The service's 5-minute samples for the month, as stored (UTC)."""
    service = _service(membership, service_id)
    form = UsagePeriodForm(request.GET or None, service=service, today=timezone.now().astimezone(dt.UTC).date())
    if form.is_bound and not form.is_valid():
        return HttpResponse(
            f"Not a month of this service: {request.GET.get('month', '')!r}.",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    month = form.chosen_month()
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(["interval_start_utc", "bytes_in", "bytes_out", "mbit_s_in", "mbit_s_out"])
        for moment, bytes_in, bytes_out in _samples(service, *_bounds(month)).iterator(chunk_size=2000):
            yield writer.writerow(
                [
                    moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    bytes_in,
                    bytes_out,
                    mbit_per_second(bytes_in),
                    mbit_per_second(bytes_out),
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    filename = f"usage-{service.pk}-{month:%Y-%m}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


urlpatterns = [
    path("services/<int:service_id>/usage/", usage_page, name="service_usage"),
    path("services/<int:service_id>/usage.csv", usage_csv, name="service_usage_csv"),
]
