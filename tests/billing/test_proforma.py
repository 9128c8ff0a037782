"""Pro-forma mode: payment requests first, the VAT invoice on payment (VAT reg 90, HMRC VATTOS9165)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import BytesIO
from unittest import mock

import pytest
from pypdf import PdfReader

from accounts.audit import System
from billing.delivery.pdf import render_invoice_pdf
from billing.models import Invoice, PaymentAllocation
from billing.receivables.payments import account_balance, balance_of, unallocated_credit
from billing.receivables.statements import statement
from billing.workflows.proforma import ProFormaError, issue_vat_invoice_for_paid_request
from billing.workflows.run import run_billing
from billing.workflows.settlement import receive_payment
from tests.accounts.factories import CustomerFactory, ProviderDetailsFactory, ServiceFactory
from tests.billing.factories import BillingSettingsFactory, PlanFactory, SubscriptionFactory, issued_invoice

pytestmark = pytest.mark.django_db

MAY = dt.date(2026, 5, 1)
PAID_ON = dt.date(2026, 5, 9)


_clock = {"today": MAY}


@pytest.fixture(autouse=True)
def _run_on_the_first_of_may():
    """The billing run issues on 1 May 2026; a payment arrives later, and the clock moves on
    to its day (a payment is never recorded ahead of its date)."""
    _clock["today"] = MAY
    with mock.patch("billing.workflows.run.timezone.localdate", side_effect=lambda *args: _clock["today"]):
        yield


def _provider(pro_forma_mode=True):
    BillingSettingsFactory(pro_forma_mode=pro_forma_mode)
    return ProviderDetailsFactory()


def _subscribed(**plan_fields):
    customer = CustomerFactory()
    SubscriptionFactory(service=ServiceFactory(customer=customer), plan=PlanFactory(**plan_fields))
    return customer


def _request_for(customer) -> Invoice:
    return Invoice.objects.get(customer=customer, kind=Invoice.Kind.PRO_FORMA)


def _pay(customer, amount, on=PAID_ON, **kwargs):
    _clock["today"] = max(_clock["today"], on)
    kwargs.setdefault("actor", System("tests"))
    return receive_payment(customer, amount=amount, received_on=on, method="bank_transfer", **kwargs)


def test_run_in_pro_forma_mode_issues_payment_requests_without_tax_point():
    _provider()
    customer = _subscribed(setup_fee=Decimal("5.00"))

    run = run_billing(MAY, actor=System("tests"))

    assert run.created == 1
    request = _request_for(customer)
    assert request.number.startswith("PR-")
    assert request.tax_point is None  # HMRC VATTOS9165: creates no tax point
    assert request.status == Invoice.Status.ISSUED
    assert request.period_start == MAY
    assert request.total_gross == Decimal("18.00")  # (10 + 5 setup) + 20% VAT
    assert not Invoice.objects.filter(customer=customer, kind=Invoice.Kind.INVOICE).exists()
    # A payment request is not a debt in the accounts.
    assert account_balance(customer) == Decimal("0.00")


def test_rerunning_in_pro_forma_mode_creates_nothing_twice():
    _provider()
    customer = _subscribed()
    run_billing(MAY, actor=System("tests"))
    again = run_billing(MAY, actor=System("tests"))
    assert again.created == 0
    assert Invoice.objects.filter(customer=customer).count() == 1


def test_paying_the_request_in_full_issues_exactly_one_vat_invoice():
    _provider()
    customer = _subscribed()
    run_billing(MAY, actor=System("tests"))
    request = _request_for(customer)

    payment = _pay(customer, "12.00", allocate_to=[(request, "12.00")])

    invoice = Invoice.objects.get(customer=customer, kind=Invoice.Kind.INVOICE)
    assert invoice.number.startswith("INV-")
    assert invoice.tax_point == PAID_ON  # reg 90: payment came first
    assert invoice.corrects is None
    assert invoice.period_start == request.period_start
    assert (invoice.total_net, invoice.total_vat, invoice.total_gross) == (
        request.total_net,
        request.total_vat,
        request.total_gross,
    )
    request_lines = list(request.lines.values_list("description", "quantity", "unit_price", "vat_rate", "net"))
    invoice_lines = list(invoice.lines.values_list("description", "quantity", "unit_price", "vat_rate", "net"))
    assert invoice_lines[:-1] == request_lines
    assert invoice_lines[-1][0] == f"Payment request {request.number} paid on 9 May 2026"
    assert invoice_lines[-1][4] == Decimal("0.00")
    # The allocation moved to the VAT invoice: it is paid, the request is paid, nothing is due twice.
    request.refresh_from_db()
    assert request.status == Invoice.Status.PAID and balance_of(request) == 0
    assert invoice.status == Invoice.Status.PAID and balance_of(invoice) == 0
    assert list(PaymentAllocation.objects.filter(payment=payment).values_list("invoice_id", flat=True)) == [invoice.pk]
    assert account_balance(customer) == Decimal("0.00")
    assert unallocated_credit(customer) == Decimal("0.00")
    entries = statement(customer, MAY, dt.date(2026, 5, 31)).entries
    assert [e.kind for e in entries] == ["invoice", "payment"]


def test_part_payments_issue_the_vat_invoice_when_the_request_is_settled():
    _provider()
    customer = _subscribed()
    run_billing(MAY, actor=System("tests"))
    request = _request_for(customer)

    _pay(customer, "5.00", on=dt.date(2026, 5, 3))  # allocated automatically, oldest first
    request.refresh_from_db()
    assert request.status == Invoice.Status.PART_PAID
    assert not Invoice.objects.filter(customer=customer, kind=Invoice.Kind.INVOICE).exists()

    _pay(customer, "7.00", on=dt.date(2026, 5, 12))
    invoice = Invoice.objects.get(customer=customer, kind=Invoice.Kind.INVOICE)
    assert invoice.tax_point == dt.date(2026, 5, 12)  # the payment that settled the request
    assert invoice.status == Invoice.Status.PAID
    assert PaymentAllocation.objects.filter(invoice=invoice).count() == 2
    assert account_balance(customer) == Decimal("0.00")


def test_paying_again_or_calling_again_issues_no_second_vat_invoice():
    _provider()
    customer = _subscribed()
    run_billing(MAY, actor=System("tests"))
    request = _request_for(customer)
    _pay(customer, "12.00")
    first = Invoice.objects.get(customer=customer, kind=Invoice.Kind.INVOICE)

    _pay(customer, "12.00")  # paid twice: the second stays as account credit
    again = issue_vat_invoice_for_paid_request(request, paid_on=dt.date(2026, 6, 1), actor=System("tests"))

    assert again.pk == first.pk
    assert Invoice.objects.filter(customer=customer, kind=Invoice.Kind.INVOICE).count() == 1
    assert unallocated_credit(customer) == Decimal("12.00")
    assert account_balance(customer) == Decimal("-12.00")


def test_an_unpaid_request_gets_no_vat_invoice():
    _provider()
    customer = _subscribed()
    run_billing(MAY, actor=System("tests"))
    with pytest.raises(ProFormaError, match="not paid in full"):
        issue_vat_invoice_for_paid_request(_request_for(customer), paid_on=PAID_ON, actor=System("tests"))


def test_account_credit_pays_the_next_request_in_the_run():
    _provider()
    customer = _subscribed()
    _pay(customer, "20.00", on=dt.date(2026, 4, 20))  # paid ahead: credit on the account

    run_billing(MAY, actor=System("tests"))

    request = _request_for(customer)
    invoice = Invoice.objects.get(customer=customer, kind=Invoice.Kind.INVOICE)
    assert request.status == Invoice.Status.PAID
    assert invoice.tax_point == request.issued_on  # never before the request it settles
    assert unallocated_credit(customer) == Decimal("8.00")
    assert account_balance(customer) == Decimal("-8.00")


def test_with_the_mode_off_the_run_issues_vat_invoices_as_before():
    _provider(pro_forma_mode=False)
    customer = _subscribed()
    run_billing(MAY, actor=System("tests"))
    invoice = Invoice.objects.get(customer=customer)
    assert invoice.kind == Invoice.Kind.INVOICE and invoice.number.startswith("INV-")
    assert invoice.tax_point == invoice.issued_on
    _pay(customer, "12.00")
    assert Invoice.objects.filter(customer=customer).count() == 1
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID


def test_paying_an_ordinary_invoice_is_unchanged():
    _provider()  # the mode only changes what the run issues
    invoice = issued_invoice(issued_on=MAY)
    _pay(invoice.customer, "12.00", allocate_to=[(invoice, "12.00")])
    assert Invoice.objects.filter(customer=invoice.customer).count() == 1


def _pdf_text(invoice) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(BytesIO(render_invoice_pdf(invoice))).pages)


def test_request_pdf_says_it_is_not_a_vat_invoice_and_the_vat_invoice_refers_to_it():
    _provider()
    customer = _subscribed()
    run_billing(MAY, actor=System("tests"))
    request = _request_for(customer)

    text = _pdf_text(request)
    assert "This is not a VAT invoice" in text
    assert "Tax point" not in text

    _pay(customer, "12.00")
    invoice_text = _pdf_text(Invoice.objects.get(customer=customer, kind=Invoice.Kind.INVOICE))
    assert "This is not a VAT invoice" not in invoice_text
    assert f"Payment request {request.number} paid on 9 May 2026" in invoice_text


def test_a_second_concurrent_run_finds_the_request_and_creates_nothing():
    """What a run that lost the race sees, under the customer's lock: a request for the
    customer and period exists, so its own (not yet saved) document stays unsaved."""
    from billing.models import BillingSettings
    from billing.workflows.proforma import use_payment_request_if_pro_forma_mode

    _provider()
    customer = _subscribed()
    run_billing(MAY, actor=System("tests"))
    late = Invoice(customer=customer, kind=Invoice.Kind.INVOICE, period_start=MAY, currency="GBP")
    assert use_payment_request_if_pro_forma_mode(late, BillingSettings.current()) is False
    assert late.pk is None and late.kind == Invoice.Kind.INVOICE
    assert Invoice.objects.filter(customer=customer).count() == 1


# ---------------------------------------------------------------------------------------
# Cancelling a payment request
# ---------------------------------------------------------------------------------------


def test_a_part_paid_request_cancelled_gives_the_money_back_as_credit_and_tells_the_customer():
    from accounts import roles
    from accounts.correspondence.models import Message
    from billing.workflows.proforma import cancel_payment_request
    from tests.accounts.factories import MembershipFactory

    _provider()
    customer = _subscribed(price=Decimal("50.00"))
    MembershipFactory(customer=customer, role=roles.Role.BILLING)
    run_billing(MAY, actor=System("tests"))
    request = _request_for(customer)
    _pay(customer, "20.00")

    cancel_payment_request(request, reason="Service ordered in error", actor=System("tests"))

    request.refresh_from_db()
    assert request.status == Invoice.Status.CANCELLED and request.number
    assert balance_of(request) == Decimal("0")  # nothing asked for on it any more
    assert unallocated_credit(customer) == Decimal("20.00")
    assert account_balance(customer) == Decimal("-20.00")
    assert not Invoice.objects.filter(customer=customer, kind=Invoice.Kind.INVOICE).exists()
    mail = Message.objects.get(idempotency_key=f"payment-request-cancelled:{request.pk}")
    assert mail.kind == "billing" and request.number in mail.subject
    assert "Service ordered in error" in mail.body_text and "£20.00" in mail.body_text

    with pytest.raises(ProFormaError, match="only an unpaid request can be cancelled"):
        cancel_payment_request(request, reason="again", actor=System("tests"))

    # What it billed is due again: a new request for the month, the credit spent on it.
    assert run_billing(MAY, customer=customer, actor=System("tests")).created == 1
    again = Invoice.objects.get(customer=customer, kind=Invoice.Kind.PRO_FORMA, status=Invoice.Status.PART_PAID)
    assert again.period_start == MAY and again.number != request.number
    assert balance_of(again) == Decimal("40.00") and unallocated_credit(customer) == 0


def test_a_vat_invoice_is_not_cancelled_as_a_request():
    from billing.workflows.proforma import cancel_payment_request

    _provider(pro_forma_mode=False)
    invoice = issued_invoice()
    with pytest.raises(ProFormaError, match="cancelled by a credit note"):
        cancel_payment_request(invoice, reason="x", actor=System("tests"))
    with pytest.raises(ProFormaError, match="Give the reason"):
        cancel_payment_request(invoice, reason="  ", actor=System("tests"))
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.ISSUED


def test_ending_a_service_billed_on_an_unpaid_request_works_once_it_is_cancelled(billing_staff_client):
    from django.urls import reverse

    from billing.models import Subscription
    from billing.workflows.subscriptions import SubscriptionError, end_subscription

    _provider()
    customer = _subscribed()
    run_billing(MAY, actor=System("tests"))
    request = _request_for(customer)
    subscription = Subscription.objects.get(service__customer=customer)
    with pytest.raises(SubscriptionError, match="cancel the request first"):
        end_subscription(subscription, last_day=dt.date(2026, 5, 10), actor=System("tests"))

    changelist = reverse("admin:billing_invoice_changelist")
    chosen = {"action": "cancel_payment_requests", "_selected_action": [request.pk]}
    asked = billing_staff_client.post(changelist, chosen)
    assert asked.status_code == 200 and "Cancel payment requests" in asked.content.decode()
    done = billing_staff_client.post(changelist, {**chosen, "apply": "1", "reason": "Customer left"}, follow=True)

    assert f"{request.number} cancelled" in done.content.decode()
    request.refresh_from_db()
    assert request.status == Invoice.Status.CANCELLED
    assert end_subscription(subscription, last_day=dt.date(2026, 5, 10), actor=System("tests")) == []
    subscription.refresh_from_db()
    assert subscription.ended_on == dt.date(2026, 5, 10)
    # Staff bill the days served: a corrected request for 1 to 10 May.
    run_billing(MAY, customer=customer, actor=System("tests"))
    corrected = Invoice.objects.get(customer=customer, kind=Invoice.Kind.PRO_FORMA, status=Invoice.Status.ISSUED)
    [line] = corrected.lines.all()
    assert (line.period_start, line.period_end) == (MAY, dt.date(2026, 5, 10))
    assert line.net == Decimal("3.23")  # £10.00 × 10 / 31 days
    assert run_billing(dt.date(2026, 6, 1), actor=System("tests")).created == 0  # and nothing after the end


def test_a_request_billed_over_by_a_later_one_is_not_cancelled_first():
    from billing.workflows.proforma import cancel_payment_request

    _provider()
    customer = _subscribed()
    run_billing(MAY, actor=System("tests"))
    with mock.patch("billing.workflows.run.timezone.localdate", return_value=dt.date(2026, 6, 1)):
        run_billing(dt.date(2026, 6, 1), actor=System("tests"))
    may = Invoice.objects.get(customer=customer, kind=Invoice.Kind.PRO_FORMA, period_start=MAY)

    with pytest.raises(ProFormaError, match="billed beyond PR-2026-000001 on a later document"):
        cancel_payment_request(may, reason="Wrong price", actor=System("tests"))
    may.refresh_from_db()
    assert may.status == Invoice.Status.ISSUED


def test_a_euro_request_paid_next_month_gets_its_vat_invoice_at_that_months_rate():
    from billing.models import ExchangeRate

    _provider()
    customer = CustomerFactory(country="GB", currency="EUR")
    SubscriptionFactory(service=ServiceFactory(customer=customer), plan=PlanFactory(currency="EUR", price="100.00"))
    ExchangeRate.objects.create(currency="EUR", valid_from=MAY, units_per_gbp=Decimal("1.25"), source="HMRC May 2026")
    ExchangeRate.objects.create(
        currency="EUR", valid_from=dt.date(2026, 6, 1), units_per_gbp=Decimal("1.20"), source="HMRC June 2026"
    )
    run_billing(MAY, actor=System("tests"))
    request = _request_for(customer)
    assert request.gbp_rate_source == "HMRC May 2026"

    _pay(customer, "120.00", on=dt.date(2026, 6, 3), currency="EUR")

    invoice = Invoice.objects.get(customer=customer, kind=Invoice.Kind.INVOICE)
    assert invoice.tax_point == dt.date(2026, 6, 3)
    assert (invoice.gbp_rate_source, invoice.gbp_rate_date) == ("HMRC June 2026", dt.date(2026, 6, 1))
    assert (invoice.total_net_gbp, invoice.total_vat_gbp) == (Decimal("83.33"), Decimal("16.66"))


def test_a_payment_dated_after_today_is_refused_so_no_vat_invoice_is_dated_in_the_future():
    """A payment is recorded when the money has arrived. Recorded ahead of its date, it would
    date the VAT invoice of the request it pays (and its tax point) in the future."""
    from django.core.exceptions import ValidationError

    _provider()
    customer = _subscribed(price=Decimal("30.00"), setup_fee=0)
    run_billing(MAY, actor=System("tests"))
    request = _request_for(customer)
    today = _clock["today"] = dt.date(2026, 5, 20)
    tomorrow = today + dt.timedelta(days=1)

    with pytest.raises(ValidationError, match=r"cannot be dated after today .* record it on the day the money arrives"):
        receive_payment(
            customer, amount=request.total_gross, received_on=tomorrow, method="bank_transfer", actor=System("tests")
        )

    request.refresh_from_db()
    assert request.status == Invoice.Status.ISSUED
    assert not Invoice.objects.filter(settles=request).exists()
    _pay(customer, request.total_gross, on=today)
    vat_invoice = Invoice.objects.get(settles=request)
    assert (vat_invoice.issued_on, vat_invoice.tax_point) == (today, today)


def test_staff_cannot_record_a_payment_dated_after_today(billing_staff_client):
    from django.urls import reverse

    from billing.models import Payment

    _provider()
    customer = CustomerFactory()
    tomorrow = MAY + dt.timedelta(days=1)
    response = billing_staff_client.post(
        reverse("admin:billing_payment_add"),
        {"customer": customer.pk, "method": "bank_transfer", "amount": "10.00", "received_on": tomorrow.isoformat()},
    )
    assert response.status_code == 200
    assert "A payment cannot be dated after today" in response.content.decode()
    assert not Payment.objects.exists()
