"""Services that start, change plan or end between billing runs (proration by the day)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from accounts.audit import System
from billing.models import Invoice, OneOffCharge
from billing.receivables.payments import account_balance, unallocated_credit
from billing.workflows.run import run_billing
from billing.workflows.settlement import receive_payment
from billing.workflows.subscriptions import SubscriptionError, change_plan, end_subscription, start_subscription
from tests.accounts.factories import CustomerFactory, ServiceFactory
from tests.billing.factories import BillingSettingsFactory, PlanFactory, SubscriptionFactory, configured_provider

pytestmark = pytest.mark.django_db

DECEMBER = dt.date(2026, 12, 1)  # 31 days: a £31.00 plan costs £1.00 a day
JANUARY = dt.date(2027, 1, 1)


@pytest.fixture(autouse=True)
def _provider():
    configured_provider()
    BillingSettingsFactory(bill_in_advance=True)  # January may not have started yet


def _vps(customer, price="31.00", **plan_fields):
    plan = PlanFactory(price=Decimal(price), **plan_fields)
    return SubscriptionFactory(service=ServiceFactory(customer=customer), plan=plan, started_on=dt.date(2026, 6, 1))


def _invoice(customer, period=DECEMBER) -> Invoice:
    return Invoice.objects.get(customer=customer, kind=Invoice.Kind.INVOICE, period_start=period)


def test_ending_after_the_run_credits_the_unused_days():
    customer = CustomerFactory()
    sub = _vps(customer)
    run_billing(DECEMBER, actor=System("tests"))
    invoice = _invoice(customer)

    [note] = end_subscription(sub, last_day=dt.date(2026, 12, 21), actor=System("tests"))

    assert note.corrects == invoice and note.kind == Invoice.Kind.CREDIT_NOTE
    assert note.reason == f"{sub.service.name} ended on 21 December 2026"
    line = note.lines.get()
    assert (line.period_start, line.period_end) == (dt.date(2026, 12, 22), dt.date(2026, 12, 31))
    assert (note.total_net, note.total_vat, note.total_gross) == (Decimal("10.00"), Decimal("2.00"), Decimal("12.00"))
    sub.refresh_from_db()
    assert (sub.ended_on, sub.billed_until) == (dt.date(2026, 12, 21), dt.date(2026, 12, 21))
    # Nothing more is billed for it.
    run_billing(JANUARY, actor=System("tests"))
    assert not Invoice.objects.filter(customer=customer, period_start=JANUARY).exists()


def test_ending_a_paid_period_leaves_the_unused_part_as_credit():
    customer = CustomerFactory()
    sub = _vps(customer)
    run_billing(DECEMBER, actor=System("tests"))
    receive_payment(customer, amount="37.20", received_on=dt.date(2026, 12, 2), method="card", actor=System("tests"))

    end_subscription(sub, last_day=dt.date(2026, 12, 21), actor=System("tests"))

    assert unallocated_credit(customer) == Decimal("12.00")
    assert account_balance(customer) == Decimal("-12.00")
    assert _invoice(customer).status == Invoice.Status.PAID


def test_ending_before_the_run_is_prorated_by_the_run_without_a_credit_note():
    customer = CustomerFactory()
    sub = _vps(customer)

    assert end_subscription(sub, last_day=dt.date(2026, 12, 10), actor=System("tests")) == []
    run_billing(DECEMBER, actor=System("tests"))

    assert _invoice(customer).total_net == Decimal("10.00")
    assert not Invoice.objects.filter(kind=Invoice.Kind.CREDIT_NOTE).exists()


def _lines(invoice) -> list[tuple]:
    return list(invoice.lines.order_by("pk").values_list("period_start", "period_end", "net"))


def test_starting_after_the_run_is_caught_up_on_the_next_invoice():
    customer = CustomerFactory()
    _vps(customer)
    run_billing(DECEMBER, actor=System("tests"))
    plan = PlanFactory(price=Decimal("62.00"), setup_fee=Decimal("20.00"))

    sub = start_subscription(ServiceFactory(customer=customer), plan, on=dt.date(2026, 12, 17), actor=System("tests"))
    run_billing(JANUARY, actor=System("tests"))

    sub.refresh_from_db()
    january = _invoice(customer, JANUARY)
    assert (sub.billed_until, sub.setup_fee_invoiced) == (dt.date(2027, 1, 31), True)
    new_lines = list(january.lines.filter(subscription=sub).values_list("period_start", "period_end", "net"))
    assert new_lines == [
        (dt.date(2026, 12, 17), dt.date(2026, 12, 31), Decimal("30.00")),  # 15 days at £2.00
        (dt.date(2027, 1, 1), dt.date(2027, 1, 31), Decimal("62.00")),
        (None, None, Decimal("20.00")),  # the setup fee
    ]
    assert january.total_net == Decimal("143.00")  # with the first service's £31
    assert not OneOffCharge.objects.exists()


def test_a_new_customer_starting_after_the_run_is_billed_from_their_first_day():
    customer = CustomerFactory()
    _vps(CustomerFactory())
    run_billing(DECEMBER, actor=System("tests"))  # before this customer existed

    start_subscription(
        ServiceFactory(customer=customer),
        PlanFactory(price=Decimal("31.00")),
        on=dt.date(2026, 12, 10),
        actor=System("tests"),
    )
    run_billing(JANUARY, actor=System("tests"))

    assert _lines(_invoice(customer, JANUARY)) == [
        (dt.date(2026, 12, 10), dt.date(2026, 12, 31), Decimal("22.00")),
        (dt.date(2027, 1, 1), dt.date(2027, 1, 31), Decimal("31.00")),
    ]


def test_two_plan_changes_between_runs_bill_every_day_once():
    customer = CustomerFactory()
    a = _vps(customer)  # £1.00 a day
    run_billing(DECEMBER, actor=System("tests"))
    b = change_plan(
        a, PlanFactory(price=Decimal("62.00")), on=dt.date(2026, 12, 10), actor=System("tests")
    )  # £2.00 a day
    c = change_plan(
        b, PlanFactory(price=Decimal("93.00")), on=dt.date(2026, 12, 20), actor=System("tests")
    )  # £3.00 a day

    run_billing(JANUARY, actor=System("tests"))

    note = Invoice.objects.get(kind=Invoice.Kind.CREDIT_NOTE)
    assert note.total_net == Decimal("22.00")  # A's 10–31 December, billed in December
    january = _invoice(customer, JANUARY)
    assert list(january.lines.filter(subscription=b).values_list("period_start", "period_end", "net")) == [
        (dt.date(2026, 12, 10), dt.date(2026, 12, 19), Decimal("20.00"))
    ]
    assert list(january.lines.filter(subscription=c).values_list("period_start", "period_end", "net")) == [
        (dt.date(2026, 12, 20), dt.date(2026, 12, 31), Decimal("36.00")),
        (dt.date(2027, 1, 1), dt.date(2027, 1, 31), Decimal("93.00")),
    ]
    assert january.lines.count() == 3
    # December: 9 days of A (£9) + 10 of B (£20) + 12 of C (£36); January: C (£93).
    assert _invoice(customer).total_net - note.total_net + january.total_net == Decimal("158.00")


def test_a_service_ended_while_the_run_is_going_is_billed_as_it_is_now():
    from tests.statements import on_statement

    customer = CustomerFactory()
    sub = _vps(customer)

    def staff_end_the_service():
        end_subscription(sub, last_day=dt.date(2026, 12, 10), actor=System("tests"))

    # The run has read what is due and is about to start billing: staff end the service now.
    with on_statement(r'^UPDATE "billing_billingrun"', staff_end_the_service, before=False, times=1):
        run_billing(DECEMBER, actor=System("tests"))

    assert _invoice(customer).total_net == Decimal("10.00")


def test_a_staff_draft_for_the_period_is_reported_not_skipped():
    from tests.billing.factories import InvoiceFactory

    customer = CustomerFactory()
    _vps(customer)
    draft = InvoiceFactory(customer=customer, period_start=DECEMBER, period_end=dt.date(2026, 12, 31))

    run = run_billing(DECEMBER, actor=System("tests"))

    assert f"has a draft invoice for December 2026 ({draft})" in run.error
    assert run.created == 0


def test_starting_before_the_run_is_left_to_the_run():
    customer = CustomerFactory()
    sub = start_subscription(
        ServiceFactory(customer=customer), PlanFactory(price=Decimal("31.00")), on=DECEMBER, actor=System("tests")
    )
    assert sub.billed_until is None
    run_billing(DECEMBER, actor=System("tests"))
    assert _invoice(customer).total_net == Decimal("31.00")


def test_a_plan_in_another_currency_is_refused():
    customer = CustomerFactory()
    with pytest.raises(SubscriptionError, match=r"is priced in EUR; .* is billed in GBP"):
        start_subscription(
            ServiceFactory(customer=customer), PlanFactory(currency="EUR"), on=DECEMBER, actor=System("tests")
        )


def test_changing_plan_mid_period_credits_the_old_and_charges_the_new():
    customer = CustomerFactory()
    sub = _vps(customer)
    run_billing(DECEMBER, actor=System("tests"))
    bigger = PlanFactory(price=Decimal("93.00"))

    new = change_plan(sub, bigger, on=dt.date(2026, 12, 22), actor=System("tests"))

    sub.refresh_from_db()
    assert sub.ended_on == dt.date(2026, 12, 21)
    assert new.plan == bigger and new.started_on == dt.date(2026, 12, 22) and new.service == sub.service
    note = Invoice.objects.get(kind=Invoice.Kind.CREDIT_NOTE)
    assert note.total_net == Decimal("10.00")  # 10 unused days of the old plan
    run_billing(JANUARY, actor=System("tests"))
    # January on the new plan, and its 10 days in December at £3.00.
    assert _invoice(customer, JANUARY).total_net == Decimal("123.00")


def test_a_customer_with_only_one_off_charges_is_invoiced_by_the_run():
    customer = CustomerFactory()
    OneOffCharge.objects.create(customer=customer, description="Data recovery", unit_price=Decimal("80.00"))

    run = run_billing(DECEMBER, actor=System("tests"))

    assert run.created == 1
    assert _invoice(customer).total_gross == Decimal("96.00")
    assert run_billing(DECEMBER, actor=System("tests")).created == 0


def test_refusals_name_the_problem_and_change_nothing():
    customer = CustomerFactory()
    sub = _vps(customer)
    with pytest.raises(SubscriptionError, match="cannot be before that"):
        end_subscription(sub, last_day=dt.date(2026, 5, 31), actor=System("tests"))
    with pytest.raises(SubscriptionError, match="already has a subscription"):
        start_subscription(sub.service, PlanFactory(), on=DECEMBER, actor=System("tests"))
    with pytest.raises(SubscriptionError, match="already on"):
        change_plan(sub, sub.plan, on=DECEMBER, actor=System("tests"))
    with pytest.raises(SubscriptionError, match="no longer sold"):
        start_subscription(
            ServiceFactory(customer=customer), PlanFactory(active=False), on=DECEMBER, actor=System("tests")
        )
    end_subscription(sub, last_day=dt.date(2026, 11, 30), actor=System("tests"))
    with pytest.raises(SubscriptionError, match="already ended on 30 November 2026"):
        end_subscription(sub, last_day=dt.date(2026, 12, 31), actor=System("tests"))
    run_billing(JANUARY, actor=System("tests"))  # (nothing due: the only service has ended)
    OneOffCharge.objects.create(customer=customer, description="x", unit_price=1)
    run_billing(JANUARY, actor=System("tests"))
    with pytest.raises(SubscriptionError, match="billed for a period after December 2026"):
        start_subscription(
            ServiceFactory(customer=customer), PlanFactory(), on=dt.date(2026, 12, 5), actor=System("tests")
        )
    sub.refresh_from_db()
    assert sub.ended_on == dt.date(2026, 11, 30)


def test_an_unpaid_payment_request_is_not_credited_and_the_error_names_it():
    configured_provider()
    BillingSettingsFactory(pro_forma_mode=True)
    customer = CustomerFactory()
    sub = _vps(customer)
    run_billing(DECEMBER, actor=System("tests"))
    request = Invoice.objects.get(customer=customer, kind=Invoice.Kind.PRO_FORMA)

    with pytest.raises(SubscriptionError, match=rf"payment request\(s\) {request.number}"):
        end_subscription(sub, last_day=dt.date(2026, 12, 21), actor=System("tests"))
    sub.refresh_from_db()
    assert sub.ended_on is None
