"""Credit notes on paid invoices, and refunds of account credit (a refund pays back a credit note or an overpayment)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.audit import System
from billing.models import Invoice, Payment, PaymentAllocation, Refund
from billing.receivables.payments import (
    account_balance,
    apply_credit,
    balance_of,
    record_refund,
    unallocated_credit,
)
from billing.receivables.statements import statement
from billing.workflows.settlement import credit_invoice, receive_payment
from tests.accounts.factories import CustomerFactory
from tests.billing.factories import issued_invoice

pytestmark = pytest.mark.django_db

APRIL = dt.date(2026, 4, 10)


def _invoice(customer, price="100.00", on=APRIL):
    return issued_invoice(customer, lines=(("Hosting", 1, price),), issued_on=on)  # £120.00 gross


def _pay(customer, amount, on=dt.date(2026, 4, 20)):
    return receive_payment(
        customer, amount=Decimal(amount), received_on=on, method=Payment.Method.BANK_TRANSFER, actor=System("tests")
    )


def _refund(customer, amount, credit_note=None, on=dt.date(2026, 4, 30)):
    return record_refund(
        customer,
        amount=Decimal(amount),
        paid_on=on,
        method=Payment.Method.BANK_TRANSFER,
        reference="REFUND-1",
        credit_note=credit_note,
        actor=System("tests"),
    )


def _partial_credit(invoice, net, on=dt.date(2026, 4, 25)):
    line = {"description": "Outage credit", "quantity": 1, "unit_price": net, "vat_rate": 20}
    return credit_invoice(invoice, lines=[line], reason="Outage on 12 April", issued_on=on, actor=System("tests"))


def test_crediting_a_paid_invoice_puts_the_payment_back_on_the_account(customer):
    invoice = _invoice(customer)
    payment = _pay(customer, "120.00")

    note = credit_invoice(invoice, reason="Ordered in error", issued_on=dt.date(2026, 4, 25), actor=System("tests"))

    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.CANCELLED
    assert balance_of(invoice) == 0
    assert unallocated_credit(customer) == Decimal("120.00")
    assert account_balance(customer) == Decimal("-120.00")
    # Append-only: the original allocation stays, a negative one records the release.
    amounts = sorted(PaymentAllocation.objects.filter(payment=payment).values_list("amount", "released_by"))
    assert amounts == [(Decimal("-120.00"), note.pk), (Decimal("120.00"), None)]


def test_partial_credit_on_a_paid_invoice_releases_only_the_credited_part(customer):
    invoice = _invoice(customer)
    _pay(customer, "120.00")

    _partial_credit(invoice, "10.00")  # £12.00 with VAT

    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert balance_of(invoice) == 0
    assert unallocated_credit(customer) == Decimal("12.00")


def test_partial_credit_on_an_unpaid_invoice_reduces_what_is_due_and_releases_nothing(customer):
    invoice = _invoice(customer)
    _partial_credit(invoice, "10.00")
    assert balance_of(invoice) == Decimal("108.00")
    assert unallocated_credit(customer) == 0
    assert not PaymentAllocation.objects.exists()


def test_credit_for_the_rest_of_a_part_paid_invoice_marks_it_paid(customer):
    invoice = _invoice(customer)
    _pay(customer, "108.00")
    _partial_credit(invoice, "10.00")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert unallocated_credit(customer) == 0


def test_refund_of_a_credit_note_pays_the_credit_back(customer):
    invoice = _invoice(customer)
    _pay(customer, "120.00")
    note = credit_invoice(
        invoice, reason="Cancelled in the cooling-off period", issued_on=dt.date(2026, 4, 25), actor=System("tests")
    )

    refund = _refund(customer, "120.00", credit_note=note)

    assert refund.currency == "GBP" and refund.credit_note == note
    assert unallocated_credit(customer) == 0
    assert account_balance(customer) == 0
    with pytest.raises(ValidationError, match=r"more than the 0.00 GBP"):
        _refund(customer, "0.01", credit_note=note)


def test_nothing_to_refund_when_the_credited_invoice_was_never_paid(customer):
    note = credit_invoice(
        _invoice(customer), reason="Ordered in error", issued_on=dt.date(2026, 4, 25), actor=System("tests")
    )
    with pytest.raises(ValidationError, match=r"120.00 GBP is more than the 0.00 GBP"):
        _refund(customer, "120.00", credit_note=note)
    assert not Refund.objects.exists()


def test_refund_is_at_most_the_credit_note_even_with_more_credit_on_the_account(customer):
    invoice = _invoice(customer)
    _pay(customer, "200.00")  # £80 overpaid
    note = _partial_credit(invoice, "10.00")
    assert unallocated_credit(customer) == Decimal("92.00")

    with pytest.raises(ValidationError, match=r"more than the 12.00 GBP"):
        _refund(customer, "13.00", credit_note=note)
    _refund(customer, "12.00", credit_note=note)
    _refund(customer, "80.00")  # the overpayment, with no credit note
    assert unallocated_credit(customer) == 0
    with pytest.raises(ValidationError, match="has in credit"):
        _refund(customer, "0.01")


def test_refunds_are_refused_for_another_customers_credit_note_or_currency(customer):
    other_customer = CustomerFactory()
    note = credit_invoice(
        _invoice(other_customer), reason="Error", issued_on=dt.date(2026, 4, 25), actor=System("tests")
    )
    with pytest.raises(ValidationError, match="is not a credit note of"):
        _refund(customer, "1.00", credit_note=note)
    with pytest.raises(ValidationError, match="is in GBP, not EUR"):
        record_refund(
            other_customer,
            amount="1.00",
            paid_on=APRIL,
            method="other",
            credit_note=note,
            currency="EUR",
            actor=System("tests"),
        )
    with pytest.raises(ValidationError, match="is not an issued credit note"):
        _refund(customer, "1.00", credit_note=_invoice(customer))


def test_refunded_money_is_not_spent_again_on_the_next_invoice(customer):
    _pay(customer, "50.00", on=dt.date(2026, 3, 1))  # credit in advance
    _refund(customer, "30.00", on=dt.date(2026, 3, 5))
    invoice = _invoice(customer)

    apply_credit(customer)

    assert balance_of(invoice) == Decimal("100.00")  # £120 less the £20 still in credit
    assert unallocated_credit(customer) == 0
    assert account_balance(customer) == Decimal("100.00")


def test_statement_shows_the_refund_as_money_paid_out(customer):
    invoice = _invoice(customer)
    _pay(customer, "120.00")
    note = credit_invoice(invoice, reason="Ordered in error", issued_on=dt.date(2026, 4, 25), actor=System("tests"))
    _refund(customer, "120.00", credit_note=note)

    result = statement(customer, dt.date(2026, 4, 1), dt.date(2026, 4, 30))

    refund = result.entries[-1]
    assert (refund.kind, refund.debit, refund.credit) == ("refund", Decimal("120.00"), Decimal("0.00"))
    assert refund.description == f"Refund of {note.number} by bank transfer"
    assert [e.balance for e in result.entries] == [Decimal("120.00"), Decimal("0.00"), Decimal("-120.00"), 0]
    assert result.closing_balance == 0


def test_credit_note_page_shows_the_reason_and_the_refund(owner_client, customer):
    invoice = _invoice(customer)
    _pay(customer, "120.00")
    note = credit_invoice(
        invoice, reason="Cancelled in the cooling-off period", issued_on=dt.date(2026, 4, 25), actor=System("tests")
    )
    _refund(customer, "120.00", credit_note=note)

    page = owner_client.get(reverse("billing:invoice_detail", args=[note.pk])).content.decode()

    assert "Reason: Cancelled in the cooling-off period" in page
    assert "£120.00 paid back to you by bank transfer on 30 April 2026 (reference REFUND-1)" in page
    # The lines are the original's, not prefixed with the reason.
    assert note.lines.get().description == "Hosting"


# ---------------------------------------------------------------------------------------
# The admin, as billing staff use it
# ---------------------------------------------------------------------------------------


def test_billing_staff_refund_a_credit_note_from_the_admin(billing_staff_client, customer):
    invoice = _invoice(customer)
    _pay(customer, "120.00")
    note = credit_invoice(invoice, reason="Ordered in error", issued_on=dt.date(2026, 4, 25), actor=System("tests"))
    add = reverse("admin:billing_refund_add")

    form = billing_staff_client.get(add, {"credit_note": note.pk})
    assert form.status_code == 200
    assert form.context["adminform"].form.initial["amount"] == Decimal("120.00")

    data = {
        "customer": customer.pk,
        "credit_note": note.pk,
        "method": "bank_transfer",
        "currency": "GBP",
        "amount": "150.00",
        "paid_on": "2026-04-30",
        "reference": "FPS 123",
    }
    too_much = billing_staff_client.post(add, data)
    assert too_much.status_code == 200
    assert "150.00 GBP is more than the 120.00 GBP" in too_much.content.decode()
    assert not Refund.objects.exists()

    done = billing_staff_client.post(add, {**data, "amount": "120.00"})
    assert done.status_code == 302
    refund = Refund.objects.get()
    assert (refund.amount, refund.credit_note, refund.reference) == (Decimal("120.00"), note, "FPS 123")
    assert refund.recorded_by is not None
    # An accounting record: viewable, not editable or deletable.
    change = reverse("admin:billing_refund_change", args=[refund.pk])
    assert billing_staff_client.get(change).status_code == 200
    billing_staff_client.post(change, {**data, "amount": "1.00"})
    refund.refresh_from_db()
    assert refund.amount == Decimal("120.00")
    assert billing_staff_client.post(reverse("admin:billing_refund_delete", args=[refund.pk])).status_code == 403


def test_a_credit_note_drafted_by_hand_takes_the_originals_rates_and_releases_payment(customer):
    from billing.issuing import add_line
    from billing.workflows.settlement import issue_document
    from tests.billing.factories import InvoiceFactory

    invoice = _invoice(customer)
    _pay(customer, "120.00")
    draft = InvoiceFactory(customer=customer, kind=Invoice.Kind.CREDIT_NOTE, corrects=invoice, reason="Goodwill")
    add_line(draft, description="Goodwill credit", quantity=1, unit_price="25.00")  # rate left to the original

    note = issue_document(draft, issued_on=dt.date(2026, 4, 25), actor=System("tests"))

    assert note.lines.get().vat_rate == 20 and note.total_gross == Decimal("30.00")
    assert note.vat_rule == invoice.vat_rule
    assert unallocated_credit(customer) == Decimal("30.00")


def test_credit_notes_never_credit_more_than_is_left_of_the_invoice(customer):
    from billing.documents.totals import InvoiceError

    invoice = _invoice(customer)
    _partial_credit(invoice, "90.00")  # £108 of £120
    with pytest.raises(InvoiceError, match=r"more than the 12.00 GBP of .* not yet credited"):
        _partial_credit(invoice, "20.00")
    with pytest.raises(InvoiceError, match="not yet credited"):
        credit_invoice(invoice, reason="Cancel the rest", actor=System("tests"))
    assert Invoice.objects.filter(kind=Invoice.Kind.CREDIT_NOTE).exclude(status="draft").count() == 1


def test_a_credit_note_without_a_reason_or_for_a_category_not_charged_is_refused(customer):
    from billing.documents.totals import InvoiceError
    from billing.issuing import add_line, issue_invoice
    from tests.billing.factories import InvoiceFactory

    invoice = _invoice(customer)
    draft = InvoiceFactory(customer=customer, kind=Invoice.Kind.CREDIT_NOTE, corrects=invoice)
    add_line(draft, description="Manual", quantity=1, unit_price="5.00", vat_category="reduced")
    with pytest.raises(InvoiceError, match="Give the reason"):
        issue_invoice(draft, actor=System("tests"))
    draft.reason = "Manual returned"
    draft.save()
    with pytest.raises(InvoiceError, match="charged nothing in the reduced VAT category"):
        issue_invoice(draft, actor=System("tests"))


def test_credit_notes_adding_up_to_the_invoice_cancel_it(customer):
    invoice = _invoice(customer)
    _partial_credit(invoice, "60.00")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.ISSUED
    _partial_credit(invoice, "40.00")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.CANCELLED and balance_of(invoice) == 0


def test_negative_credit_notes_and_invoices_are_refused(customer):
    from billing.documents.totals import InvoiceError
    from billing.issuing import add_line, issue_invoice
    from tests.billing.factories import InvoiceFactory

    invoice = _invoice(customer)
    draft = InvoiceFactory(customer=customer, kind=Invoice.Kind.CREDIT_NOTE, corrects=invoice, reason="Oops")
    add_line(draft, description="Minus", quantity=1, unit_price="-500.00")
    with pytest.raises(InvoiceError, match="lines are positive amounts"):
        issue_invoice(draft, actor=System("tests"))
    negative = InvoiceFactory(customer=customer)
    add_line(negative, description="Hosting", quantity=1, unit_price="10.00")
    add_line(negative, description="Discount", quantity=1, unit_price="-20.00")
    with pytest.raises(InvoiceError, match="cannot be less than zero"):
        issue_invoice(negative, actor=System("tests"))
    assert account_balance(customer) == Decimal("120.00")


def test_a_credit_note_for_an_unpaid_invoice_cannot_be_refunded_from_other_credit(customer):
    paid = _invoice(customer, on=dt.date(2026, 4, 1))
    unpaid = _invoice(customer, on=dt.date(2026, 4, 5))
    receive_payment(
        customer,
        amount="150.00",
        received_on=APRIL,
        method="bank_transfer",
        allocate_to=[(paid, "120.00")],
        actor=System("tests"),
    )  # £30 left on the account
    note = credit_invoice(unpaid, reason="Ordered in error", issued_on=dt.date(2026, 4, 25), actor=System("tests"))

    with pytest.raises(ValidationError, match=r"more than the 0.00 GBP"):
        _refund(customer, "30.00", credit_note=note)
    _refund(customer, "30.00")  # the overpayment itself, with no credit note
    assert unallocated_credit(customer) == 0
