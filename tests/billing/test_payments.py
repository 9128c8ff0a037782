from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts import roles
from accounts.audit import System
from billing.models import Invoice, Payment
from billing.receivables.payments import account_balance, apply_credit, balance_of, unallocated_credit
from billing.receivables.statements import statement
from billing.workflows.settlement import credit_invoice, receive_payment
from tests.accounts.factories import MembershipFactory
from tests.billing.factories import issued_invoice

pytestmark = pytest.mark.django_db


def _invoice(customer, price="100.00", on=dt.date(2026, 4, 10)):
    return issued_invoice(customer, lines=(("Hosting", 1, price),), issued_on=on)  # £120.00 gross


def _pay(customer, amount, on=dt.date(2026, 4, 20), **kwargs):
    return receive_payment(
        customer,
        amount=Decimal(amount),
        received_on=on,
        method=Payment.Method.BANK_TRANSFER,
        reference="BACS",
        actor=System("tests"),
        **kwargs,
    )


def test_part_payment_marks_invoice_part_paid(customer):
    invoice = _invoice(customer)
    _pay(customer, "50.00")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PART_PAID
    assert balance_of(invoice) == Decimal("70.00")


def test_full_payment_marks_invoice_paid(customer):
    invoice = _invoice(customer)
    _pay(customer, "120.00")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert balance_of(invoice) == 0
    assert account_balance(customer) == 0


def test_oldest_invoice_is_paid_first(customer):
    older = _invoice(customer, on=dt.date(2026, 4, 1))
    newer = _invoice(customer, on=dt.date(2026, 5, 1))
    _pay(customer, "150.00")
    older.refresh_from_db(), newer.refresh_from_db()
    assert (older.status, newer.status) == (Invoice.Status.PAID, Invoice.Status.PART_PAID)
    assert balance_of(newer) == Decimal("90.00")


def test_explicit_allocation_never_exceeds_the_balance(customer):
    from django.core.exceptions import ValidationError

    invoice = _invoice(customer)
    with pytest.raises(ValidationError):
        _pay(customer, "200.00", allocate_to=[(invoice, "150.00")])
    assert not Payment.objects.exists()
    _pay(customer, "200.00", allocate_to=[(invoice, "120.00")])
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert unallocated_credit(customer) == Decimal("80.00")


def test_overpayment_is_kept_as_credit_and_applied_to_the_next_invoice(customer):
    first = _invoice(customer)
    _pay(customer, "200.00")
    first.refresh_from_db()
    assert first.status == Invoice.Status.PAID
    assert unallocated_credit(customer) == Decimal("80.00")
    assert account_balance(customer) == Decimal("-80.00")

    second = _invoice(customer, on=dt.date(2026, 5, 10))
    apply_credit(customer)  # the billing run does this after issuing
    second.refresh_from_db()
    assert second.status == Invoice.Status.PART_PAID
    assert balance_of(second) == Decimal("40.00")
    assert unallocated_credit(customer) == 0
    assert account_balance(customer) == Decimal("40.00")


def test_statement_opening_and_closing_balances(customer):
    _invoice(customer, on=dt.date(2026, 3, 10))  # before the range: 120 owed
    _pay(customer, "20.00", on=dt.date(2026, 3, 20))  # opening balance 100
    in_range = _invoice(customer, price="50.00", on=dt.date(2026, 4, 5))  # +60
    _pay(customer, "100.00", on=dt.date(2026, 4, 15))  # -100
    credit_invoice(
        in_range, reason="Service not supplied", issued_on=dt.date(2026, 4, 25), actor=System("tests")
    )  # -60
    _invoice(customer, on=dt.date(2026, 6, 1))  # after the range

    result = statement(customer, dt.date(2026, 4, 1), dt.date(2026, 4, 30))

    assert result.opening_balance == Decimal("100.00")
    assert [(e.kind, e.debit, e.credit) for e in result.entries] == [
        ("invoice", Decimal("60.00"), 0),
        ("payment", 0, Decimal("100.00")),
        ("credit_note", 0, Decimal("60.00")),
    ]
    assert [e.balance for e in result.entries] == [Decimal("160.00"), Decimal("60.00"), Decimal("0.00")]
    assert result.closing_balance == Decimal("0.00")
    assert result.closing_balance == account_balance(customer, on=dt.date(2026, 4, 30))


