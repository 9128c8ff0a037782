"""Legal holds: placed and lifted by privacy staff, honoured wherever data is removed."""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from django.apps import apps as global_apps
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from accounts import roles
from accounts.correspondence.models import Message
from accounts.groups import sync_groups
from accounts.models import Invitation, Membership, Service, User
from privacy.models import LegalHold
from privacy.services import erasure, requests
from privacy.services.holds import held_filter, is_held, lift_hold, place_hold
from tests.accounts.factories import CustomerFactory, MembershipFactory, ServiceFactory, StaffFactory, enable_totp

pytestmark = pytest.mark.django_db


@pytest.fixture
def officer(db) -> User:
    sync_groups(global_apps)  # the privacy models' permissions, whatever the migrations did
    staff = StaffFactory()
    staff.groups.add(Group.objects.get(name=roles.PRIVACY_GROUP))
    enable_totp(staff)
    return staff


@pytest.fixture
def officer_client(officer, provider) -> Client:
    client = Client()
    client.force_login(officer)
    return client


def test_a_whole_customer_hold_covers_every_record_of_that_customer_only(customer, officer):
    service, other_service = ServiceFactory(customer=customer), ServiceFactory()
    contact = MembershipFactory(customer=customer).user

    hold = place_hold(customer, reason="Litigation: claim HC-2026-1", actor=officer)

    assert hold.placed_by == officer and hold.lifted_at is None
    assert is_held(customer) and is_held(service) and is_held(contact)
    assert not is_held(other_service) and not is_held(other_service.customer)
    assert list(held_filter(Service, Service.objects.all())) == [other_service]
    assert not held_filter(User, User.objects.filter(pk=contact.pk)).exists()


def test_a_whole_customer_hold_also_holds_its_contacts_personal_mail_against_erasure(provider):
    customer = CustomerFactory()
    person = MembershipFactory(customer=customer, role=roles.Role.OWNER)
    EmailAddress.objects.filter(user=person.user).update(verified=True)
    dsr = requests.open_request_from_portal(person, "access", "x", "uk_gdpr")
    personal_mail = Message.objects.get(related_id=str(dsr.pk))
    assert personal_mail.customer_id is None
    place_hold(customer, reason="PACE production order", actor=StaffFactory())
    assert is_held(personal_mail)
    plan = [item for item in erasure.erasure_plan(person=person.user) if item["model"] == "accounts.Message"]
    assert plan and all(item["held"] or item["action"] == "keep" for item in plan)


def test_a_hold_on_one_record_covers_that_record_alone(customer, officer):
    disputed, other = ServiceFactory(customer=customer), ServiceFactory(customer=customer)

    place_hold(customer, reason="Dispute over the outage of 3 May", actor=officer, target=disputed)

    assert is_held(disputed) and not is_held(other) and not is_held(customer)
    assert list(held_filter(Service, Service.objects.filter(customer=customer))) == [other]


def test_a_lifted_hold_no_longer_holds_and_cannot_be_lifted_twice(customer, officer):
    service = ServiceFactory(customer=customer)
    hold = place_hold(customer, reason="Production order ref 7", actor=officer)

    lift_hold(hold, actor=officer)

    hold.refresh_from_db()
    assert hold.lifted_by == officer and hold.lifted_at is not None
    assert not is_held(service)
    with pytest.raises(ValidationError, match="already been lifted"):
        lift_hold(hold, actor=officer)


def test_a_hold_must_name_a_record_of_that_customer_and_say_why(customer, officer):
    with pytest.raises(ValidationError, match="not a record of"):
        place_hold(customer, reason="Dispute", actor=officer, target=ServiceFactory())
    with pytest.raises(ValidationError, match="Say why"):
        place_hold(customer, reason="  ", actor=officer)
    assert not LegalHold.objects.exists()


def test_held_filter_costs_the_same_for_many_rows(customer, officer, django_assert_max_num_queries):
    place_hold(customer, reason="Litigation", actor=officer)
    for _ in range(20):
        ServiceFactory()
    # The content type (unless cached), the holds' target ids, then the filtered rows: never per row.
    with django_assert_max_num_queries(3):
        assert len(held_filter(Service, Service.objects.all())) == 20


# ---------------------------------------------------------------------------------------
# The admin
# ---------------------------------------------------------------------------------------


def test_an_officer_places_a_hold_in_the_admin_through_the_service(customer, officer, officer_client):
    membership = MembershipFactory(customer=customer)
    response = officer_client.post(
        reverse("admin:privacy_legalhold_add"),
        {
            "customer": customer.pk,
            "target_type": ContentType.objects.get_for_model(Membership).pk,
            "target_id": str(membership.pk),
            "reason": "Dispute over who may act for the customer",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    hold = LegalHold.objects.get()
    assert hold.placed_by == officer and hold.target == membership
    assert is_held(membership)


def test_the_admin_refuses_a_record_of_another_customer(customer, officer_client):
    stranger = ServiceFactory()
    response = officer_client.post(
        reverse("admin:privacy_legalhold_add"),
        {
            "customer": customer.pk,
            "target_type": ContentType.objects.get_for_model(Service).pk,
            "target_id": str(stranger.pk),
            "reason": "Dispute",
        },
    )
    assert response.status_code == 200
    assert "is not a record of" in response.content.decode()
    assert not LegalHold.objects.exists()


def test_an_officer_lifts_holds_with_the_admin_action_and_cannot_delete_them(customer, officer, officer_client):
    hold = place_hold(customer, reason="Litigation", actor=officer)
    changelist = reverse("admin:privacy_legalhold_changelist")

    page = officer_client.get(changelist)
    assert "Lift selected holds" in page.content.decode()
    assert "delete_selected" not in page.content.decode()

    officer_client.post(changelist, {"action": "lift_selected", "_selected_action": [hold.pk]})
    hold.refresh_from_db()
    assert hold.lifted_by == officer
    assert officer_client.post(reverse("admin:privacy_legalhold_delete", args=[hold.pk])).status_code == 403
    assert LegalHold.objects.filter(pk=hold.pk).exists()


def test_support_staff_cannot_place_holds(customer, provider):
    support = StaffFactory()
    support.groups.add(Group.objects.get(name=roles.SUPPORT_GROUP))
    enable_totp(support)
    client = Client()
    client.force_login(support)
    assert client.get(reverse("admin:privacy_legalhold_add")).status_code == 403
    assert not Invitation.objects.exists()
