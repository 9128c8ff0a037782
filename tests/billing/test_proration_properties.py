"""Proration, quarterly and annual plans, checked through the billing run.

Everything goes the way the system does it: subscriptions are started, changed and ended
with ``billing.workflows.subscriptions`` and invoiced by ``billing.workflows.run.run_billing``; the assertions
are what a person checking the invoices would check (amounts, dates, totals, no day billed
twice or left out). The rule under test is docs/billing.md and ``billing.documents.periods.prorate``:
daily over the billing period's actual days, both ends inclusive, rounded half up to the
penny; a whole period is exactly the plan price.

Quarters and years start on the first of the month the plan is first billed for
(``billing.documents.periods.period_bounds``: "``months`` calendar months starting on the first of a
month"), not on calendar quarters: docs/billing.md promises no calendar alignment.

Each hypothesis example runs in its own savepoint, rolled back at the end, so one
example's customers are not billed by the next example's runs.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.audit import System
from billing.models import BillingPeriod, Invoice, InvoiceLine, Subscription
from billing.workflows.run import run_billing
from billing.workflows.subscriptions import SubscriptionError, change_plan, end_subscription, start_subscription
from tests.accounts.factories import CustomerFactory, ServiceFactory
from tests.billing.factories import BillingSettingsFactory, PlanFactory, configured_provider

pytestmark = pytest.mark.django_db

PENNY = Decimal("0.01")
HALF_PENNY = Fraction(1, 200)
PRICES = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("10000.00"), places=2)
DATES = st.dates(min_value=dt.date(2027, 1, 1), max_value=dt.date(2030, 12, 31))  # after today; leap 2028
PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(autouse=True)
def _provider():
    configured_provider()
    BillingSettingsFactory(bill_in_advance=True)  # the periods here are after today


@contextmanager
def _rolled_back() -> Iterator[None]:
    """One hypothesis example's data, thrown away afterwards (the test's transaction stays)."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


# -- dates and expected amounts, worked out independently of billing.documents.periods ---------------


