"""Factories for billing: plans, subscriptions, draft invoices and their lines.

``issued_invoice`` is the quick way to an issued VAT invoice: it builds a draft and
issues it through ``billing.issuing.issue_invoice`` (the one write path).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

import factory

from accounts.audit import System
from accounts.models import Customer
from billing.models import BillingPeriod, BillingSettings, Invoice, InvoiceLine, Plan, Subscription
from billing.money import to_money
from tests.accounts.factories import CustomerFactory, ProviderDetailsFactory, ServiceFactory


class BillingSettingsFactory(factory.django.DjangoModelFactory):
    """The provider's billing policy (one row): defaults and complete (fictional) bank
    details, unless a test says otherwise. Calling it again sets what that call asks for."""

    class Meta:
        model = BillingSettings

    id = 1
    bank_account_name = "Example Hosting Ltd"
    bank_sort_code = "12-34-56"
    bank_account_number = "12345678"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        row, _ = model_class.objects.update_or_create(id=kwargs.pop("id"), defaults=kwargs)
        return row


def configured_provider():
    """The provider's details, and billing settings with a payment method (issuing refuses
    without one) unless a test has saved its own."""
    if not BillingSettings.objects.exists():
        BillingSettingsFactory()
    return ProviderDetailsFactory()


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Plan

    name = factory.Sequence(lambda n: f"VPS {n}")
    period = BillingPeriod.MONTHLY
    currency = "GBP"
    price = Decimal("10.00")
    setup_fee = Decimal("0.00")
    vat_category = "standard"


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscription

    service = factory.SubFactory(ServiceFactory)
    plan = factory.SubFactory(PlanFactory)
    started_on = dt.date(2026, 1, 1)


class InvoiceFactory(factory.django.DjangoModelFactory):
    """A draft VAT invoice with no lines."""

    class Meta:
        model = Invoice

    kind = Invoice.Kind.INVOICE
    status = Invoice.Status.DRAFT
    customer = factory.SubFactory(CustomerFactory)
    currency = "GBP"


class InvoiceLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InvoiceLine

    invoice = factory.SubFactory(InvoiceFactory)
    description = factory.Sequence(lambda n: f"Hosting item {n}")
    quantity = Decimal("1")
    unit_price = Decimal("10.00")
    vat_rate = Decimal("20")
    net = factory.LazyAttribute(lambda o: to_money(Decimal(o.quantity) * Decimal(o.unit_price)))


def issued_invoice(
    customer: Customer | None = None,
    lines: Iterable[tuple[str, Decimal | int | str, Decimal | int | str]] = (("Hosting", 1, "10.00"),),
    *,
    vat_rate: Decimal | int | str = 20,
    issued_on: dt.date | None = None,
    **invoice_fields,
) -> Invoice:
    """An issued invoice for ``customer`` (a new UK company if None) with ``lines`` of
    (description, quantity, unit price). Provider details are created if missing."""
    from billing.issuing import add_line, issue_invoice

    configured_provider()
    invoice = InvoiceFactory(customer=customer or CustomerFactory(), **invoice_fields)
    for description, quantity, unit_price in lines:
        add_line(
            invoice,
            description=description,
            quantity=Decimal(str(quantity)),
            unit_price=Decimal(str(unit_price)),
            vat_rate=Decimal(str(vat_rate)),
        )
    return issue_invoice(invoice, issued_on=issued_on, actor=System("tests"))
