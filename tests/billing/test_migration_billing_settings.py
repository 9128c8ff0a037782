"""Upgrading an installation: billing's policy moves from the provider's details to
billing's own settings, and VAT invoices already issued for paid payment requests are
linked to those requests (on PostgreSQL, through the immutability trigger)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [
    ("accounts", "0010_provider_legal_form_and_billing_day_range"),
    ("billing", "0020_line_trigger_plans_each_lookup"),
]
AFTER = [
    ("accounts", "0013_billing_policy_moves_to_billing"),
    ("billing", "0021_billing_settings_and_settled_requests"),
]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def _back_to_latest():
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())  # the other tests need today's schema


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_back_to_latest")
def test_upgrade_copies_the_billing_policy_and_links_paid_requests_to_their_vat_invoices():
    old = _migrate(BEFORE)
    ProviderDetails = old.get_model("accounts", "ProviderDetails")
    Customer = old.get_model("accounts", "Customer")
    Invoice = old.get_model("billing", "Invoice")
    InvoiceLine = old.get_model("billing", "InvoiceLine")
    ProviderDetails.objects.create(
        pk=1, registered_name="Example Hosting Ltd", company_number="01234567", registered_office="1 Street",
        support_email="s@x.example", billing_email="b@x.example", abuse_email="a@x.example",
        privacy_email="p@x.example", bank_sort_code="40-27-16", bank_account_number="12345678",
        payment_terms_days=14, pro_forma_mode=True, billing_day=5,
    )  # fmt: skip
    customer = Customer.objects.create(registered_name="Acme Ltd")
    issued = {"status": "paid", "issued_on": dt.date(2026, 5, 1), "customer": customer}
    request = Invoice.objects.create(kind="pro_forma", number="PR-2026-000001", **issued)
    other = Invoice.objects.create(kind="pro_forma", number="PR-2026-000002", **issued)
    vat_invoice = Invoice.objects.create(kind="invoice", number="INV-2026-000001", status="draft", customer=customer)
    for description in ("Hosting", "Payment request PR-2026-000001 paid on 9 May 2026"):
        InvoiceLine.objects.create(invoice=vat_invoice, description=description, unit_price=Decimal(0), net=0)
    Invoice.objects.filter(pk=vat_invoice.pk).update(status="paid")  # issued, so immutable on PostgreSQL

    new = _migrate(AFTER)
    policy = new.get_model("billing", "BillingSettings").objects.get()
    assert (policy.bank_sort_code, policy.bank_account_number) == ("40-27-16", "12345678")
    assert (policy.payment_terms_days, policy.pro_forma_mode, policy.billing_day) == (14, True, 5)
    Invoice = new.get_model("billing", "Invoice")
    assert Invoice.objects.get(pk=vat_invoice.pk).settles_id == request.pk
    assert not Invoice.objects.filter(settles=other.pk).exists()
    if connection.vendor == "postgresql":  # the trigger is back on: the link is as immutable as the rest
        from django.db import IntegrityError, transaction

        with pytest.raises(IntegrityError), transaction.atomic():
            Invoice.objects.filter(pk=vat_invoice.pk).update(settles=other.pk)
