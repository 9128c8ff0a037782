"""What the admin tests of the portal share: staff logged in by group, a customer with history."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from accounts import roles
from accounts.audit import System, record
from accounts.correspondence import inbound
from accounts.models import IPAssignment, Service
from billing.receivables.payments import record_payment
from privacy.models import DataSubjectRequest
from privacy.services import holds
from tests.accounts.factories import CustomerFactory, MembershipFactory, StaffFactory, enable_totp
from tests.billing.factories import InvoiceFactory, issued_invoice


def staff_client(*groups: str, superuser: bool = False) -> Client:
    """Logged in to the admin in ``groups`` (or as a superuser), with two-factor set up."""
    person = StaffFactory(is_superuser=superuser)
    for group in groups:
        person.groups.add(Group.objects.get(name=group))
    enable_totp(person)
    client = Client()
    client.force_login(person)
    return client


@pytest.fixture
def busy_customer(provider):
    """A customer with something in every section."""
    customer = CustomerFactory(registered_name="Acme Widgets Ltd", postcode="SW1A 1AA")
    MembershipFactory(
        customer=customer, role=roles.Role.OWNER, user__email="owner@acme.example", user__full_name="Olive Owner"
    )
    service = Service.objects.create(customer=customer, name="web-01", kind="vps", platform="virtual")
    IPAssignment(service=service, network="192.0.2.8/29").save()
    invoice = issued_invoice(customer, issued_on=timezone.localdate() - dt.timedelta(days=60))
    InvoiceFactory(customer=customer)  # a draft
    record_payment(customer, amount=invoice.total_gross / 2, received_on=timezone.localdate(), method="bank_transfer",
                   reference="BACS ACME", actor=StaffFactory())  # fmt: skip
    inbound.receive(b"From: owner@acme.example\r\nSubject: Server down?\r\n\r\nweb-01 does not answer")
    DataSubjectRequest.objects.create(
        kind=DataSubjectRequest.Kind.ACCESS, channel=DataSubjectRequest.Channel.PORTAL, customer=customer,
        status=DataSubjectRequest.Status.OPEN, received_at=timezone.now(), details="A copy of our data",
    )  # fmt: skip
    holds.place_hold(customer, reason="Dispute over invoice", actor=StaffFactory())
    record("customer.details_changed", actor=System("test"), target=customer, summary="Phone number corrected")
    return customer
