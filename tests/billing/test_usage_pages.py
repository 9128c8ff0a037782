"""The customer's Usage page: the SVG graph, the billed-so-far figure, the table, the CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts import roles
from billing.usage.models import UsageTerms
from billing.views import usage_graph
from tests.accounts.factories import MembershipFactory, ServiceFactory
from tests.billing.factories import PlanFactory, SubscriptionFactory
from tests.billing.usage_helpers import store

pytestmark = pytest.mark.django_db

OCTOBER = dt.date(2026, 10, 1)
MBIT = 37_500_000  # bytes in 5 minutes at 1 Mbit/s
SVG = "{http://www.w3.org/2000/svg}"


def logged_in(client, service, role=roles.Role.OWNER):
    membership = MembershipFactory(customer=service.customer, role=role)
    client.force_login(membership.user)
    return membership


def percentile_subscription(service):
    plan = PlanFactory()
    UsageTerms.objects.create(
        plan=plan, method=UsageTerms.Method.PERCENTILE, commit_mbps=Decimal("10"), price_per_mbps=Decimal("2.00")
    )
    return SubscriptionFactory(service=service, plan=plan, started_on=dt.date(2026, 1, 1))


def svg_of(response) -> ET.Element:
    html = response.content.decode()
    match = re.search(r"<svg .*?</svg>", html, re.S)
    assert match, "no SVG on the page"
    return ET.fromstring(match.group(0))  # noqa: S314 (our own page) -- valid XML, or this raises


def test_the_graph_is_valid_svg_with_the_95th_line_at_its_value(client):
    service = ServiceFactory(started_on=dt.date(2026, 1, 1))
    percentile_subscription(service)
    # 8,928 samples: 40 Mbit/s outbound for most, 80 Mbit/s peaks in 300 (discarded).
    store(service, OCTOBER, [MBIT * 5] * 8928, [MBIT * 40] * 8628 + [MBIT * 80] * 300)
    logged_in(client, service)
    response = client.get(reverse("billing:service_usage", args=[service.pk]), {"month": "2026-10"})
    assert response.status_code == 200
    svg = svg_of(response)
    assert svg.find(f"{SVG}title").text == f"Bandwidth of {service.name}, October 2026"
    p95 = svg.find(f"{SVG}line[@class='level p95']")
    assert float(p95.get("data-value")) == 40.0
    top = float(svg.get("data-top"))
    assert top == 100.0  # the axis is the next round number above the 80 Mbit/s peak
    plot_top, plot_height = float(svg.get("data-plot-top")), float(svg.get("data-plot-height"))
    assert float(p95.get("y1")) == pytest.approx(plot_top + plot_height * (1 - 40 / 100))
    assert float(p95.get("y1")) == usage_graph.y_of(40, 100)
    commit = svg.find(f"{SVG}line[@class='level commit']")
    assert float(commit.get("y1")) == pytest.approx(plot_top + plot_height * 0.9)
    # The highest point of the outbound series is the 80 Mbit/s peak.
    points = svg.find(f"{SVG}polyline[@class='series outbound']").get("points").split()
    assert min(float(p.split(",")[1]) for p in points) == pytest.approx(plot_top + plot_height * 0.2)
    page = response.content.decode()
    assert "40.000 Mbit/s (out), commit 10.000 Mbit/s" in page
    assert "8928 of 8928 five-minute samples" in page
    # Billed in arrears, not yet invoiced: what will be billed (30 Mbit/s over at £2).
    assert "£60.00" in page
    assert "<script" not in page


def test_a_transfer_plan_shows_the_cumulative_transfer_against_the_allowance(client):
    service = ServiceFactory(started_on=dt.date(2026, 1, 1))
    plan = PlanFactory()
    UsageTerms.objects.create(
        plan=plan, method=UsageTerms.Method.TRANSFER, allowance_gb=Decimal("310"), price_per_gb=Decimal("0.10")
    )
    SubscriptionFactory(service=service, plan=plan, started_on=dt.date(2026, 1, 1))
    store(service, OCTOBER, [10**9] * 400, [0] * 400)
    logged_in(client, service)
    response = client.get(reverse("billing:service_usage", args=[service.pk]), {"month": "2026-10"})
    svg = svg_of(response)
    assert svg.get("data-kind") == "transfer"
    allowance = svg.find(f"{SVG}line[@class='level allowance']")
    assert float(allowance.get("y1")) == usage_graph.y_of(310, float(svg.get("data-top")))
    page = response.content.decode()
    assert "400.000 GB of 310.000 GB included" in page
    assert "£9.00" in page  # 90 GB over at 10p


def test_the_table_lists_each_day_and_the_csv_has_every_sample(client):
    service = ServiceFactory(started_on=dt.date(2026, 1, 1))
    store(service, OCTOBER, [MBIT] * 300, [2 * MBIT] * 300)  # 1 October and part of the 2nd
    logged_in(client, service, role=roles.Role.TECHNICAL)
    page = client.get(reverse("billing:service_usage", args=[service.pk]), {"month": "2026-10"}).content.decode()
    assert '<th scope="row">1 Oct 2026</th>' in page and '<th scope="row">2 Oct 2026</th>' in page
    assert "10.800" in page  # 288 × 37.5 MB inbound on 1 October
    assert "does not charge for bandwidth" in page
    response = client.get(reverse("billing:service_usage_csv", args=[service.pk]), {"month": "2026-10"})
    assert response["Cache-Control"] == "private, no-store"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["interval_start_utc", "bytes_in", "bytes_out", "mbit_s_in", "mbit_s_out"]
    assert len(rows) == 301
    assert rows[1] == ["2026-10-01T00:00:00Z", str(MBIT), str(2 * MBIT), "1.000", "2.000"]


def test_technical_contacts_see_usage_but_not_amounts(client):
    service = ServiceFactory(started_on=dt.date(2026, 1, 1))
    percentile_subscription(service)
    store(service, OCTOBER, [MBIT * 40] * 8928)
    logged_in(client, service, role=roles.Role.TECHNICAL)
    page = client.get(reverse("billing:service_usage", args=[service.pk]), {"month": "2026-10"}).content.decode()
    assert "40.000 Mbit/s" in page and "£" not in page


def test_this_month_shows_what_is_billed_so_far(client):
    service = ServiceFactory(started_on=dt.date(2026, 1, 1))
    percentile_subscription(service)
    month = timezone.now().astimezone(dt.UTC).date().replace(day=1)
    store(service, month, [MBIT * 20] * 12)  # the first hour, then nothing yet
    logged_in(client, service)
    page = client.get(reverse("billing:service_usage", args=[service.pk])).content.decode()
    assert "Billed so far this month" in page


def test_a_month_not_offered_is_refused_with_the_reason(client):
    service = ServiceFactory(started_on=dt.date(2026, 1, 1))
    logged_in(client, service)
    response = client.get(reverse("billing:service_usage", args=[service.pk]), {"month": "1999-01"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


def test_the_dashboard_shows_this_months_usage_against_the_allowance(client):
    service = ServiceFactory(started_on=dt.date(2026, 1, 1))
    plan = PlanFactory()
    UsageTerms.objects.create(
        plan=plan, method=UsageTerms.Method.TRANSFER, allowance_gb=Decimal("100"), price_per_gb=Decimal("0.10")
    )
    SubscriptionFactory(service=service, plan=plan, started_on=dt.date(2026, 1, 1))
    month = timezone.now().astimezone(dt.UTC).date().replace(day=1)
    store(service, month, [10**9] * 3, [0] * 3)
    logged_in(client, service, role=roles.Role.TECHNICAL)
    page = client.get(reverse("portal:dashboard")).content.decode()
    assert "Bandwidth this month" in page
    assert "3.000 GB of" in page
    assert reverse("billing:service_usage", args=[service.pk]) in page
