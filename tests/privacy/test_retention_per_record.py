"""Money records are kept per record: 6 years from the end of the financial year each belongs
to, not from the account's closure; records that settle each other go together, and money
still on an open account stays while it is open."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.audit import System
from accounts.models import Customer
from billing.models import Invoice, OneOffCharge, Payment, PaymentAllocation
from billing.receivables.payments import account_balance, record_payment
from core.registry import TAX_RECORDS_RULE, declaration_for
from privacy.services.retention import sweep, waiting_for_partners
from tests.accounts.factories import CustomerFactory
from tests.billing.factories import issued_invoice

pytestmark = pytest.mark.django_db

LONDON = timezone.get_default_timezone()


@pytest.fixture(autouse=True)
def _march_year_end(settings):
    settings.PORTAL_FINANCIAL_YEAR_END = (3, 31)


def _paid(customer, invoice: Invoice, on: dt.date) -> Payment:
    return record_payment(
        customer,
        amount=invoice.total_gross,
        received_on=on,
        method=Payment.Method.BANK_TRANSFER,
        allocate_to=[(invoice, invoice.total_gross)],
        actor=System("tests"),
    )


def _exists(obj) -> bool:
    return type(obj)._default_manager.filter(pk=obj.pk).exists()


def test_an_old_paid_invoice_of_an_open_account_goes_6_years_after_its_own_financial_year(provider):
    customer = CustomerFactory()  # open since 2014, still open
    old = issued_invoice(customer, issued_on=dt.date(2015, 6, 1))  # year ending 31 March 2016
    old_payment = _paid(customer, old, dt.date(2015, 6, 20))
    recent = issued_invoice(customer, issued_on=dt.date(2021, 6, 1))
    recent_payment = _paid(customer, recent, dt.date(2021, 6, 20))
    balance = account_balance(customer)

    sweep(dry_run=False, today=dt.date(2022, 3, 30))
    assert _exists(old) and _exists(old_payment)

    sweep(dry_run=False, today=dt.date(2022, 3, 31))

    assert not _exists(old) and not _exists(old_payment)
    assert not PaymentAllocation.objects.filter(invoice_id=old.pk).exists()
    assert _exists(recent) and _exists(recent_payment)
    assert account_balance(customer) == balance
    assert Customer.objects.get(pk=customer.pk).closed_at is None


def test_a_closed_account_does_not_keep_its_old_records_six_years_from_closure(provider):
    customer = CustomerFactory()
    old = issued_invoice(customer, issued_on=dt.date(2015, 6, 1))
    payment = _paid(customer, old, dt.date(2015, 6, 20))
    Customer.objects.filter(pk=customer.pk).update(
        status=Customer.Status.CLOSED, closed_at=dt.datetime(2021, 1, 10, 12, tzinfo=LONDON)
    )

    sweep(dry_run=False, today=dt.date(2022, 3, 31))  # not 31 March 2027, from the closure

    assert not _exists(old) and not _exists(payment)


def test_a_payment_and_the_documents_it_settled_go_together(provider):
    customer = CustomerFactory()
    old = issued_invoice(customer, issued_on=dt.date(2015, 6, 1))
    recent = issued_invoice(customer, issued_on=dt.date(2017, 6, 1))  # year ending 31 March 2018
    # One payment settles both: it may go only with the later one, and so may the old invoice.
    both = record_payment(
        customer,
        amount=old.total_gross + recent.total_gross,
        received_on=dt.date(2017, 6, 20),
        method=Payment.Method.BANK_TRANSFER,
        allocate_to=[(old, old.total_gross), (recent, recent.total_gross)],
        actor=System("tests"),
    )
    balance = account_balance(customer)

    report = sweep(dry_run=False, today=dt.date(2022, 3, 31))

    assert _exists(old) and _exists(recent) and _exists(both)
    assert PaymentAllocation.objects.filter(payment=both).count() == 2
    assert account_balance(customer) == balance
    assert waiting_for_partners(dt.date(2022, 3, 31)) == {"billing.Invoice": {old.pk}}
    assert next(m for m in report.models if m.model == "billing.Invoice").done == 0

    sweep(dry_run=False, today=dt.date(2024, 3, 31))

    assert not _exists(old) and not _exists(recent) and not _exists(both)


def test_money_still_on_an_open_account_is_kept_while_it_is_open(provider):
    customer = CustomerFactory()
    unpaid = issued_invoice(customer, issued_on=dt.date(2015, 6, 1))
    credit = record_payment(
        customer, amount="50.00", received_on=dt.date(2015, 6, 1), method=Payment.Method.CARD, actor=System("tests")
    )
    unbilled = OneOffCharge.objects.create(
        customer=customer,
        description="Rack visit",
        unit_price="40.00",
        created_at=dt.datetime(2015, 6, 1, 12, tzinfo=LONDON),
    )
    balance = account_balance(customer)

    sweep(dry_run=False, today=dt.date(2030, 1, 1))

    assert _exists(unpaid) and _exists(credit) and _exists(unbilled)
    assert account_balance(customer) == balance

    Customer.objects.filter(pk=customer.pk).update(
        status=Customer.Status.CLOSED, closed_at=dt.datetime(2030, 1, 2, 12, tzinfo=LONDON)
    )
    sweep(dry_run=False, today=dt.date(2030, 1, 3))

    assert not _exists(unpaid) and not _exists(credit) and not _exists(unbilled)


def test_the_declarations_cite_the_tax_rules_and_say_the_companies_act_is_shorter():
    for model in (Invoice, Payment, OneOffCharge):
        retention = declaration_for(model).retention
        assert TAX_RECORDS_RULE in retention.description
        assert "financial year of its" in retention.description
        assert retention.counted_from != "customer__closed_at"
    assert "VAT Act 1994 Sch 11 para 6" in TAX_RECORDS_RULE