def test_statement_page_shows_own_customers_documents(owner_client, customer, other_customer_client):
    invoice = _invoice(customer)
    url = reverse("billing:statement") + "?start=2026-04-01&end=2026-04-30"

    response = owner_client.get(url)
    assert response.status_code == 200
    assert invoice.number in response.content.decode()

    other = other_customer_client.get(url)
    assert other.status_code == 200
    assert invoice.number not in other.content.decode()


def test_statement_page_defaults_to_this_financial_year(owner_client):
    response = owner_client.get(reverse("billing:statement"))
    assert response.status_code == 200
    assert response.context["statement"] is not None


def test_statement_page_refused_to_technical_contact(client, customer, provider):
    technical = MembershipFactory(customer=customer, role=roles.Role.TECHNICAL).user
    client.force_login(technical)
    assert client.get(reverse("billing:statement")).status_code == 403


def test_staff_allocate_a_payment_to_the_invoices_on_the_remittance_advice(billing_staff_client, customer):
    older = _invoice(customer, on=dt.date(2026, 3, 10))
    named = _invoice(customer, on=dt.date(2026, 4, 10))
    other = issued_invoice(lines=(("Hosting", 1, "100.00"),), issued_on=dt.date(2026, 4, 10))  # someone else's
    add = reverse("admin:billing_payment_add")
    data = {"customer": customer.pk, "method": "bank_transfer", "amount": "150.00", "received_on": "2026-04-20"}

    form = billing_staff_client.get(add).content.decode()
    assert 'name="settles"' in form
    for settles, error in [
        (f"{named.number} INV-2099-000001", "has no document numbered INV-2099-000001"),
        (f"{named.number}, {other.number}", f"has no document numbered {other.number}"),
        (f"{named.number}, {older.number}, {named.number}x", "has no document numbered"),
    ]:
        refused = billing_staff_client.post(add, {**data, "settles": settles})
        assert refused.status_code == 200 and error in refused.content.decode()
    assert not Payment.objects.exists()

    done = billing_staff_client.post(add, {**data, "settles": f"{named.number}, {older.number}", "reference": "RA 7"})

    assert done.status_code == 302
    named.refresh_from_db()
    older.refresh_from_db()
    assert named.status == Invoice.Status.PAID and balance_of(named) == 0  # first on the advice: paid in full
    assert older.status == Invoice.Status.PART_PAID and balance_of(older) == Decimal("90.00")  # then the rest
    used_up = billing_staff_client.post(add, {**data, "amount": "10.00", "settles": f"{older.number}, {named.number}"})
    assert f"{named.number} is paid: nothing is due on it" in used_up.content.decode()


def test_a_payment_used_up_before_the_last_invoice_named_is_refused(billing_staff_client, customer):
    first, second = _invoice(customer), _invoice(customer)
    add = reverse("admin:billing_payment_add")

    refused = billing_staff_client.post(
        add,
        {"customer": customer.pk, "method": "card", "amount": "120.00", "received_on": "2026-04-20",
         "settles": f"{first.number} {second.number}"},
    )  # fmt: skip

    assert f"The 120.00 is used up before {second.number}" in refused.content.decode()
    assert not Payment.objects.exists()
    assert balance_of(first) == Decimal("120.00")


def test_an_invoice_settled_while_the_form_was_checked_gives_a_message_not_an_error_page(
    billing_staff_client, customer, monkeypatch
):
    from billing.admin.payments import PaymentForm

    invoice = _invoice(customer)
    checked = PaymentForm.clean

    def clean_then_someone_else_pays(form):
        data = checked(form)
        _pay(customer, "120.00")  # another clerk's payment settles it first
        return data

    monkeypatch.setattr(PaymentForm, "clean", clean_then_someone_else_pays)
    add = reverse("admin:billing_payment_add")
    data = {"customer": customer.pk, "method": "bank_transfer", "amount": "120.00", "received_on": "2026-04-20",
            "settles": invoice.number}  # fmt: skip

    response = billing_staff_client.post(add, data, follow=True)

    assert response.status_code == 200
    assert f"Nothing was recorded: {invoice.number} is not an open invoice" in response.content.decode()
    assert Payment.objects.filter(customer=customer).count() == 0  # the whole request rolled back
