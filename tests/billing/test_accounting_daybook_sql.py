"""On PostgreSQL the day book's lines are written by ``COPY`` from one query
(``billing.accounting.daybook_sql``): it must give byte for byte the CSV the Python day
book gives, over generated documents with several lines, VAT rates, currencies and
credit notes."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.audit import System
from billing.accounting import daybook_sql, formats, periods
from billing.accounting.codes import Codes
from billing.accounting.reports import DayBook
from billing.issuing import add_line, issue_invoice
from billing.workflows.settlement import credit_invoice
from tests.accounts.factories import CustomerFactory
from tests.billing.factories import InvoiceFactory, configured_provider

pytestmark = [
    pytest.mark.django_db(transaction=False),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's"),
]

PERIOD = periods.month(2026, 11)
LINE = st.tuples(
    st.decimals(min_value=Decimal("0.001"), max_value=Decimal("40"), places=3),
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("333.33"), places=2),
    st.sampled_from([Decimal(20), Decimal(5), Decimal(0)]),
    st.text(alphabet="abc ,\"=+-'\n", min_size=1, max_size=12),
)
DOCUMENT = st.tuples(
    st.sampled_from(["GBP", "EUR"]),
    st.lists(LINE, min_size=1, max_size=5),
    st.integers(min_value=1, max_value=30),
    st.booleans(),
)


def _both(monkeypatch) -> tuple[bytes, bytes]:
    outputs = []
    for in_sql in (False, True):
        monkeypatch.setattr(daybook_sql, "usable", lambda period, codes, in_sql=in_sql: in_sql)
        stream = io.BytesIO()
        formats.write_csv(DayBook(PERIOD, codes=Codes.load()), stream)
        outputs.append(stream.getvalue())
    return outputs[0], outputs[1]


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(documents=st.lists(DOCUMENT, min_size=1, max_size=6))
def test_the_copy_query_writes_what_python_writes(monkeypatch, documents):
    with transaction.atomic():
        configured_provider()
        customers = {currency: CustomerFactory(currency=currency) for currency in ("GBP", "EUR")}
        # Numbers follow dates: the documents are issued in date order.
        for currency, lines, day, credit in sorted(documents, key=lambda document: document[2]):
            draft = InvoiceFactory(
                customer=customers[currency],
                currency=currency,
                gbp_rate=Decimal("0.863517") if currency == "EUR" else None,
                gbp_rate_source="HMRC monthly rate" if currency == "EUR" else "",
                gbp_rate_date=dt.date(2026, 11, 1) if currency == "EUR" else None,
            )
            for quantity, price, rate, description in lines:
                add_line(draft, description=description, quantity=quantity, unit_price=price, vat_rate=rate)
            invoice = issue_invoice(draft, issued_on=dt.date(2026, 11, day), actor=System("tests"))
            if credit and invoice.total_gross >= Decimal("0.02"):
                first = invoice.lines.order_by("pk").first()
                part = [{"description": "Credit", "quantity": 1, "unit_price": "0.01", "vat_rate": first.vat_rate}]
                credit_invoice(
                    invoice, lines=part, reason="Generated", issued_on=dt.date(2026, 11, day), actor=System("tests")
                )
        python, sql = _both(monkeypatch)
        assert python.count(b"\n") > 1
        assert sql == python
        transaction.set_rollback(True)
