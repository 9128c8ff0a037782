"""Currency per customer, and sterling totals at a stored rate where UK VAT is due on another currency."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from accounts.audit import System
from billing.models import BillingRun, ExchangeRate, Invoice
from billing.workflows.run import run_billing
from tests.accounts.factories import CustomerFactory, ServiceFactory
from tests.billing.factories import PlanFactory, SubscriptionFactory, configured_provider

pytestmark = pytest.mark.django_db

DECEMBER = dt.date(2026, 12, 1)


@pytest.fixture(autouse=True)
def _provider():
    configured_provider()


def _subscribed(customer, currency="EUR", price="100.00"):
    plan = PlanFactory(currency=currency, price=Decimal(price))
    SubscriptionFactory(service=ServiceFactory(customer=customer), plan=plan, started_on=dt.date(2026, 1, 1))
    return customer


def test_a_uk_customer_billed_in_euros_gets_sterling_totals_at_the_stored_rate():
    customer = _subscribed(CustomerFactory(country="GB", currency="EUR"))
    ExchangeRate.objects.create(
        currency="EUR", valid_from=dt.date(2026, 1, 1), units_per_gbp=Decimal("1.25"), source="HMRC January 2026"
    )
    ExchangeRate.objects.create(
        currency="EUR", valid_from=DECEMBER, units_per_gbp=Decimal("1.1534"), source="HMRC monthly rate December 2026"
    )

    run_billing(DECEMBER, actor=System("tests"))

    invoice = Invoice.objects.get(customer=customer)
    assert invoice.currency == "EUR" and invoice.status == Invoice.Status.ISSUED
    assert (invoice.gbp_rate, invoice.gbp_rate_source, invoice.gbp_rate_date) == (
        Decimal("0.867002"),
        "HMRC monthly rate December 2026",
        DECEMBER,
    )
    assert (invoice.total_net, invoice.total_vat) == (Decimal("100.00"), Decimal("20.00"))
    assert (invoice.total_net_gbp, invoice.total_vat_gbp) == (Decimal("86.70"), Decimal("17.34"))


def test_without_a_rate_the_run_names_what_to_add_and_invoices_nobody_wrongly():
    customer = _subscribed(CustomerFactory(country="GB", currency="EUR"))

    run = run_billing(DECEMBER, actor=System("tests"))

    assert run.status == BillingRun.Status.FAILED
    assert "Exchange rates for EUR" in run.error
    assert not Invoice.objects.filter(customer=customer).exclude(status=Invoice.Status.DRAFT).exists()


def test_an_overseas_business_billed_in_euros_needs_no_sterling_totals():
    business = CustomerFactory(country="DE", vat_number="DE136695976", postcode="10115", town="Berlin", currency="EUR")
    _subscribed(business)

    run_billing(DECEMBER, actor=System("tests"))

    invoice = Invoice.objects.get(customer=business)
    assert (invoice.currency, invoice.vat_rule, invoice.total_vat) == ("EUR", "reverse_charge", Decimal("0.00"))
    assert invoice.total_net_gbp is None


def test_a_plan_in_another_currency_is_refused_naming_it():
    customer = _subscribed(CustomerFactory(country="GB"), currency="USD")
    plan = customer.services.get().subscriptions.get().plan

    run = run_billing(DECEMBER, actor=System("tests"))

    assert f"{customer} is billed in GBP but {plan} is priced in another currency" in run.error
    assert not Invoice.objects.filter(customer=customer).exists()


def test_customer_currency_must_be_an_iso_code():
    customer = CustomerFactory(currency="ZZZ")
    with pytest.raises(ValidationError, match="not an ISO 4217 currency code"):
        customer.full_clean()


def test_a_euro_customer_sees_balances_in_euros(client):
    from django.urls import reverse

    from accounts import roles
    from billing.workflows.settlement import receive_payment
    from tests.accounts.factories import MembershipFactory

    business = CustomerFactory(country="DE", vat_number="DE136695976", postcode="10115", town="Berlin", currency="EUR")
    _subscribed(business, price="1000.00")
    run_billing(DECEMBER, actor=System("tests"))
    receive_payment(
        business, amount="250.00", received_on=DECEMBER, method="bank_transfer", currency="EUR", actor=System("tests")
    )
    client.force_login(MembershipFactory(customer=business, role=roles.Role.OWNER).user)

    dashboard = client.get(reverse("portal:dashboard")).content.decode()
    page = client.get(reverse("billing:statement"), {"start": "2026-12-01", "end": "2026-12-31"}).content.decode()

    assert "€750.00" in dashboard
    assert "€1,000.00" in page and "€250.00" in page and "£" not in page.split("<main")[-1]


def test_an_account_billed_in_euros_stays_in_euros():
    customer = CustomerFactory(country="DE", vat_number="DE136695976", postcode="10115", town="Berlin", currency="EUR")
    unbilled = CustomerFactory(currency="EUR")
    _subscribed(customer)
    run_billing(DECEMBER, actor=System("tests"))

    customer.currency = "GBP"
    with pytest.raises(ValidationError, match="already has invoices or payments in another currency"):
        customer.full_clean()
    unbilled.currency = "GBP"
    unbilled.full_clean()  # nothing billed yet: free to change


def test_a_payment_in_another_currency_than_the_account_is_refused():
    from billing.models import Payment
    from billing.workflows.settlement import receive_payment

    customer = CustomerFactory(currency="EUR")

    with pytest.raises(ValidationError, match="account is in EUR, not GBP"):
        receive_payment(
            customer,
            amount="10.00",
            received_on=DECEMBER,
            method="bank_transfer",
            currency="GBP",
            actor=System("tests"),
        )
    assert not Payment.objects.exists()
    payment = receive_payment(
        customer, amount="10.00", received_on=DECEMBER, method="bank_transfer", actor=System("tests")
    )
    assert payment.currency == "EUR"


def test_staff_record_a_payment_in_the_customers_currency_without_choosing_it(billing_staff_client):
    from django.urls import reverse

    from billing.models import Payment

    customer = CustomerFactory(currency="EUR")
    add = reverse("admin:billing_payment_add")
    data = {"customer": customer.pk, "method": "bank_transfer", "received_on": "2026-12-02", "reference": "SEPA 9"}

    refused = billing_staff_client.post(add, {**data, "amount": "0"})
    assert refused.status_code == 200
    assert "A payment must be more than zero" in refused.content.decode()

    done = billing_staff_client.post(add, {**data, "amount": "40.00"})
    assert done.status_code == 302
    payment = Payment.objects.get()
    assert (payment.amount, payment.currency) == (Decimal("40.00"), "EUR")
    page = billing_staff_client.get(reverse("admin:billing_payment_change", args=[payment.pk])).content.decode()
    assert "EUR" in page


def test_staff_changing_a_billed_customers_currency_see_why_not(client):
    from django.urls import reverse

    from tests.accounts.factories import UserFactory, enable_totp
    from tests.accounts.test_admin import _form_data

    customer = _subscribed(CustomerFactory(country="GB"), currency="GBP")
    run_billing(DECEMBER, actor=System("tests"))
    staff = UserFactory(is_staff=True, is_superuser=True)
    enable_totp(staff)
    client.force_login(staff)
    change = reverse("admin:accounts_customer_change", args=[customer.pk])

    response = client.post(change, {**_form_data(client.get(change)), "currency": "EUR"})

    customer.refresh_from_db()
    assert customer.currency == "GBP"
    assert response.status_code == 200
    assert "already has invoices or payments in another currency" in response.content.decode()


def test_sterling_vat_is_the_vat_charged_converted_and_a_credit_note_gives_back_exactly_that():
    """One rule (docs/billing.md, VAT Notice 700 s.7.7): the VAT charged in the invoice
    currency is converted at the invoice's rate; it is not worked out again on the
    converted net (€10.02 at 20% is €2.00 of VAT: £1.70 at 0.8531, where 20% of the
    converted £8.55 would be £1.71, more VAT in sterling than was charged)."""
    from billing.delivery.pdf import render_invoice_pdf
    from billing.workflows.settlement import credit_invoice
    from tests.billing.factories import issued_invoice
    from tests.billing.test_pdf import pdf_text

    configured_provider()
    customer = CustomerFactory(currency="EUR")
    rate = {"gbp_rate": Decimal("0.853100"), "gbp_rate_source": "HMRC", "gbp_rate_date": dt.date(2026, 3, 1)}
    invoice = issued_invoice(customer, lines=[("VPS hosting", 1, "10.02")], currency="EUR", **rate)

    assert (invoice.total_vat, invoice.total_net_gbp, invoice.total_vat_gbp) == (
        Decimal("2.00"), Decimal("8.55"), Decimal("1.70")
    )  # fmt: skip
    note = credit_invoice(invoice, reason="Cancelled order", actor=System("tests"))
    assert (note.total_net_gbp, note.total_vat_gbp) == (invoice.total_net_gbp, invoice.total_vat_gbp)
    for document in (invoice, note):
        text = pdf_text(render_invoice_pdf(document))
        assert "Total VAT in sterling £1.70" in text and "20% €10.02 €2.00 £8.55 £1.70" in text
