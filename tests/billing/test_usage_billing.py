"""The billing run bills last month's usage in arrears, on the same invoice."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from accounts.audit import System
from billing.models import Invoice
from billing.usage.charges import usage_bills, usage_due
from billing.usage.models import UsageCharge, UsageTerms
from billing.workflows.run import run_billing
from tests.accounts.factories import ServiceFactory, StaffFactory
from tests.billing.factories import PlanFactory, SubscriptionFactory, configured_provider
from tests.billing.usage_helpers import store

pytestmark = pytest.mark.django_db

OCTOBER, NOVEMBER = dt.date(2026, 10, 1), dt.date(2026, 11, 1)
GB = 10**9


def transfer_plan(**fields):
    plan = PlanFactory(price=Decimal("20.00"))
    UsageTerms.objects.create(
        plan=plan,
        method=UsageTerms.Method.TRANSFER,
        allowance_gb=fields.get("allowance", Decimal("1000")),
        price_per_gb=Decimal("0.05"),
        directions=fields.get("directions", UsageTerms.Directions.IN_AND_OUT),
    )
    return plan


def percentile_plan():
    plan = PlanFactory(price=Decimal("50.00"))
    UsageTerms.objects.create(
        plan=plan, method=UsageTerms.Method.PERCENTILE, commit_mbps=Decimal("10"), price_per_mbps=Decimal("2.00")
    )
    return plan


def usage_line(invoice: Invoice):
    return invoice.lines.get(usage_charge__isnull=False)


def test_transfer_over_the_allowance_is_billed_next_month_on_the_same_invoice():
    configured_provider()
    sub = SubscriptionFactory(plan=transfer_plan(), started_on=dt.date(2026, 1, 1))
    # 8,928 samples of October: 800 GB in and 400 GB out in all.
    store(sub.service, OCTOBER, [800 * GB // 8928] * 8928, [400 * GB // 8928] * 8928)
    run_billing(NOVEMBER, actor=System("tests"))
    invoice = Invoice.objects.get(customer=sub.service.customer, period_start=NOVEMBER)
    line = usage_line(invoice)
    assert line.period_start == OCTOBER and line.period_end == dt.date(2026, 10, 31)
    assert "total transfer (in + out; 1 GB = 10^9 bytes)" in line.description
    assert "1200.000 GB transferred, 1000.000 GB included, 200.000 GB over" in line.description
    assert (line.quantity, line.unit_price, line.net) == (Decimal("200.000"), Decimal("0.05"), Decimal("10.00"))
    # The month's subscription line is on the same invoice.
    assert invoice.lines.count() == 2
    charge = UsageCharge.objects.get()
    assert (charge.month, charge.samples, charge.samples_expected) == (OCTOBER, 8928, 8928)


def test_outbound_only_plans_count_only_outbound():
    sub = SubscriptionFactory(plan=transfer_plan(directions=UsageTerms.Directions.OUT), started_on=OCTOBER)
    store(sub.service, OCTOBER, [GB] * 10, [2 * GB] * 10)
    bill = usage_bills([sub], OCTOBER)[sub.pk]
    assert bill.measured == Decimal("20.000") and bill.overage == Decimal("0.000")


def test_the_95th_percentile_bills_the_higher_direction_over_the_commit():
    configured_provider()
    sub = SubscriptionFactory(plan=percentile_plan(), started_on=dt.date(2026, 1, 1))
    # 31 days: 8,928 samples, 446 discarded. Outbound: ramps to 40 Mbit/s; inbound lower.
    mbit = 37_500_000  # bytes in 5 minutes at 1 Mbit/s
    store(sub.service, OCTOBER, [mbit] * 8928, [mbit * 30] * 8000 + [mbit * 40] * 928)
    run_billing(NOVEMBER, actor=System("tests"))
    line = usage_line(Invoice.objects.get(customer=sub.service.customer, period_start=NOVEMBER))
    assert "95th percentile" in line.description
    assert "40.000 Mbit/s (out; 8,928 of 8,928 samples, missing = 0), commit 10.000 Mbit/s" in line.description
    assert (line.quantity, line.net) == (Decimal("30.000"), Decimal("60.00"))


def test_a_service_that_started_mid_month_has_a_prorated_allowance():
    sub = SubscriptionFactory(plan=transfer_plan(allowance=Decimal("310")), started_on=dt.date(2026, 10, 22))
    # 10 active days of 31: 100 GB included; samples before the start are not counted.
    store(sub.service, OCTOBER, [GB] * 50, [0] * 50)  # 1 October: before the service
    store(sub.service, OCTOBER, [GB] * 120, [0] * 120, first=21 * 288)
    bill = usage_bills([sub], OCTOBER)[sub.pk]
    assert (bill.first, bill.last) == (dt.date(2026, 10, 22), dt.date(2026, 10, 31))
    assert (bill.measured, bill.allowance, bill.overage) == (Decimal("120.000"), Decimal("100.000"), Decimal("20.000"))


def test_a_service_that_ended_mid_month_pays_the_95th_over_the_commit_for_its_days():
    sub = SubscriptionFactory(plan=percentile_plan(), started_on=dt.date(2026, 1, 1), ended_on=dt.date(2026, 10, 3))
    mbit = 37_500_000
    store(sub.service, OCTOBER, [mbit * 40] * (3 * 288))
    bill = usage_bills([sub], OCTOBER)[sub.pk]
    assert bill.measured_in.expected == 3 * 288
    # 30 Mbit/s over for 3 of 31 days.
    assert (bill.overage, bill.quantity) == (Decimal("30.000"), Decimal("2.903"))
    assert "prorated 2.903" in bill.description("web")


def test_usage_is_billed_once_and_a_customer_whose_service_ended_gets_its_last_usage():
    configured_provider()
    sub = SubscriptionFactory(plan=transfer_plan(allowance=Decimal("0")), started_on=dt.date(2026, 1, 1))
    sub.ended_on = dt.date(2026, 10, 31)
    sub.billed_until = dt.date(2026, 10, 31)  # its subscription is billed to its end already
    sub.save()
    store(sub.service, OCTOBER, [GB] * 3)
    first = run_billing(NOVEMBER, actor=System("tests"))
    assert first.created == 1
    invoice = Invoice.objects.get(customer=sub.service.customer, period_start=NOVEMBER)
    assert [line.net for line in invoice.lines.all()] == [Decimal("0.30")]
    again = run_billing(NOVEMBER, actor=System("tests"))
    assert again.created == 0
    assert UsageCharge.objects.count() == 1


def test_plans_without_usage_terms_get_no_usage_line():
    configured_provider()
    sub = SubscriptionFactory(started_on=dt.date(2026, 1, 1), service=ServiceFactory())
    store(sub.service, OCTOBER, [GB] * 3)
    run_billing(NOVEMBER, actor=System("tests"))
    assert not UsageCharge.objects.exists()


def test_a_withdrawn_payment_request_gives_its_usage_back_to_be_billed_again():
    from billing.workflows.proforma import cancel_payment_request
    from tests.billing.factories import BillingSettingsFactory

    configured_provider()
    BillingSettingsFactory(pro_forma_mode=True)
    sub = SubscriptionFactory(plan=transfer_plan(allowance=Decimal("0")), started_on=dt.date(2026, 1, 1))
    store(sub.service, OCTOBER, [GB] * 2)
    run_billing(NOVEMBER, actor=System("tests"))
    request = Invoice.objects.get(customer=sub.service.customer, kind=Invoice.Kind.PRO_FORMA)
    assert usage_line(request).net == Decimal("0.20")  # 2 GB in and 2 GB out at 5p
    cancel_payment_request(request, reason="Sent to the wrong department", actor=System("tests"))
    run_billing(NOVEMBER, actor=System("tests"))
    again = Invoice.objects.exclude(pk=request.pk).get(customer=sub.service.customer, kind=Invoice.Kind.PRO_FORMA)
    assert usage_line(again).net == Decimal("0.20")
    assert UsageCharge.objects.get().invoice_line.invoice == again


def test_closing_an_account_mid_month_bills_that_months_usage_to_the_closing_day():
    from privacy.services.closure import end_relationship

    configured_provider()
    sub = SubscriptionFactory(plan=percentile_plan(), started_on=dt.date(2026, 1, 1))
    customer = sub.service.customer
    mbit = 37_500_000  # bytes in 5 minutes at 1 Mbit/s
    with time_machine.travel(dt.datetime(2026, 11, 15, 18, tzinfo=dt.UTC), tick=False):
        run_billing(NOVEMBER, actor=System("tests"))  # November's subscription, in advance
        # 1–15 November: 15 × 288 = 4,320 samples at 40 Mbit/s out.
        store(sub.service, NOVEMBER, [mbit] * 4320, [mbit * 40] * 4320)
        ended = end_relationship(customer, actor=StaffFactory(), last_day=dt.date(2026, 11, 15))

    further = Invoice.objects.get(customer=customer, kind=Invoice.Kind.INVOICE, period_start__isnull=True)
    line = usage_line(further)
    assert (line.period_start, line.period_end) == (NOVEMBER, dt.date(2026, 11, 15))
    assert "40.000 Mbit/s (out; 4,320 of 4,320 samples, missing = 0), commit 10.000 Mbit/s" in line.description
    # 30 Mbit/s over the commit for 15 of November's 30 days: 15.000 Mbit/s × £2.00 = £30.00, £36.00 with VAT.
    assert (line.quantity, line.net, further.total_gross) == (Decimal("15.000"), Decimal("30.00"), Decimal("36.00"))
    assert further.status == Invoice.Status.ISSUED and further.issued_on == dt.date(2026, 11, 15)
    charge = UsageCharge.objects.get(month=NOVEMBER)
    assert charge.invoice_line == line and charge.samples == 4320
    assert (
        f"Further invoice {further.number} issued for bandwidth usage from 1 November 2026 to 15 November 2026."
        in ended.done
    )
    # Billed once: a later run has nothing of November's usage left to bill.
    assert not usage_due(NOVEMBER).filter(service__customer=customer).exists()


def test_closing_with_no_usage_over_the_commit_issues_no_further_invoice():
    from privacy.services.closure import end_relationship

    configured_provider()
    sub = SubscriptionFactory(plan=percentile_plan(), started_on=dt.date(2026, 1, 1))
    with time_machine.travel(dt.datetime(2026, 11, 15, 18, tzinfo=dt.UTC), tick=False):
        run_billing(NOVEMBER, actor=System("tests"))
        store(sub.service, NOVEMBER, [37_500_000] * 4320)  # 1 Mbit/s: under the 10 Mbit/s commit
        ended = end_relationship(sub.service.customer, actor=StaffFactory(), last_day=dt.date(2026, 11, 15))

    assert not Invoice.objects.filter(
        customer=sub.service.customer, kind=Invoice.Kind.INVOICE, period_start__isnull=True
    ).exists()
    assert not any(item.startswith("Further invoice") for item in ended.done)