def _first_of(day: dt.date, months_later: int = 0) -> dt.date:
    month = day.month - 1 + months_later
    return dt.date(day.year + month // 12, month % 12 + 1, 1)


def _last_of(day: dt.date, months_later: int = 0) -> dt.date:
    return _first_of(day, months_later + 1) - dt.timedelta(days=1)


def _days(first: dt.date, last: dt.date) -> int:
    return (last - first).days + 1


def _day_set(first: dt.date, last: dt.date) -> Counter:
    return Counter(first + dt.timedelta(days=n) for n in range(_days(first, last)))


def _pennies(amount: Decimal | Fraction) -> Decimal:
    """Half up to the penny, as docs/billing.md says for prices and line totals."""
    if isinstance(amount, Fraction):
        amount = Decimal(amount.numerator) / Decimal(amount.denominator)
    return amount.quantize(PENNY, rounding=ROUND_HALF_UP)


def _daily(price: Decimal, active_days: int, period_days: int) -> Decimal:
    """price × active days ÷ days in the period, to the penny."""
    return _pennies(Fraction(price) * active_days / period_days)


def _month_days(line) -> int:
    return _days(_first_of(line.period_start), _last_of(line.period_start))


def _is_money(value) -> bool:
    return isinstance(value, Decimal) and value.is_finite() and value.as_tuple().exponent == -2


# -- set-up and reading back ------------------------------------------------------------------


def _plan(price: Decimal, period=BillingPeriod.MONTHLY, **fields):
    return PlanFactory(price=price, period=period, **fields)


def _start(customer, plan, on: dt.date) -> Subscription:
    return start_subscription(ServiceFactory(customer=customer), plan, on=on, actor=System("tests"))


def _invoices(customer, kind=Invoice.Kind.INVOICE) -> list[Invoice]:
    return list(Invoice.objects.filter(customer=customer, kind=kind).order_by("period_start", "pk"))


def _invoice(customer, period_start: dt.date) -> Invoice:
    return Invoice.objects.get(customer=customer, kind=Invoice.Kind.INVOICE, period_start=period_start)


def _lines(invoice: Invoice) -> list[tuple]:
    return list(invoice.lines.order_by("pk").values_list("period_start", "period_end", "net"))


def _check_invoice_adds_up(invoice: Invoice) -> None:
    """What a reader checks on any document: it is issued, the net is the sum of its lines,
    VAT is the rounded-down VAT on the net (one rate here: UK standard, 20 %), gross is net
    plus VAT, and every amount is a Decimal in pennies (never a float)."""
    invoice.refresh_from_db()
    lines = list(invoice.lines.all())
    assert invoice.status in (Invoice.Status.ISSUED, Invoice.Status.PAID, Invoice.Status.CANCELLED)
    assert invoice.number
    assert invoice.total_net == sum((line.net for line in lines), Decimal("0.00"))
    assert {line.vat_rate for line in lines} == {Decimal("20")}
    assert invoice.total_vat == (invoice.total_net * Decimal("0.20")).quantize(PENNY, rounding=ROUND_DOWN)
    assert invoice.total_gross == invoice.total_net + invoice.total_vat
    amounts = [invoice.total_net, invoice.total_vat, invoice.total_gross]
    amounts += [value for line in lines for value in (line.net, line.unit_price)]
    assert all(_is_money(value) for value in amounts), amounts
    assert all(line.quantity == 1 and line.net == line.unit_price for line in lines)


# -- 1. a monthly plan starting mid-month ---------------------------------------------------------


@PROPERTY
@given(price=PRICES, start=DATES)
def test_the_first_invoice_of_a_monthly_plan_is_prorated_by_the_day(price, start):
    month, month_end = _first_of(start), _last_of(start)
    remaining, month_days = _days(start, month_end), _days(month, month_end)
    with _rolled_back():
        customer = CustomerFactory()
        sub = _start(customer, _plan(price), on=start)

        run = run_billing(month, actor=System("tests"))

        assert run.created == 1
        invoice = _invoice(customer, month)
        [line] = invoice.lines.all()
        assert (line.subscription, line.period_start, line.period_end) == (sub, start, month_end)
        assert line.net == _daily(price, remaining, month_days)
        assert Decimal("0.00") <= line.net <= price
        if start == month:
            assert line.net == price
        assert (start != month) == line.description.endswith("(prorated)")
        assert f"{start:%-d %b %Y} to {month_end:%-d %b %Y}" in line.description
        assert (invoice.period_start, invoice.period_end) == (month, month_end)
        _check_invoice_adds_up(invoice)
        sub.refresh_from_db()
        assert sub.billed_until == month_end


# -- 2. a monthly plan that runs for a while and ends mid-month ----------------------------------


@PROPERTY
@given(
    price=PRICES,
    start=DATES,
    months=st.integers(min_value=0, max_value=3),
    end_day=st.integers(min_value=1, max_value=31),
    start_after_run=st.booleans(),
    end_after_run=st.booleans(),
)
def test_from_start_to_end_every_day_is_billed_once_at_the_daily_price(
    price, start, months, end_day, start_after_run, end_after_run
):
    """Started (before or after that month's run) and ended (before or after that month's
    run, so by a prorated last line or by a credit note) months apart.

    Tolerance: every amount that is not a whole month's price is rounded once, half up, so
    it is at most half a penny from its exact value. A prorated line contributes one such
    rounding, a credit note line one more (it is worked out from the rounded line, and the
    line's own rounding error is carried only in proportion to the days kept), so the sum
    billed is within half a penny per prorated line and per credit line of the exact daily
    amount, and exact when nothing was prorated. A credit under half a penny is not issued
    (``end_subscription`` skips it): that too is one rounding, to zero.
    """
    first_month = _first_of(start)
    end_month = _first_of(start, months)
    end = end_month.replace(day=min(end_day, calendar.monthrange(end_month.year, end_month.month)[1]))
    if months == 0:
        end = max(end, start)
        end_after_run = end_after_run or start_after_run  # it cannot end before it starts
    with _rolled_back():
        customer = CustomerFactory()
        plan = _plan(price)
        sub = None
        for i in range(months + 3):  # and two runs after the last day
            month = _first_of(first_month, i)
            if i == 0 and not start_after_run:
                sub = _start(customer, plan, on=start)
            if i == months and not end_after_run:
                end_subscription(sub, last_day=end, actor=System("tests"))
            run_billing(month, actor=System("tests"))
            if i == 0 and start_after_run:
                sub = _start(customer, plan, on=start)
            if i == months and end_after_run:
                end_subscription(sub, last_day=end, actor=System("tests"))

        billed = InvoiceLine.objects.filter(invoice__customer=customer, invoice__kind=Invoice.Kind.INVOICE)
        credited = InvoiceLine.objects.filter(invoice__customer=customer, invoice__kind=Invoice.Kind.CREDIT_NOTE)
        billed_days, credited_days = Counter(), Counter()
        for line in billed:
            assert line.subscription == sub and line.period_end <= _last_of(line.period_start)
            billed_days += _day_set(line.period_start, line.period_end)
        for line in credited:
            credited_days += _day_set(line.period_start, line.period_end)
        assert max(billed_days.values()) == 1  # no day on two invoices
        assert not credited_days - billed_days  # only days billed are credited
        kept_days, served_days = billed_days - credited_days, _day_set(start, end)
        assert not served_days - kept_days  # every day of service is billed
        dropped_credits = int(kept_days != served_days)
        if dropped_credits:
            # Days after the end still billed: only when their credit came to less than half
            # a penny, which end_subscription does not put on a credit note.
            [line] = [line for line in billed if line.period_end > end]
            unused = len(kept_days - served_days)
            assert not credited and unused == (line.period_end - end).days
            assert Fraction(line.net) * unused / _days(line.period_start, line.period_end) < HALF_PENNY

        expected = Fraction(0)
        for i in range(months + 1):
            first, last = _first_of(first_month, i), _last_of(first_month, i)
            expected += Fraction(price) * _days(max(first, start), min(last, end)) / _days(first, last)
        net = sum(line.net for line in billed) - sum((line.net for line in credited), Decimal(0))
        prorated = [line for line in billed if _days(line.period_start, line.period_end) != _month_days(line)]
        roundings = len(prorated) + len(credited) + dropped_credits
        assert abs(Fraction(net) - expected) <= HALF_PENNY * roundings, (net, float(expected), roundings)
        assert Decimal(0) <= net <= price * (months + 1)
        for document in _invoices(customer) + _invoices(customer, Invoice.Kind.CREDIT_NOTE):
            _check_invoice_adds_up(document)
        invoiced_for_last_month = months > 0 or not start_after_run
        if not (end_after_run and invoiced_for_last_month and end < _last_of(end_month)):
            assert not credited.exists()  # ended before its last month was invoiced: prorated instead
        sub.refresh_from_db()
        assert sub.ended_on == end


# -- 3. changing plan mid-month ------------------------------------------------------------------------


@PROPERTY
@given(
    old_price=PRICES,
    new_price=PRICES,
    change_on=DATES.filter(lambda day: day.day > 1),
    changed_after_run=st.booleans(),
)
def test_a_plan_change_splits_the_month_between_the_plans_by_the_day(
    old_price, new_price, change_on, changed_after_run
):
    """The old plan pays for the days before the change, the new plan for the days from it."""
    month, month_end = _first_of(change_on), _last_of(change_on)
    month_days, days_new = _days(month, month_end), _days(change_on, month_end)
    days_old = month_days - days_new
    next_month = _first_of(month, 1)
    with _rolled_back():
        customer = CustomerFactory()
        old = _start(customer, _plan(old_price), on=month)
        if changed_after_run:
            run_billing(month, actor=System("tests"))
        new = change_plan(old, _plan(new_price), on=change_on, actor=System("tests"))
        if not changed_after_run:
            run_billing(month, actor=System("tests"))
        run_billing(next_month, actor=System("tests"))

        first, second = _invoice(customer, month), _invoice(customer, next_month)
        notes = _invoices(customer, Invoice.Kind.CREDIT_NOTE)
        if changed_after_run:
            # December's invoice had the whole month of the old plan; the unused days are
            # credited, the new plan's days come on the next invoice before its first month.
            assert _lines(first) == [(month, month_end, old_price)]
            unused = _daily(old_price, days_new, month_days)
            assert [(n.corrects, _lines(n)) for n in notes] == (
                [(first, [(change_on, month_end, unused)])] if unused else []
            )
            old_net = old_price - unused
            assert list(second.lines.filter(subscription=new).values_list("period_start", "period_end", "net")) == [
                (change_on, month_end, _daily(new_price, days_new, month_days)),
                (next_month, _last_of(next_month), new_price),
            ]
        else:
            assert notes == []
            assert _lines(first) == [
                (month, change_on - dt.timedelta(days=1), _daily(old_price, days_old, month_days)),
                (change_on, month_end, _daily(new_price, days_new, month_days)),
            ]
            old_net = first.lines.get(subscription=old).net
            assert _lines(second) == [(next_month, _last_of(next_month), new_price)]
        new_net = InvoiceLine.objects.get(subscription=new, period_start=change_on).net
        # Proportional to the days: each part within half a penny (one rounding each) of
        # its plan's price × its days ÷ the month's days; the old plan's credit within one.
        assert abs(Fraction(old_net) - Fraction(old_price) * days_old / month_days) <= HALF_PENNY
        assert abs(Fraction(new_net) - Fraction(new_price) * days_new / month_days) <= HALF_PENNY
        assert Decimal(0) <= old_net <= old_price and Decimal(0) <= new_net <= new_price
        for document in _invoices(customer) + notes:
            _check_invoice_adds_up(document)


# -- 4. quarterly and annual plans -----------------------------------------------------------------


JANUARY = dt.date(2027, 1, 1)


def _run_months(first: dt.date, count: int) -> list[int]:
    return [run_billing(_first_of(first, i), actor=System("tests")).created for i in range(count)]


def test_a_quarterly_plan_is_invoiced_once_per_quarter():
    customer = CustomerFactory()
    sub = _start(customer, _plan(Decimal("90.00"), BillingPeriod.QUARTERLY), on=JANUARY)

    created = _run_months(JANUARY, 7)  # January to July 2027

    assert created == [1, 0, 0, 1, 0, 0, 1]
    invoices = _invoices(customer)
    assert [(i.period_start, i.period_end) for i in invoices] == [
        (dt.date(2027, 1, 1), dt.date(2027, 3, 31)),
        (dt.date(2027, 4, 1), dt.date(2027, 6, 30)),
        (dt.date(2027, 7, 1), dt.date(2027, 9, 30)),
    ]
    assert [_lines(i) for i in invoices] == [
        [(i.period_start, i.period_end, Decimal("90.00"))] for i in invoices
    ]  # whole quarters: the plan price, never prorated
    for invoice in invoices:
        _check_invoice_adds_up(invoice)
    sub.refresh_from_db()
    assert sub.billed_until == dt.date(2027, 9, 30)


def test_a_customer_with_monthly_and_quarterly_plans_gets_the_quarterly_line_once_a_quarter():
    customer = CustomerFactory()
    monthly = _start(customer, _plan(Decimal("31.00")), on=JANUARY)
    quarterly = _start(customer, _plan(Decimal("90.00"), BillingPeriod.QUARTERLY), on=JANUARY)

    assert _run_months(JANUARY, 4) == [1, 1, 1, 1]

    invoices = _invoices(customer)
    assert [list(i.lines.values_list("subscription", flat=True)) for i in invoices] == [
        [monthly.pk, quarterly.pk],
        [monthly.pk],
        [monthly.pk],
        [monthly.pk, quarterly.pk],
    ]
    # The invoice's period reaches the end of the quarter it bills ahead.
    assert [i.period_end for i in invoices] == [
        dt.date(2027, 3, 31),
        dt.date(2027, 2, 28),
        dt.date(2027, 3, 31),
        dt.date(2027, 6, 30),
    ]


def test_quarters_start_with_the_month_first_billed_not_on_calendar_quarters():
    customer = CustomerFactory()
    _start(customer, _plan(Decimal("89.00"), BillingPeriod.QUARTERLY), on=dt.date(2027, 2, 10))

    assert _run_months(dt.date(2027, 2, 1), 4) == [1, 0, 0, 1]

    february, may = _invoices(customer)
    # February to April 2027 is 28 + 31 + 30 = 89 days, of which 10 February on is 80.
    assert (february.period_start, february.period_end) == (dt.date(2027, 2, 1), dt.date(2027, 4, 30))
    assert _lines(february) == [(dt.date(2027, 2, 10), dt.date(2027, 4, 30), Decimal("80.00"))]
    assert february.lines.get().description.endswith("(prorated)")
    assert _lines(may) == [(dt.date(2027, 5, 1), dt.date(2027, 7, 31), Decimal("89.00"))]


@PROPERTY
@given(price=PRICES, start=DATES, period=st.sampled_from([BillingPeriod.QUARTERLY, BillingPeriod.ANNUAL]))
def test_a_quarterly_or_annual_plan_started_mid_period_is_prorated_over_its_actual_days(price, start, period):
    months = period.months
    first, last = _first_of(start), _last_of(start, months - 1)
    with _rolled_back():
        customer = CustomerFactory()
        sub = _start(customer, _plan(price, period), on=start)

        assert run_billing(first, actor=System("tests")).created == 1
        invoice = _invoice(customer, first)
        [line] = invoice.lines.all()
        assert (line.period_start, line.period_end) == (start, last)
        assert line.net == _daily(price, _days(start, last), _days(first, last))
        assert Decimal(0) <= line.net <= price
        assert (invoice.period_start, invoice.period_end) == (first, last)
        _check_invoice_adds_up(invoice)
        # The next period is billed in full on its first month's run, and only then.
        next_first = _first_of(first, months)
        assert run_billing(_first_of(first, 1), actor=System("tests")).created == 0
        assert run_billing(_first_of(first, months - 1), actor=System("tests")).created == 0
        assert run_billing(next_first, actor=System("tests")).created == 1
        assert _lines(_invoice(customer, next_first)) == [(next_first, _last_of(next_first, months - 1), price)]
        sub.refresh_from_db()
        assert sub.billed_until == _last_of(next_first, months - 1)


def test_an_annual_plan_is_invoiced_once_a_year_over_a_leap_day():
    customer = CustomerFactory()
    _start(customer, _plan(Decimal("366.00"), BillingPeriod.ANNUAL), on=dt.date(2027, 3, 1))

    created = _run_months(dt.date(2027, 3, 1), 13)  # March 2027 to March 2028

    assert created == [1] + [0] * 11 + [1]
    first, second = _invoices(customer)
    assert (first.period_start, first.period_end) == (dt.date(2027, 3, 1), dt.date(2028, 2, 29))
    assert _lines(first) == [(dt.date(2027, 3, 1), dt.date(2028, 2, 29), Decimal("366.00"))]
    assert (second.period_start, second.period_end) == (dt.date(2028, 3, 1), dt.date(2029, 2, 28))
    assert _lines(second) == [(dt.date(2028, 3, 1), dt.date(2029, 2, 28), Decimal("366.00"))]
    _check_invoice_adds_up(first)


def test_an_annual_plan_started_mid_month_is_prorated_over_the_366_days_of_its_year():
    customer = CustomerFactory()
    _start(customer, _plan(Decimal("366.00"), BillingPeriod.ANNUAL), on=dt.date(2027, 3, 15))

    run_billing(dt.date(2027, 3, 1), actor=System("tests"))

    # 15 March 2027 to 29 February 2028: 352 of the year's 366 days, at £1.00 a day.
    assert _lines(_invoice(customer, dt.date(2027, 3, 1))) == [
        (dt.date(2027, 3, 15), dt.date(2028, 2, 29), Decimal("352.00"))
    ]


def test_a_quarterly_plan_started_after_the_run_is_caught_up_at_its_monthly_price():
    customer = CustomerFactory()
    _start(customer, _plan(Decimal("31.00")), on=JANUARY)  # invoiced for January
    run_billing(JANUARY, actor=System("tests"))
    quarterly = _start(customer, _plan(Decimal("93.00"), BillingPeriod.QUARTERLY), on=dt.date(2027, 1, 20))

    run_billing(dt.date(2027, 2, 1), actor=System("tests"))

    february = _invoice(customer, dt.date(2027, 2, 1))
    # 20 to 31 January: 12 of January's 31 days at the monthly £31.00 (£93.00 a quarter);
    # then the quarter February to April.
    assert list(february.lines.filter(subscription=quarterly).values_list("period_start", "period_end", "net")) == [
        (dt.date(2027, 1, 20), dt.date(2027, 1, 31), Decimal("12.00")),
        (dt.date(2027, 2, 1), dt.date(2027, 4, 30), Decimal("93.00")),
    ]
    assert february.period_end == dt.date(2027, 4, 30)
    assert _run_months(dt.date(2027, 3, 1), 3) == [1, 1, 1]  # the monthly plan only, then the quarter
    assert _invoice(customer, dt.date(2027, 5, 1)).lines.filter(subscription=quarterly).count() == 1


@PROPERTY
@given(
    price=PRICES,
    start=DATES,
    last_day_offset=st.integers(min_value=0, max_value=365),
    period=st.sampled_from([BillingPeriod.QUARTERLY, BillingPeriod.ANNUAL]),
    ended_before_run=st.booleans(),
)
def test_ending_a_quarterly_or_annual_plan_bills_only_the_days_it_ran(
    price, start, last_day_offset, period, ended_before_run
):
    """Ended before the run: one line prorated over the days it ran, no credit note. Ended
    after the run: a credit note for the unused days on the period's invoice; tolerance one
    penny, since the invoice line is rounded once and the credit once (from the rounded
    line), half a penny each."""
    first = _first_of(start)
    last = _last_of(first, period.months - 1)
    end = min(start + dt.timedelta(days=last_day_offset), last)
    exact = Fraction(price) * _days(start, end) / _days(first, last)
    with _rolled_back():
        customer = CustomerFactory()
        sub = _start(customer, _plan(price, period), on=start)
        if ended_before_run:
            assert end_subscription(sub, last_day=end, actor=System("tests")) == []
            run_billing(first, actor=System("tests"))
            invoice = _invoice(customer, first)
            assert _lines(invoice) == [(start, end, _pennies(exact))]
            assert (invoice.period_start, invoice.period_end) == (first, last)
            _check_invoice_adds_up(invoice)
            notes = []
        else:
            run_billing(first, actor=System("tests"))
            invoice = _invoice(customer, first)
            notes = end_subscription(sub, last_day=end, actor=System("tests"))

        assert len(notes) <= 1
        assert (end == last) <= (notes == [])  # nothing unused, nothing credited
        for note in notes:
            assert note.corrects == invoice
            [(credit_from, credit_to, amount)] = _lines(note)
            assert (credit_from, credit_to) == (end + dt.timedelta(days=1), last)
            assert amount > 0
            _check_invoice_adds_up(note)
        kept = invoice.total_net - sum((n.total_net for n in notes), Decimal(0))
        assert abs(Fraction(kept) - exact) <= 2 * HALF_PENNY, (kept, float(exact))
        assert Decimal(0) <= kept <= price
        # Nothing more is billed for it: not in the other months, nor in the next period.
        assert run_billing(_first_of(first, 1), actor=System("tests")).created == 0
        assert run_billing(_first_of(first, period.months), actor=System("tests")).created == 0
        sub.refresh_from_db()
        assert sub.ended_on == end


# -- 5. reruns ----------------------------------------------------------------------------------------


def test_rerunning_a_billing_date_creates_no_extra_invoice_for_quarterly_or_annual_plans():
    quarterly_customer, annual_customer = CustomerFactory(), CustomerFactory()
    quarterly = _start(quarterly_customer, _plan(Decimal("90.00"), BillingPeriod.QUARTERLY), on=dt.date(2027, 1, 5))
    annual = _start(annual_customer, _plan(Decimal("365.00"), BillingPeriod.ANNUAL), on=JANUARY)

    assert run_billing(JANUARY, actor=System("tests")).created == 2
    before = sorted(Invoice.objects.values_list("pk", "number", "total_gross"))
    assert (
        run_billing(JANUARY, actor=System("tests")).created,
        run_billing(JANUARY, actor=System("tests")).created,
    ) == (0, 0)
    assert run_billing(JANUARY, customer=quarterly_customer, actor=System("tests")).created == 0
    for month in (dt.date(2027, 2, 1), dt.date(2027, 3, 1)):  # inside the quarter and the year
        assert (
            run_billing(month, actor=System("tests")).created,
            run_billing(month, actor=System("tests")).created,
        ) == (0, 0)

    assert sorted(Invoice.objects.values_list("pk", "number", "total_gross")) == before
    assert [len(_invoices(c)) for c in (quarterly_customer, annual_customer)] == [1, 1]
    quarterly.refresh_from_db()
    annual.refresh_from_db()
    assert (quarterly.billed_until, annual.billed_until) == (dt.date(2027, 3, 31), dt.date(2027, 12, 31))

    april = dt.date(2027, 4, 1)
    assert (run_billing(april, actor=System("tests")).created, run_billing(april, actor=System("tests")).created) == (
        1,
        0,
    )
    assert [i.period_start for i in _invoices(quarterly_customer)] == [JANUARY, april]
    assert len(_invoices(annual_customer)) == 1


# -- plan changes between periods of any length ----------------------------------------------------

WORTH_CREDITING = st.decimals(min_value=Decimal("10.00"), max_value=Decimal("10000.00"), places=2)


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    old_price=WORTH_CREDITING,
    new_price=WORTH_CREDITING,
    old_period=st.sampled_from(list(BillingPeriod)),
    new_period=st.sampled_from(list(BillingPeriod)),
    start=DATES,
    change_after=st.integers(min_value=1, max_value=200),
    started_after_run=st.booleans(),
    changed_after_run=st.booleans(),
)
def test_across_a_plan_change_of_any_periods_every_day_is_billed_once(
    old_price, new_price, old_period, new_period, start, change_after, started_after_run, changed_after_run
):
    """Monthly, quarterly or annual to any of them, started and changed before or after a
    month's run, with every monthly run for a year after the change: what is invoiced less
    what is credited covers each day from the start once, with no gap and no day twice.
    Prices from £10.00, so that one unused day of a year is worth crediting (at least
    £10.00 / 366, over half a penny): a smaller credit is rightly not issued."""
    change_on = start + dt.timedelta(days=change_after)
    first_month, change_month = _first_of(start), _first_of(change_on)
    if change_month == first_month and started_after_run:
        changed_after_run = True  # it cannot change before it starts
    with _rolled_back():
        customer = CustomerFactory()
        sub = None
        month = first_month
        while month <= _first_of(change_month, 13):
            if month == first_month and not started_after_run:
                sub = _start(customer, _plan(old_price, old_period), on=start)
            if month == change_month and not changed_after_run:
                new = change_plan(sub, _plan(new_price, new_period), on=change_on, actor=System("tests"))
            run_billing(month, actor=System("tests"))
            if month == first_month and started_after_run:
                sub = _start(customer, _plan(old_price, old_period), on=start)
            if month == change_month and changed_after_run:
                new = change_plan(sub, _plan(new_price, new_period), on=change_on, actor=System("tests"))
            month = _first_of(month, 1)

        billed = InvoiceLine.objects.filter(invoice__customer=customer, invoice__kind=Invoice.Kind.INVOICE)
        credited = InvoiceLine.objects.filter(invoice__customer=customer, invoice__kind=Invoice.Kind.CREDIT_NOTE)
        billed_days, credited_days = Counter(), Counter()
        for line in billed:
            billed_days += _day_set(line.period_start, line.period_end)
        for line in credited:
            credited_days += _day_set(line.period_start, line.period_end)
        assert not credited_days - billed_days  # only days billed are credited
        kept = billed_days - credited_days
        assert max(kept.values()) == 1, sorted(day for day, n in kept.items() if n > 1)[:3]
        assert kept == _day_set(start, max(kept))  # no gap from the start to the last day billed
        assert max(kept) >= month - dt.timedelta(days=1)  # billed up to the last run's month
        # The old plan keeps the days before the change, the new plan has the days from it.
        old_days = Counter()
        for line in billed.filter(subscription=sub):
            old_days += _day_set(line.period_start, line.period_end)
        assert all(day < change_on for day in old_days - credited_days)
        assert all(line.period_start >= change_on for line in billed.filter(subscription=new))
        assert (sub.plan.price, new.plan.price) == (old_price, new_price)
        for document in _invoices(customer) + _invoices(customer, Invoice.Kind.CREDIT_NOTE):
            _check_invoice_adds_up(document)


