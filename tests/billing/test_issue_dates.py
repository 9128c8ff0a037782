"""A document is dated the day it is issued: a billing run for a month that has not begun is
refused unless billing in advance is allowed, and then dated today; within a series,
number order and date order agree."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.audit import System
from billing.delivery.pdf import render_invoice_pdf
from billing.documents.totals import InvoiceError
from billing.issuing import add_line, issue_invoice
from billing.models import BillingRun, Invoice, NumberSeries
from tests.accounts.factories import CustomerFactory, ServiceFactory
from tests.billing.factories import BillingSettingsFactory, InvoiceFactory, PlanFactory, SubscriptionFactory
from tests.billing.test_pdf import pdf_text

pytestmark = pytest.mark.django_db


def _page_text(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def _next_month() -> dt.date:
    today = timezone.localdate()
    return (today.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


@pytest.fixture
def subscribed(provider):
    customer = CustomerFactory()
    SubscriptionFactory(service=ServiceFactory(customer=customer), plan=PlanFactory(), started_on=dt.date(2026, 1, 1))
    return customer


def _run_from_the_admin(client, period_start, capture):
    with capture(execute=True):
        return client.post(reverse("admin:billing_billingrun_add"), {"period_start": period_start.isoformat()})


def test_a_run_for_a_month_not_yet_begun_is_refused_unless_billing_in_advance_is_allowed(
    billing_staff_client, subscribed, django_capture_on_commit_callbacks
):
    ahead = _next_month()

    refused = _run_from_the_admin(billing_staff_client, ahead, django_capture_on_commit_callbacks)

    assert refused.status_code == 200
    assert f"{ahead:%B %Y} has not started" in _page_text(refused)
    assert "Allow billing in advance" in _page_text(refused)
    assert not BillingRun.objects.exists() and not Invoice.objects.exists()


def test_billed_in_advance_the_invoices_are_dated_today_and_state_the_period_and_numbers_follow_dates(
    billing_staff_client, subscribed, django_capture_on_commit_callbacks
):
    BillingSettingsFactory(bill_in_advance=True)
    ahead, today = _next_month(), timezone.localdate()

    started = _run_from_the_admin(billing_staff_client, ahead, django_capture_on_commit_callbacks)

    assert started.status_code == 302
    invoice = Invoice.objects.get(customer=subscribed, period_start=ahead)
    assert invoice.issued_on == today and invoice.tax_point == today
    text = pdf_text(render_invoice_pdf(invoice))
    assert f"Date of issue {today:%-d %B %Y}" in text
    assert f"Period {ahead:%-d %b %Y} –" in text
    # A manual invoice afterwards takes the next number and, dated today too, no earlier date.
    draft = InvoiceFactory(customer=CustomerFactory())
    add_line(draft, description="Setup work", quantity=1, unit_price="50.00")
    manual = issue_invoice(draft, actor=System("tests"))
    numbered = list(Invoice.objects.filter(kind=Invoice.Kind.INVOICE).order_by("number"))
    assert numbered == [invoice, manual]
    assert [doc.issued_on for doc in numbered] == sorted(doc.issued_on for doc in numbered)


def test_a_document_dated_before_the_latest_of_its_series_is_refused_and_takes_no_number(provider):
    first = InvoiceFactory(customer=CustomerFactory())
    add_line(first, description="Hosting", quantity=1, unit_price="10.00")
    issue_invoice(first, issued_on=dt.date(2026, 3, 5), actor=System("tests"))
    backdated = InvoiceFactory(customer=CustomerFactory())
    add_line(backdated, description="Hosting", quantity=1, unit_price="10.00")

    with pytest.raises(InvoiceError, match="dated 4 March 2026 would be numbered after one issued on 5 March 2026"):
        issue_invoice(backdated, issued_on=dt.date(2026, 3, 4), actor=System("tests"))

    backdated.refresh_from_db()
    assert backdated.status == Invoice.Status.DRAFT and backdated.number is None
    assert NumberSeries.objects.get(code="INV").next_number == 2
    # The same day is fine, and so is any later one: numbers and dates go up together.
    assert issue_invoice(backdated, issued_on=dt.date(2026, 3, 5), actor=System("tests")).number.endswith("000002")
