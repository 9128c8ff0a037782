"""Fixtures shared by the billing tests."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from accounts import roles
from tests.accounts.factories import StaffFactory, enable_totp


@pytest.fixture
def billing_staff_client(db) -> Client:
    """Logged in to the admin as a member of the Billing staff group, with MFA set up."""
    return logged_in_billing_staff()


def logged_in_billing_staff() -> Client:
    """The fixture's client, for a test that must log in later (at a travelled time)."""
    person = StaffFactory()
    person.groups.add(Group.objects.get(name=roles.BILLING_GROUP))
    enable_totp(person)
    client = Client()
    client.force_login(person)
    return client