# -- a start dated before last month's run -----------------------------------------------------------


def test_a_start_dated_before_last_months_run_is_refused_for_a_customer_it_billed_nothing():
    customer = CustomerFactory()
    _start(customer, _plan(Decimal("90.00"), BillingPeriod.QUARTERLY), on=JANUARY)
    run_billing(JANUARY, actor=System("tests"))  # the quarter January to March
    run_billing(dt.date(2027, 2, 1), actor=System("tests"))  # nothing due for this customer in February
    # In February, after its run, staff add a service that has been running since 15 January:
    # the run catches up one month only, so 15 to 31 January would never be billed.
    with pytest.raises(SubscriptionError, match="billed for a period after January 2027"):
        _start(customer, _plan(Decimal("31.00")), on=dt.date(2027, 1, 15))

    sub = _start(customer, _plan(Decimal("31.00")), on=dt.date(2027, 2, 10))  # within the catch-up: fine
    run_billing(dt.date(2027, 3, 1), actor=System("tests"))
    billed = Counter()
    for line in InvoiceLine.objects.filter(subscription=sub, invoice__kind=Invoice.Kind.INVOICE):
        billed += _day_set(line.period_start, line.period_end)
    assert billed == _day_set(dt.date(2027, 2, 10), dt.date(2027, 3, 31))
