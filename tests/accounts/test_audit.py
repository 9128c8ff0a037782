"""The audit trail (who did what, from where) and a service's suspension history."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.urls import reverse

from accounts import audit, roles, services
from accounts.audit import AuditEvent, System
from accounts.correspondence.models import Message
from accounts.models import Service, ServiceStatusChange
from tests.accounts.factories import PASSWORD, MembershipFactory, ServiceFactory, StaffFactory, enable_totp

pytestmark = pytest.mark.django_db


def staff_client(group: str) -> tuple[Client, object]:
    staff = StaffFactory()
    staff.groups.add(Group.objects.get(name=group))
    enable_totp(staff)
    client = Client()
    client.force_login(staff)
    return client, staff


def test_a_role_change_in_the_portal_is_recorded_with_who_what_and_from_where(owner_client, customer, owner):
    billing = MembershipFactory(customer=customer, role=roles.Role.BILLING)
    response = owner_client.post(
        reverse("accounts:change_contact_role", args=[billing.pk]),
        {"role": roles.Role.TECHNICAL},
        REMOTE_ADDR="203.0.113.9",
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="contact.role_changed")
    assert (event.actor, event.actor_label, event.customer) == (owner, owner.email, customer)
    assert event.changes == {"role": ["billing", "technical"]}
    assert event.ip_address == "203.0.113.9"
    assert event.target_id == str(billing.pk) and event.security

    page = owner_client.get(reverse("accounts:activity"))
    assert f"Made {billing.user.email} technical" in page.content.decode()
    assert "203.0.113.9" in page.content.decode()


def test_another_customers_activity_and_other_contacts_sign_ins_are_not_shown(customer, owner, provider):
    colleague = MembershipFactory(customer=customer, role=roles.Role.BILLING).user
    stranger_membership = MembershipFactory(role=roles.Role.OWNER)
    services.change_contact_role(
        MembershipFactory(customer=stranger_membership.customer, role=roles.Role.BILLING),
        role=roles.Role.TECHNICAL,
        actor=stranger_membership.user,
    )
    for person in (owner, colleague):
        Client().post(reverse("account_login"), {"login": person.email, "password": PASSWORD})
    assert AuditEvent.objects.filter(action="login.signed_in").count() == 2

    client = Client()
    client.force_login(owner)  # a second sign-in of the owner's
    page = client.get(reverse("accounts:activity")).content.decode()
    assert page.count("Signed in") == 2  # the owner's own sign-ins, not the colleague's
    assert colleague.email not in page
    assert "technical" not in page  # the other customer's role change


def test_events_are_append_only():
    event = audit.record("test.happened", actor=System("a test"), summary="first")
    event.summary = "rewritten"
    with pytest.raises(PermissionDenied):
        event.save()
    if connection.vendor == "postgresql":
        with pytest.raises(IntegrityError), transaction.atomic():
            AuditEvent.objects.filter(pk=event.pk).update(summary="rewritten")
    assert AuditEvent.objects.get(pk=event.pk).summary == "first"


def test_every_event_has_an_actor():
    with pytest.raises(TypeError, match="User or a System actor"):
        audit.record("test.happened", actor=None)
    assert str(audit.record("x", actor=System("billing run")).actor_label) == "System (billing run)"


def test_suspending_a_service_records_it_tells_the_customer_and_shows_on_its_page(owner_client, customer, provider):
    MembershipFactory(customer=customer, role=roles.Role.TECHNICAL)
    service = ServiceFactory(customer=customer)
    staff = StaffFactory()
    change = services.suspend_service(service, actor=staff, reason="Sending spam since 02:00.", source="abuse")
    service.refresh_from_db()
    assert service.status == Service.Status.SUSPENDED
    assert (change.from_status, change.to_status, change.actor) == ("active", "suspended", staff)
    mail = Message.objects.get(subject=f"Service {service.name} is suspended")
    assert "Sending spam since 02:00." in mail.body_text
    assert AuditEvent.objects.filter(action="service.suspended", target_id=str(service.pk), actor=staff).exists()

    page = owner_client.get(reverse("accounts:service_detail", args=[service.pk])).content.decode()
    assert "Sending spam since 02:00." in page and "Suspended" in page

    services.restore_service(service, actor=System("payment received"), reason="Paid in full.", source="non_payment")
    service.refresh_from_db()
    assert service.status == Service.Status.ACTIVE
    assert list(service.status_changes.values_list("to_status", flat=True)) == ["active", "suspended"]


def test_a_service_change_that_does_not_apply_is_refused_and_changes_nothing(customer, provider):
    service = ServiceFactory(customer=customer)
    with pytest.raises(ValidationError, match="Give the reason"):
        services.suspend_service(service, actor=System("t"), reason="  ", source="staff")
    with pytest.raises(ValidationError, match="cannot be active"):
        services.restore_service(service, actor=System("t"), reason="why", source="staff")
    assert not ServiceStatusChange.objects.exists() and not Message.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="service.").exists()


def test_support_suspends_from_the_admin_with_a_reason_and_history_shows_the_trail(customer, provider):
    service = ServiceFactory(customer=customer)
    client, staff = staff_client(roles.SUPPORT_GROUP)
    changelist = reverse("admin:accounts_service_changelist")
    asked = client.post(changelist, {"action": "suspend", "_selected_action": [service.pk]})
    assert asked.status_code == 200 and b"reason" in asked.content
    done = client.post(
        changelist,
        {
            "action": "suspend",
            "_selected_action": [service.pk],
            "apply": "1",
            "reason": "Unpaid",
            "source": "non_payment",
        },
    )
    assert done.status_code == 302
    service.refresh_from_db()
    assert service.status == Service.Status.SUSPENDED

    history = client.get(reverse("admin:accounts_service_history", args=[service.pk]))
    assert history.status_code == 302
    trail = client.get(history.url).content.decode()
    assert "service.suspended" in trail and staff.email in trail

    customer_trail = client.get(client.get(reverse("admin:accounts_customer_history", args=[customer.pk])).url)
    assert "service.suspended" in customer_trail.content.decode()


def test_the_billing_group_cannot_suspend_services(customer, provider):
    service = ServiceFactory(customer=customer)
    client, _ = staff_client(roles.BILLING_GROUP)
    client.post(
        reverse("admin:accounts_service_changelist"),
        {"action": "suspend", "_selected_action": [service.pk], "apply": "1", "reason": "x", "source": "staff"},
    )
    service.refresh_from_db()
    assert service.status == Service.Status.ACTIVE


def test_issuing_payments_and_refunds_are_recorded_with_their_actor(customer):
    from decimal import Decimal

    from billing.models import Payment
    from billing.workflows.settlement import receive_payment
    from tests.billing.factories import issued_invoice

    invoice = issued_invoice(customer)
    issued = AuditEvent.objects.get(action="document.issued", target_id=str(invoice.pk))
    assert issued.customer == customer and issued.actor_label == "System (tests)"
    assert invoice.number in issued.summary

    clerk = StaffFactory()
    receive_payment(
        customer,
        amount=Decimal("12.00"),
        received_on=invoice.issued_on,
        method=Payment.Method.BANK_TRANSFER,
        actor=clerk,
    )
    recorded = AuditEvent.objects.get(action="payment.recorded")
    assert (recorded.actor, recorded.customer) == (clerk, customer) and "12.00" in recorded.summary


def test_an_export_shows_on_the_activity_page_but_a_legal_hold_never_reaches_the_customer(
    owner_client, customer, owner
):
    from privacy.services.export import request_export
    from privacy.services.holds import place_hold

    request_export(requested_by=owner, customer=customer)
    place_hold(customer, reason="Dispute over invoice 42", actor=StaffFactory())
    assert AuditEvent.objects.filter(action="legal_hold.placed").exists()
    page = owner_client.get(reverse("accounts:activity")).content.decode()
    assert "Asked for an export of the account" in page
    assert "hold" not in page.lower() and "Dispute over invoice 42" not in page
    assert not AuditEvent.objects.filter(customer=customer, action__startswith="legal_hold").exists()
