"""The sales ledger control reconciles exactly with the day book and the receipts, and
the aged debtors' balances with the control's closing balances, over generated histories
of invoices, credit notes, payments and refunds."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.audit import System
from billing.accounting import periods
from billing.accounting.codes import Codes
from billing.accounting.reports import AgedDebtors, DayBook, LedgerControl, Receipts
from billing.documents.totals import InvoiceError
from billing.models import Invoice, Payment
from billing.receivables.payments import record_refund, refundable
from billing.workflows.settlement import credit_invoice, receive_payment
from tests.accounts.factories import CustomerFactory
from tests.billing.factories import configured_provider, issued_invoice

PERIOD = periods.month(2026, 10)
# A month before, the month and a month after (every day before today: a payment cannot be
# dated in the future).
DAYS = st.integers(min_value=0, max_value=89).map(lambda n: dt.date(2026, 9, 1) + dt.timedelta(days=n))
PRICES = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999.99"), places=2)

operation = st.one_of(
    st.tuples(
        st.just("invoice"),
        st.integers(0, 2),
        DAYS,
        st.lists(st.tuples(PRICES, st.sampled_from([20, 5, 0])), min_size=1, max_size=3),
    ),
    st.tuples(st.just("pay"), st.integers(0, 2), DAYS, PRICES),
    st.tuples(st.just("credit"), st.integers(0, 2), DAYS, st.booleans()),
    st.tuples(st.just("refund"), st.integers(0, 2), DAYS, st.just(None)),
)


def _play(customers, operations) -> None:
    # Each customer's events happen in date order, as they would in life.
    for kind, who, day, detail in sorted(operations, key=lambda op: (op[2], op[0])):
        customer = customers[who]
        if kind == "invoice":
            issued_invoice(
                customer, lines=[("Item", 1, price) for price, _ in detail], vat_rate=detail[0][1], issued_on=day
            )
        elif kind == "pay":
            receive_payment(
                customer, amount=detail, received_on=day, method=Payment.Method.BANK_TRANSFER, actor=System("tests")
            )
        elif kind == "credit":
            invoice = (
                Invoice.objects.filter(customer=customer, kind=Invoice.Kind.INVOICE, issued_on__lte=day)
                .exclude(status=Invoice.Status.CANCELLED)
                .order_by("issued_on", "pk")
                .first()
            )
            if invoice is None:
                continue
            lines = (
                None
                if detail
                else [
                    {
                        "description": "Part credit",
                        "quantity": 1,
                        "unit_price": "0.50",
                        "vat_rate": invoice.lines.first().vat_rate,
                    }
                ]
            )
            try:
                credit_invoice(
                    invoice,
                    lines=lines,
                    reason="Generated",
                    issued_on=max(day, invoice.issued_on),
                    actor=System("tests"),
                )
            except InvoiceError:  # a part credit larger than what is left to credit: refused, as it should be
                continue
        else:
            available = refundable(customer, customer.currency)
            if available > 0:
                record_refund(
                    customer, amount=available, paid_on=day, method=Payment.Method.BANK_TRANSFER, actor=System("tests")
                )


def _sum(rows, index) -> Decimal:
    return sum((row[index] for row in rows), Decimal("0.00"))


@pytest.mark.django_db
@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(operations=st.lists(operation, min_size=1, max_size=10))
def test_control_totals_reconcile_with_the_day_book_receipts_and_aged_debtors(operations):
    with transaction.atomic():
        configured_provider()
        customers = [CustomerFactory() for _ in range(3)]
        _play(customers, operations)
        codes = Codes.load()

        day_book = list(DayBook(PERIOD, codes=codes).rows())
        receipts = list(Receipts(PERIOD, codes=codes).rows())
        control = list(LedgerControl(PERIOD, codes=codes).rows())
        aged = list(AgedDebtors(PERIOD, codes=codes).rows())

        lines = [row for row in day_book if row[0] == "line"]
        invoiced = _sum([row for row in lines if row[2] == "Invoice"], 12)
        credited = -_sum([row for row in lines if row[2] == "Credit note"], 12)
        received = _sum([row for row in receipts if row[0] == "line" and row[2] == "Receipt"], 8)
        refunded = _sum([row for row in receipts if row[0] == "line" and row[2] == "Refund"], 8)
        customers_rows = [row for row in control if row[0] == "line"]
        totals = [row for row in control if row[0] == "total"]
        if not customers_rows:
            assert invoiced == credited == received == refunded == 0
        else:
            (total,) = totals
            _, _, _, _, opening, t_invoiced, t_credited, t_received, t_refunded, closing = total
            assert (t_invoiced, t_credited, t_received, t_refunded) == (invoiced, credited, received, refunded)
            assert closing == opening + t_invoiced - t_credited - t_received + t_refunded
            # The day book's total rows say the same as its lines.
            assert sum((row[12] for row in day_book if row[0] == "total"), Decimal(0)) == invoiced - credited
            # Each customer's aged balance at the period end is their closing balance.
            closing_by_account = {row[1]: row[9] for row in customers_rows}
            # (A customer whose open items offset to nothing is listed as settled: compare balances.)
            aged_by_account = {row[1]: row[10] for row in aged if row[0] == "line" and row[10]}
            assert {k: v for k, v in closing_by_account.items() if v} == aged_by_account
        transaction.set_rollback(True)
