"""Shared set-up for the accounting export tests: a worked month of sales and a way to
make an export and read its file back."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

from django.core.files.storage import default_storage

from accounts.audit import System
from billing.accounting import periods
from billing.accounting.exports import request_export
from billing.models import AccountingExport, AccountingFirm, Payment
from billing.receivables.payments import record_refund
from billing.workflows.settlement import credit_invoice, receive_payment
from tests.accounts.factories import CustomerFactory, StaffFactory
from tests.billing.factories import issued_invoice

NOVEMBER = periods.month(2026, 11)


def firm(**fields) -> AccountingFirm:
    defaults = {
        "name": "Ledger & Co Chartered Accountants",
        "postal_address": "1 Counting House Lane\nLeeds\nLS1 1AA",
        "contact_email": "books@ledger.example",
        "engaged_from": dt.date(2020, 1, 1),
    }
    return AccountingFirm.objects.create(**{**defaults, **fields})


def worked_month() -> dict:
    """Two customers' November 2026, worked by hand (see test_accounting_exports.py)."""
    alpha = CustomerFactory(registered_name="Alpha Hosting Ltd")
    beta = CustomerFactory(registered_name="Beta Networks Ltd")
    october = issued_invoice(alpha, lines=(("October hosting", 1, "50.00"),), issued_on=dt.date(2026, 10, 1))
    first = issued_invoice(
        alpha, lines=(("Hosting", 1, "100.00"), ("Backup", 2, "7.50")), issued_on=dt.date(2026, 11, 3)
    )
    receive_payment(
        alpha, amount=Decimal("100.00"), received_on=dt.date(2026, 11, 10), method=Payment.Method.BANK_TRANSFER,
        reference="ALPHA-NOV", actor=System("tests"),
    )  # fmt: skip
    note = credit_invoice(
        first,
        lines=[{"description": "Outage credit", "quantity": 1, "unit_price": "10.00", "vat_rate": 20}],
        reason="Outage",
        issued_on=dt.date(2026, 11, 20),
        actor=System("tests"),
    )
    second = issued_invoice(beta, lines=(("Dedicated server", 1, "200.00"),), issued_on=dt.date(2026, 11, 15))
    receive_payment(
        beta,
        amount=Decimal("300.00"),
        received_on=dt.date(2026, 11, 25),
        method=Payment.Method.CARD,
        reference="BETA-1",
        actor=System("tests"),
    )
    record_refund(
        beta, amount=Decimal("20.00"), paid_on=dt.date(2026, 11, 28), method=Payment.Method.BANK_TRANSFER,
        reference="REFUND-BETA", actor=System("tests"),
    )  # fmt: skip
    return {"alpha": alpha, "beta": beta, "october": october, "first": first, "note": note, "second": second}


def export(kind: str, fmt: str = "csv", period: periods.Period = NOVEMBER, *, actor=None, firm=None, as_at=None):
    return request_export(kind=kind, fmt=fmt, period=period, actor=actor or StaffFactory(), firm=firm, as_at=as_at)


def file_bytes(made: AccountingExport) -> bytes:
    with default_storage.open(made.file.name, "rb") as handle:
        return handle.read()


def csv_rows(made: AccountingExport | bytes) -> list[dict[str, str]]:
    content = made if isinstance(made, bytes) else file_bytes(made)
    return list(csv.DictReader(io.StringIO(content.decode("utf-8"))))
