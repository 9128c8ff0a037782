"""Staff and grants for the storage-access tests."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import Permission
from django.utils import timezone

from accounts import roles
from privacy.storage import services
from tests.accounts.factories import MembershipFactory, ServiceFactory, StaffFactory, enable_totp


def staff_with(*codenames: str, totp: bool = False):
    person = StaffFactory()
    for codename in codenames:
        person.user_permissions.add(Permission.objects.get(content_type__app_label="privacy", codename=codename))
    if totp:
        enable_totp(person)
    return type(person).objects.get(pk=person.pk)  # a fresh permission cache


def technical_contact(customer):
    return MembershipFactory(customer=customer, role=roles.Role.TECHNICAL).user


def asked_grant(customer, *, staff=None, hours: int = 4, starts_in: dt.timedelta = dt.timedelta(0)):
    """A grant staff asked the customer for (pending until a contact answers)."""
    service = ServiceFactory(customer=customer)
    technical_contact(customer)
    asker = staff_with("request_storage_access")
    starts_at = timezone.now().replace(microsecond=0) + starts_in
    return services.ask_customer(
        service=service,
        staff=[staff or asker],
        purpose="Look at the failing backup agent",
        starts_at=starts_at,
        ends_at=starts_at + dt.timedelta(hours=hours),
        actor=asker,
        link_base="https://portal.example",
    )
