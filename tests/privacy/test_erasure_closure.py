"""Erasing a whole customer first ends the relationship, through billing's own rules.

Privacy does not import billing: billing registers its part with privacy's hook when it
starts (``BillingConfig.ready``), as it declares its data to the registry.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import roles
from accounts.audit import System
from accounts.correspondence.models import Message
from accounts.models import Customer, Service
from billing.models import Invoice, Subscription
from billing.workflows.run import run_billing
from privacy.models import DataSubjectRequest
from privacy.services import requests as request_services
from tests.accounts.factories import MembershipFactory, ServiceFactory, UserFactory, enable_totp
from tests.billing.factories import PlanFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(db) -> Client:
    staff = UserFactory(is_staff=True, is_superuser=True)
    enable_totp(staff)
    client = Client()
    client.force_login(staff)
    return client


def _billed_customer(customer):
    """A customer with a running service billed this month in advance, the invoice unpaid."""
    owner = MembershipFactory(customer=customer, role=roles.Role.OWNER).user
    service = ServiceFactory(customer=customer, name="web-01", started_on=dt.date(2026, 1, 1))
    subscription = SubscriptionFactory(service=service, plan=PlanFactory(price=Decimal("31.00")))
    month = timezone.localdate().replace(day=1)
    run_billing(month, customer=customer, actor=System("tests"))
    [invoice] = Invoice.objects.filter(customer=customer, kind=Invoice.Kind.INVOICE)
    return owner, service, subscription, invoice


def _fulfil(staff_client, dsr) -> None:
    staff_client.post(
        reverse("admin:privacy_datasubjectrequest_changelist"),
        {"action": "fulfil", "_selected_action": [dsr.pk], "confirm": "yes", "note": ""},
    )


def test_erasing_a_customer_ends_its_services_and_subscriptions_and_closes_the_account_first(
    customer, provider, staff_client
):
    owner, service, subscription, invoice = _billed_customer(customer)
    membership = owner.memberships.get(customer=customer)
    dsr = request_services.open_request_from_portal(membership, "erasure", "", about_customer=True)

    _fulfil(staff_client, dsr)

    today = timezone.localdate()
    customer.refresh_from_db()
    assert customer.status == Customer.Status.CLOSED and customer.closed_at is not None
    service.refresh_from_db()
    assert (service.status, service.ended_on) == (Service.Status.ENDED, today)
    subscription.refresh_from_db()
    assert subscription.ended_on == today
    # Days already invoiced beyond the last day are credited, as for any service that ends.
    month_end = (today.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    credit_notes = Invoice.objects.filter(customer=customer, kind=Invoice.Kind.CREDIT_NOTE)
    assert credit_notes.count() == (1 if today < month_end else 0)
    dsr.refresh_from_db()
    assert dsr.status == DataSubjectRequest.Status.FULFILLED
    # Money is still owed: the notice says so in general terms; staff see what.
    [notice] = Message.objects.filter(template="privacy_request_response")
    assert "money is still owed on the account, so we keep what we need to recover it" in notice.body_text
    assert invoice.number not in notice.body_text
    run = dsr.erasure_runs.get()
    [ended] = [step for step in run.result if step["model"] == "relationship"]
    assert any(invoice.number in owed for owed in ended["owed"])
    # Everything kept now has a date to go by, counted from the closure.
    assert "while the account is open" not in notice.body_text

    next_month = (today.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    run_billing(next_month, actor=System("tests"))
    assert not Invoice.objects.filter(customer=customer, period_start=next_month).exists()


def test_an_erasure_that_cannot_end_the_relationship_is_refused_and_changes_nothing(customer, provider, staff_client):
    from billing.models import BillingSettings

    owner = MembershipFactory(customer=customer, role=roles.Role.OWNER).user
    service = ServiceFactory(customer=customer, name="db-01", started_on=dt.date(2026, 1, 1))
    subscription = SubscriptionFactory(service=service, plan=PlanFactory(price=Decimal("31.00")))
    BillingSettings.objects.update_or_create(pk=1, defaults={"pro_forma_mode": True})
    run_billing(timezone.localdate().replace(day=1), customer=customer, actor=System("tests"))
    assert Invoice.objects.filter(customer=customer, kind=Invoice.Kind.PRO_FORMA).exists()
    dsr = request_services.open_request_from_portal(
        owner.memberships.get(customer=customer), "erasure", "", about_customer=True
    )

    _fulfil(staff_client, dsr)

    dsr.refresh_from_db()
    assert dsr.status == DataSubjectRequest.Status.OPEN
    assert "payment request" in dsr.notes and "Nothing was changed" in dsr.notes
    customer.refresh_from_db()
    assert customer.status == Customer.Status.ACTIVE
    assert Subscription.objects.get(pk=subscription.pk).ended_on is None
    assert Service.objects.get(pk=service.pk).status == Service.Status.ACTIVE
    owner.refresh_from_db()
    assert owner.is_active and not owner.email.startswith("erased-")


def test_what_is_due_and_not_yet_invoiced_is_billed_before_the_account_closes(customer, provider, staff_client):
    from billing.models import OneOffCharge

    owner = MembershipFactory(customer=customer, role=roles.Role.OWNER).user
    charge = OneOffCharge.objects.create(customer=customer, description="Manual OS reinstall", unit_price="25.00")
    dsr = request_services.open_request_from_portal(
        owner.memberships.get(customer=customer), "erasure", "", about_customer=True
    )

    _fulfil(staff_client, dsr)

    charge.refresh_from_db()
    assert charge.invoice_line is not None  # on the final invoice, by the billing run's rule
    final = charge.invoice_line.invoice
    assert final.customer == customer and final.status != Invoice.Status.DRAFT
    customer.refresh_from_db()
    assert customer.status == Customer.Status.CLOSED
    [ended] = [step for step in dsr.erasure_runs.get().result if step["model"] == "relationship"]
    assert f"Final document {final.number} issued." in ended["done"]
    notice = Message.objects.get(template="privacy_request_response")
    assert "money is still owed on the account" in notice.body_text


def test_a_one_off_charge_added_after_the_final_invoice_is_billed_on_a_further_invoice(
    customer, provider, staff_client
):
    from billing.models import OneOffCharge

    owner, _service, _subscription, period_invoice = _billed_customer(customer)
    # Added after this month's invoice: the closing run has no invoice of the period to put it on.
    charge = OneOffCharge.objects.create(customer=customer, description="Disk wipe certificate", unit_price="40.00")
    dsr = request_services.open_request_from_portal(
        owner.memberships.get(customer=customer), "erasure", "", about_customer=True
    )

    _fulfil(staff_client, dsr)

    charge.refresh_from_db()
    assert charge.invoice_line is not None
    further = charge.invoice_line.invoice
    assert further.pk != period_invoice.pk and further.kind == Invoice.Kind.INVOICE
    assert further.status == Invoice.Status.ISSUED and further.issued_on == timezone.localdate()
    assert further.total_gross == Decimal("48.00")  # 40.00 and UK VAT at 20%
    customer.refresh_from_db()
    assert customer.status == Customer.Status.CLOSED
    [ended] = [step for step in dsr.erasure_runs.get().result if step["model"] == "relationship"]
    assert (
        f"Further invoice {further.number} issued for one-off charges added after the final invoice: "
        "Disk wipe certificate." in ended["done"]
    )
    assert any(item.startswith(f"{further.number}: 48.00 GBP due") for item in ended["owed"]), ended["owed"]
