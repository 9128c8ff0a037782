from __future__ import annotations

import datetime as dt

import pytest

from accounts import roles
from tests.accounts.factories import IPAssignmentFactory, MembershipFactory, ServiceFactory


@pytest.fixture
def hosted(db, provider):
    """A customer's service holding 198.51.100.25 since 2026-01-01, with an owner and a technical contact."""
    service = ServiceFactory(name="web-01")
    IPAssignmentFactory(service=service, network="198.51.100.25", assigned_on=dt.date(2026, 1, 1))
    MembershipFactory(customer=service.customer, role=roles.Role.OWNER, user__email="owner@customer.example")
    MembershipFactory(customer=service.customer, role=roles.Role.TECHNICAL, user__email="tech@customer.example")
    MembershipFactory(customer=service.customer, role=roles.Role.BILLING, user__email="billing@customer.example")
    return service
