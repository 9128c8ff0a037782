"""Storage access: grants for virtual servers only, the three routes, the enforcement
point, sessions, and the customer's Storage access page."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import quote

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import roles
from accounts.audit import AuditEvent
from accounts.correspondence.models import Message
from accounts.models import Service
from privacy.models import DisclosureEntry
from privacy.storage import services
from privacy.storage.models import StorageAccessCheck, StorageAccessSession, StorageAccessTool, StorageGrant
from tests.accounts.factories import MembershipFactory, ServiceFactory
from tests.privacy.storage_helpers import asked_grant, staff_with, technical_contact

pytestmark = pytest.mark.django_db


def _physical(customer) -> Service:
    return ServiceFactory(customer=customer, kind=Service.Kind.DEDICATED, platform=Service.Platform.PHYSICAL)


def _window(hours: int = 2):
    start = timezone.now().replace(microsecond=0)
    return start, start + dt.timedelta(hours=hours)


def _allowed(service, staff) -> bool:
    return services.check_access(service=service, staff_email=staff.email).allowed


# -- physical servers: refused at every layer ----------------------------------------------


def test_no_route_makes_a_grant_for_a_physical_server(customer, provider):
    service = _physical(customer)
    contact = technical_contact(customer)
    asker = staff_with("request_storage_access", "necessary_storage_access")
    start, end = _window()

    with pytest.raises(ValidationError, match="physical server"):
        services.request_access(service=service, purpose="Look", starts_at=start, ends_at=end, actor=contact)
    with pytest.raises(ValidationError, match="physical server"):
        services.ask_customer(service=service, staff=[asker], purpose="Look", starts_at=start, ends_at=end, actor=asker)
    with pytest.raises(ValidationError, match="physical server"):
        services.open_necessary_access(
            service=service,
            staff=[asker],
            necessity_reason="restore",
            reason_detail="Disk failed",
            purpose="Restore",
            starts_at=start,
            ends_at=end,
            actor=asker,
        )
    assert not StorageGrant.objects.exists()


def test_the_database_refuses_a_grant_on_a_physical_server(customer):
    physical, virtual = _physical(customer), ServiceFactory(customer=customer)
    asker = staff_with()
    start, end = _window()
    fields = {"customer": customer, "route": "customer_request", "purpose": "x", "requested_by": asker}

    with pytest.raises(IntegrityError), transaction.atomic():
        StorageGrant.objects.create(service=physical, starts_at=start, ends_at=end, **fields)
    grant = StorageGrant.objects.create(service=virtual, starts_at=start, ends_at=end, **fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        StorageGrant.objects.filter(pk=grant.pk).update(service=physical)
    # Nor can a service with grants be switched to the physical platform afterwards.
    with pytest.raises(IntegrityError), transaction.atomic():
        Service.objects.filter(pk=virtual.pk).update(platform=Service.Platform.PHYSICAL, kind=Service.Kind.DEDICATED)
    virtual.refresh_from_db()
    assert virtual.platform == Service.Platform.VIRTUAL
    physical_without_grants = ServiceFactory(customer=customer)
    Service.objects.filter(pk=physical_without_grants.pk).update(platform=Service.Platform.PHYSICAL)


def test_the_admin_refuses_a_grant_on_a_physical_server(customer, provider):
    service = _physical(customer)
    asker = staff_with("request_storage_access", totp=True)
    client = Client()
    client.force_login(asker)
    start, end = _window()

    response = client.post(
        reverse("admin:privacy_storagegrant_add"),
        {
            "service": service.pk,
            "route": "staff_request",
            "staff": [asker.pk],
            "purpose": "Look at it",
            "starts_at_0": start.date().isoformat(),
            "starts_at_1": timezone.localtime(start).strftime("%H:%M:%S"),
            "ends_at_0": timezone.localtime(end).date().isoformat(),
            "ends_at_1": timezone.localtime(end).strftime("%H:%M:%S"),
        },
    )

    assert response.status_code == 200
    assert "physical server" in response.content.decode()
    assert not StorageGrant.objects.exists()


def test_the_check_denies_a_physical_server_and_the_page_says_why(customer, owner_client):
    service = _physical(customer)
    staff = staff_with()

    answer = services.check_access(service=service, staff_email=staff.email)

    assert not answer.allowed and "Physical server" in answer.reason
    page = owner_client.get(reverse("storage_access:overview")).content.decode()
    assert "this is a physical server, and our staff do not access its storage" in page


# -- the lifecycle, and the check at each step ---------------------------------------------


def test_staff_ask_the_customer_approves_and_then_revokes(customer, provider):
    grant = asked_grant(customer)
    staff = grant.staff.get()
    contact = customer.memberships.get(role=roles.Role.TECHNICAL).user

    mail = Message.objects.get(related_id=str(grant.pk))
    assert mail.kind == "service" and contact.email in mail.to_addresses
    assert f"https://portal.example/storage-access/{grant.pk}/" in mail.body_text
    assert not _allowed(grant.service, staff)  # no answer means no access

    services.approve(grant, actor=contact)
    answer = services.check_access(service=grant.service, staff_email=staff.email)
    assert answer.allowed and answer.grant == grant
    other_staff = staff_with()
    assert not _allowed(grant.service, other_staff)  # only named staff

    services.revoke(grant, actor=contact, reason="Fixed it ourselves")
    assert not _allowed(grant.service, staff)
    with pytest.raises(ValidationError, match="nothing to revoke"):
        services.revoke(grant, actor=contact)
    assert StorageAccessCheck.objects.filter(service=grant.service).count() == 4


def test_a_declined_request_never_allows_access(customer, provider):
    grant = asked_grant(customer)
    contact = customer.memberships.get(role=roles.Role.TECHNICAL).user

    services.decline(grant, actor=contact, reason="Not now")

    assert not _allowed(grant.service, grant.staff.get())
    with pytest.raises(ValidationError, match="no longer waiting"):
        services.approve(grant, actor=contact)


def test_only_an_owner_or_technical_contact_decides(customer, provider):
    grant = asked_grant(customer)
    billing = MembershipFactory(customer=customer, role=roles.Role.BILLING).user
    stranger = MembershipFactory(role=roles.Role.OWNER).user

    for person in (billing, stranger):
        with pytest.raises(PermissionDenied):
            services.approve(grant, actor=person)
    grant.refresh_from_db()
    assert grant.status == StorageGrant.Status.PENDING


def test_the_check_follows_the_time_window_to_the_second(customer, provider):
    grant = asked_grant(customer, starts_in=dt.timedelta(hours=1), hours=2)
    services.approve(grant, actor=customer.memberships.get(role=roles.Role.TECHNICAL).user)
    staff, service = grant.staff.get(), grant.service
    second = dt.timedelta(seconds=1)

    with time_machine.travel(grant.starts_at - second, tick=False):
        assert not _allowed(service, staff)
        assert grant.state() == "scheduled"
    with time_machine.travel(grant.starts_at, tick=False):
        assert _allowed(service, staff)
    with time_machine.travel(grant.ends_at - second, tick=False):
        assert _allowed(service, staff)
        assert grant.state() == "active"
    with time_machine.travel(grant.ends_at, tick=False):
        assert not _allowed(service, staff)
        assert grant.state() == "ended"
        with pytest.raises(ValidationError, match="already ended"):
            services.revoke(grant, actor=customer.memberships.get(role=roles.Role.TECHNICAL).user)


def test_a_grant_lasts_no_longer_than_the_setting(customer, settings):
    settings.PORTAL_STORAGE_GRANT_MAX_HOURS = 12
    contact = technical_contact(customer)
    start, _ = _window()

    with pytest.raises(ValidationError, match="at most 12 hours"):
        services.request_access(
            service=ServiceFactory(customer=customer),
            purpose="Look",
            starts_at=start,
            ends_at=start + dt.timedelta(hours=12, seconds=1),
            actor=contact,
        )


def test_the_customers_own_request_is_the_approval_and_support_names_who_does_it(customer, owner_client, owner):
    service = ServiceFactory(customer=customer)

    response = owner_client.post(
        reverse("storage_access:request"), {"service": service.pk, "purpose": "My site is down", "hours": 6}
    )

    grant = StorageGrant.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("storage_access:grant", args=[grant.pk])
    assert grant.route == "customer_request" and grant.status == "approved" and grant.approved_by == owner
    assert grant.ends_at - grant.starts_at == dt.timedelta(hours=6)
    support = staff_with("request_storage_access")
    assert not _allowed(service, support)  # nobody named yet
    services.assign_staff(grant, staff=[support], actor=support)
    assert _allowed(service, support)


def test_the_request_form_offers_no_physical_server(customer, owner_client):
    physical = _physical(customer)

    response = owner_client.post(
        reverse("storage_access:request"), {"service": physical.pk, "purpose": "Look", "hours": 2}
    )

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not StorageGrant.objects.exists()


# -- necessary access: two members of staff ---------------------------------------------------


def _necessary(customer, opener):
    start, end = _window()
    technical_contact(customer)
    return services.open_necessary_access(
        service=ServiceFactory(customer=customer),
        staff=[opener],
        necessity_reason="security_incident",
        reason_detail="A compromised hypervisor neighbour; we must check the disk image.",
        purpose="Check the disk image for tampering",
        starts_at=start,
        ends_at=end,
        actor=opener,
    )


def test_necessary_access_needs_the_permission(customer, provider):
    with pytest.raises(PermissionDenied):
        _necessary(customer, staff_with("request_storage_access"))


def test_necessary_access_needs_a_second_member_of_staff_and_tells_the_customer(customer, provider):
    opener, second = staff_with("necessary_storage_access"), staff_with("necessary_storage_access")
    grant = _necessary(customer, opener)
    assert not _allowed(grant.service, opener)

    with pytest.raises(ValidationError, match="second member of staff"):
        services.approve_necessary_access(grant, actor=opener)
    with pytest.raises(PermissionDenied):
        services.approve_necessary_access(grant, actor=staff_with("request_storage_access"))
    assert not Message.objects.exists()

    services.approve_necessary_access(grant, actor=second)

    assert _allowed(grant.service, opener)
    mail = Message.objects.get(related_id=str(grant.pk))
    assert mail.kind == "service"
    assert "An active security incident on our platform" in mail.body_text
    assert "compromised hypervisor" in mail.body_text
    grant.refresh_from_db()
    assert grant.approved_by == second and grant.customer_told_at is not None


def test_the_second_approval_works_through_the_admin_action(customer, provider):
    opener = staff_with("necessary_storage_access")
    second = staff_with("necessary_storage_access", "view_storagegrant", totp=True)
    grant = _necessary(customer, opener)
    client = Client()
    client.force_login(second)

    client.post(
        reverse("admin:privacy_storagegrant_changelist"),
        {"action": "approve_necessary", "_selected_action": [grant.pk]},
    )

    grant.refresh_from_db()
    assert grant.status == "approved" and grant.approved_by == second


# -- sessions and the enforcement point over HTTP and the command line ----------------------


@pytest.fixture
def approved(customer, provider):
    grant = asked_grant(customer)
    services.approve(grant, actor=customer.memberships.get(role=roles.Role.TECHNICAL).user)
    return grant


def _api(client, name, token, body, **kwargs):
    return client.post(
        reverse(f"storage_api:{name}", kwargs=kwargs),
        json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"} if token else {},
    )


def test_a_tool_checks_and_reports_a_session_over_http(approved):
    staff = approved.staff.get()
    tool, token = services.create_tool(name="rescue-image", actor=staff)
    assert token not in StorageAccessTool.objects.values_list("token_sha256", flat=True)[0]
    client = Client(enforce_csrf_checks=True)

    answer = _api(client, "check", token, {"service": approved.service.pk, "staff": staff.email}).json()
    assert answer["allowed"] is True and answer["grant"] == approved.pk

    started = _api(client, "start_session", token, {"grant": approved.pk, "staff": staff.email}).json()
    ended = _api(client, "end_session", token, {"what_was_done": "Restarted the agent"}, session_id=started["session"])

    assert ended.status_code == 200
    session = StorageAccessSession.objects.get()
    assert session.tool == tool and session.source == "tool" and session.what_was_done == "Restarted the agent"
    entry = DisclosureEntry.objects.get()
    assert entry.recipient_kind == "storage_access" and list(entry.customers.all()) == [approved.customer]
    check = StorageAccessCheck.objects.get()
    assert check.tool == tool and check.grant == approved


def test_the_endpoint_refuses_a_missing_wrong_or_revoked_token(approved):
    staff = approved.staff.get()
    tool, token = services.create_tool(name="backup-agent", actor=staff)
    client = Client()
    body = {"service": approved.service.pk, "staff": staff.email}

    assert _api(client, "check", None, body).status_code == 401
    assert _api(client, "check", "sat_wrong", body).status_code == 401
    services.revoke_tool(tool, actor=staff)
    assert _api(client, "check", token, body).status_code == 401
    assert not StorageAccessCheck.objects.exists()


def test_the_endpoint_denies_outside_a_grant_and_refuses_a_session(customer, provider):
    grant = asked_grant(customer)  # not approved
    staff = grant.staff.get()
    _, token = services.create_tool(name="rescue-image", actor=staff)
    client = Client()

    answer = _api(client, "check", token, {"service": grant.service.pk, "staff": staff.email}).json()
    refused = _api(client, "start_session", token, {"grant": grant.pk, "staff": staff.email})

    assert answer == {
        "allowed": False,
        "grant": None,
        "ends_at": None,
        "reason": "No grant in force names this member of staff for this service.",
        "check": StorageAccessCheck.objects.get().pk,
    }
    assert refused.status_code == 409 and "not in force" in refused.json()["error"]
    assert not StorageAccessSession.objects.exists()


def test_the_command_answers_allowed_or_denied_with_the_grant(approved, capsys):
    staff = approved.staff.get()

    call_command("storage_access", "check", "--service", str(approved.service.pk), "--staff", staff.email)
    assert f"allowed grant={approved.pk}" in capsys.readouterr().out

    other = staff_with()
    with pytest.raises(SystemExit) as exited:
        call_command("storage_access", "check", "--service", approved.service.name, "--staff", other.email)
    assert exited.value.code == 1
    assert "denied" in capsys.readouterr().out
    call_command("storage_access", "start", "--grant", str(approved.pk), "--staff", staff.email)
    session = StorageAccessSession.objects.get()
    call_command("storage_access", "end", "--session", str(session.pk), "--done", "Read the logs")
    session.refresh_from_db()
    assert session.ended_at and session.what_was_done == "Read the logs" and session.source == "staff"


def test_staff_enter_a_session_afterwards_in_the_admin(approved):
    staff = approved.staff.get()
    clerk = staff_with("request_storage_access", "add_storageaccesssession", "view_storageaccesssession", totp=True)
    client = Client()
    client.force_login(clerk)
    start = timezone.localtime(approved.starts_at + dt.timedelta(minutes=1))
    end = start + dt.timedelta(minutes=20)

    with time_machine.travel(approved.starts_at + dt.timedelta(hours=1), tick=False):
        response = client.post(
            reverse("admin:privacy_storageaccesssession_add"),
            {
                "grant": approved.pk,
                "staff": staff.pk,
                "started_at_0": start.date().isoformat(),
                "started_at_1": start.strftime("%H:%M:%S"),
                "ended_at_0": end.date().isoformat(),
                "ended_at_1": end.strftime("%H:%M:%S"),
                "what_was_done": "Copied the database dump the customer asked for",
            },
        )

    assert response.status_code == 302, response.content.decode()[:3000]
    session = StorageAccessSession.objects.get()
    assert session.recorded_by == clerk and session.source == "staff"


# -- the customer's page ----------------------------------------------------------------------


def test_the_customer_sees_their_grants_sessions_and_checks_and_answers_on_the_page(customer, owner, owner_client):
    grant = asked_grant(customer)
    staff = grant.staff.get()
    services.check_access(service=grant.service, staff_email=staff.email)
    other_customers = asked_grant(MembershipFactory().customer)

    page = owner_client.get(reverse("storage_access:overview")).content.decode()
    assert "Waiting for your answer" in page and "Look at the failing backup agent" in page
    assert "No grant in force names this member of staff" in page
    assert reverse("storage_access:grant", args=[other_customers.pk]) not in page

    response = owner_client.post(reverse("storage_access:grant", args=[grant.pk]), {"action": "approve"})
    assert response.status_code == 302
    grant.refresh_from_db()
    assert grant.status == "approved" and grant.approved_by == owner
    assert owner_client.get(reverse("storage_access:grant", args=[other_customers.pk])).status_code == 404


def test_a_billing_contact_may_not_use_the_storage_access_page(customer, provider):
    billing = MembershipFactory(customer=customer, role=roles.Role.BILLING).user
    client = Client()
    client.force_login(billing)

    assert client.get(reverse("storage_access:overview")).status_code == 403


def test_the_overview_costs_the_same_for_many_grants(customer, owner_client, django_assert_max_num_queries):
    for _ in range(5):
        asked_grant(customer)

    with django_assert_max_num_queries(20):
        owner_client.get(reverse("storage_access:overview"))


def test_each_decision_is_in_the_audit_trail_and_on_the_customers_activity(customer, provider):
    grant = asked_grant(customer)
    contact = customer.memberships.get(role=roles.Role.TECHNICAL).user
    services.approve(grant, actor=contact)
    services.revoke(grant, actor=contact)

    events = AuditEvent.objects.about(grant).order_by("pk")
    assert [e.action for e in events] == ["storage_grant.asked", "storage_grant.approved", "storage_grant.revoked"]
    assert events[1].actor == contact and events[1].customer == customer and events[1].security
    assert events[2].changes == {"status": ["approved", "revoked"]}


def test_the_emailed_link_has_the_contact_log_in_first_then_answer(customer, provider):
    grant = asked_grant(customer)
    contact = customer.memberships.get(role=roles.Role.TECHNICAL).user
    url = reverse("storage_access:grant", args=[grant.pk])
    client = Client()

    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_login')}?next={quote(url)}"

    client.force_login(contact)
    page = client.get(url).content.decode()
    assert "Approve" in page and "Decline" in page


def test_staff_see_a_grants_history_from_the_admin(customer, provider):
    grant = asked_grant(customer)
    viewer = staff_with("view_storagegrant", totp=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    client = Client()
    client.force_login(viewer)

    history = client.get(reverse("admin:privacy_storagegrant_history", args=[grant.pk]), follow=True)

    assert history.status_code == 200
    assert "storage_grant.asked" in history.content.decode()
