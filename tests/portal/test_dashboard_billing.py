"""The dashboard's billing summary: balance and next invoice, for owners and billing contacts only."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

from accounts import roles
from accounts.audit import System
from billing.models import Payment
from billing.workflows.settlement import receive_payment
from tests.accounts.factories import MembershipFactory, ServiceFactory
from tests.billing.factories import SubscriptionFactory, issued_invoice

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("portal:dashboard")


def _page_for(customer, role) -> str:
    client = Client()
    client.force_login(MembershipFactory(customer=customer, role=role).user)
    response = client.get(DASHBOARD)
    assert response.status_code == 200
    return response.content.decode()


def test_billing_contact_sees_the_balance_after_an_issued_invoice(customer, provider):
    issued_invoice(customer, [("Hosting", 1, "10.00")])  # £12.00 with 20% VAT

    html = _page_for(customer, roles.Role.BILLING)

    assert "Balance" in html
    assert "£12.00 owed" in html


def test_technical_contact_does_not_see_billing(customer, provider):
    issued_invoice(customer, [("Hosting", 1, "10.00")])

    html = _page_for(customer, roles.Role.TECHNICAL)

    assert "£" not in html
    assert "Balance" not in html and "Next invoice" not in html


def test_overpayment_is_shown_in_credit(customer, provider):
    issued_invoice(customer, [("Hosting", 1, "10.00")])
    receive_payment(
        customer,
        amount="20.00",
        received_on=dt.date(2026, 11, 1),
        method=Payment.Method.BANK_TRANSFER,
        actor=System("tests"),
    )

    html = _page_for(customer, roles.Role.OWNER)

    assert "£8.00 in credit" in html


def test_next_invoice_is_the_earliest_unbilled_day_of_a_running_subscription(customer, provider):
    service = ServiceFactory(customer=customer)
    SubscriptionFactory(service=service, started_on=dt.date(2026, 1, 1), billed_until=dt.date(2026, 11, 30))
    SubscriptionFactory(service=ServiceFactory(customer=customer), started_on=dt.date(2026, 12, 15))
    # Ended and billed to its end: never billed again.
    SubscriptionFactory(
        service=service,
        started_on=dt.date(2025, 1, 1),
        ended_on=dt.date(2025, 6, 30),
        billed_until=dt.date(2025, 6, 30),
    )
    SubscriptionFactory(service=ServiceFactory(), started_on=dt.date(2026, 1, 1))  # someone else's

    html = _page_for(customer, roles.Role.BILLING)

    assert "1 December 2026" in html


def test_no_next_invoice_without_subscriptions(customer, provider):
    html = _page_for(customer, roles.Role.BILLING)

    assert "£0.00" in html
    assert "None due" in html
