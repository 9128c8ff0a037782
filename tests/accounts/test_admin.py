from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from accounts import roles, services
from accounts.audit import System
from accounts.models import Customer, Invitation, LegalForm, Membership, ProviderDetails, User
from tests.accounts.factories import (
    CustomerFactory,
    IPAssignmentFactory,
    MembershipFactory,
    ProviderDetailsFactory,
    ServiceFactory,
    UserFactory,
    enable_totp,
)

pytestmark = pytest.mark.django_db


def _form_data(response) -> dict:
    """The POST a browser would send for an admin change form, as rendered."""
    data: dict = {}

    def add(form) -> None:
        for bound in form:
            if bound.field.disabled:
                continue
            value = bound.value()
            if value is None or value is False:
                continue
            if value is True:
                value = "on"
            elif isinstance(value, list | tuple):
                value = [str(v) for v in value]
            elif isinstance(value, dt.date | dt.datetime):
                value = value.isoformat()
            data[bound.html_name] = value

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        add(inline.formset.management_form)
        for form in inline.formset.forms:
            add(form)
    return data


def test_customer_changelist_loads_with_search_and_filters(admin_client_mfa):
    CustomerFactory(registered_name="Acme Widgets Ltd")
    CustomerFactory(registered_name="Jo Bloggs", legal_form=LegalForm.INDIVIDUAL, company_number="")

    listing = admin_client_mfa.get(reverse("admin:accounts_customer_changelist"))
    individuals = admin_client_mfa.get(
        reverse("admin:accounts_customer_changelist"), {"legal_form__exact": LegalForm.INDIVIDUAL}
    )
    found = admin_client_mfa.get(reverse("admin:accounts_customer_changelist"), {"q": "acme"})

    assert listing.status_code == 200
    assert "Acme Widgets Ltd" in listing.content.decode() and "Jo Bloggs" in listing.content.decode()
    assert "Jo Bloggs" in individuals.content.decode() and "Acme Widgets Ltd" not in individuals.content.decode()
    assert "Acme Widgets Ltd" in found.content.decode() and "Jo Bloggs" not in found.content.decode()


def test_customer_change_page_shows_contacts_and_services(admin_client_mfa):
    membership = MembershipFactory()
    ServiceFactory(customer=membership.customer, name="web-42")

    response = admin_client_mfa.get(reverse("admin:accounts_customer_change", args=[membership.customer.pk]))

    assert response.status_code == 200
    assert "web-42" in response.content.decode()
    assert escape(str(membership.user)) in response.content.decode()  # a name may hold an apostrophe


def test_admin_keeps_the_last_owner(admin_client_mfa):
    membership = MembershipFactory(role=roles.Role.OWNER)
    url = reverse("admin:accounts_customer_change", args=[membership.customer.pk])
    data = _form_data(admin_client_mfa.get(url))
    data["memberships-0-role"] = roles.Role.TECHNICAL

    demoted = admin_client_mfa.post(url, data)
    data["memberships-0-role"] = roles.Role.OWNER
    data["memberships-0-DELETE"] = "on"
    removed = admin_client_mfa.post(url, data)

    for response in (demoted, removed):
        assert response.status_code == 200
        assert "must keep at least one owner" in response.content.decode()
    membership.refresh_from_db()
    assert membership.role == roles.Role.OWNER


def test_admin_hands_over_ownership_in_one_save(admin_client_mfa):
    old_owner = MembershipFactory(role=roles.Role.OWNER)
    new_owner = MembershipFactory(customer=old_owner.customer, role=roles.Role.TECHNICAL)
    url = reverse("admin:accounts_customer_change", args=[old_owner.customer.pk])
    data = _form_data(admin_client_mfa.get(url))
    rows = {str(data[f"memberships-{i}-id"]): i for i in range(2)}
    data[f"memberships-{rows[str(new_owner.pk)]}-role"] = roles.Role.OWNER
    data[f"memberships-{rows[str(old_owner.pk)]}-DELETE"] = "on"

    response = admin_client_mfa.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert not Membership.objects.filter(pk=old_owner.pk).exists()
    new_owner.refresh_from_db()
    assert new_owner.role == roles.Role.OWNER


def test_provider_details_are_a_singleton(admin_client_mfa):
    details = ProviderDetailsFactory()

    changelist = admin_client_mfa.get(reverse("admin:accounts_providerdetails_changelist"))
    add = admin_client_mfa.get(reverse("admin:accounts_providerdetails_add"))
    delete = admin_client_mfa.get(reverse("admin:accounts_providerdetails_delete", args=[details.pk]))

    assert changelist.status_code == 302
    assert changelist["Location"] == reverse("admin:accounts_providerdetails_change", args=[details.pk])
    assert add.status_code == 403
    assert delete.status_code == 403
    assert ProviderDetails.objects.count() == 1


def test_provider_details_changelist_leads_to_adding_them_when_missing(admin_client_mfa):
    response = admin_client_mfa.get(reverse("admin:accounts_providerdetails_changelist"))

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:accounts_providerdetails_add")


def test_provider_details_refuse_an_invalid_vat_number(admin_client_mfa):
    details = ProviderDetailsFactory()
    url = reverse("admin:accounts_providerdetails_change", args=[details.pk])
    data = _form_data(admin_client_mfa.get(url))
    data["vat_number"] = "GB123"

    response = admin_client_mfa.post(url, data)

    assert response.status_code == 200
    assert "wrong number of characters" in response.content.decode()


def test_staff_invitation_goes_through_the_service(
    admin_client_mfa, mailoutbox, django_capture_on_commit_callbacks, provider
):
    customer = CustomerFactory()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_mfa.post(
            reverse("admin:accounts_invitation_add"),
            {"customer": customer.pk, "email": "Owner@Example.net", "role": roles.Role.OWNER},
        )

    assert response.status_code == 302
    invitation = Invitation.objects.get()
    assert invitation.email == "owner@example.net"
    assert len(invitation.token_hash) == 64
    assert invitation.invited_by.is_superuser
    assert len(mailoutbox) == 1 and "/invitations/accept/" in mailoutbox[0].body
    detail = admin_client_mfa.get(reverse("admin:accounts_invitation_change", args=[invitation.pk]))
    assert detail.status_code == 200
    assert invitation.token_hash in detail.content.decode()
    assert 'name="token_hash"' not in detail.content.decode()  # read only


def test_withdraw_action_revokes_invitations(admin_client_mfa, mailoutbox):
    customer = CustomerFactory()
    invitation = services.invite_contact(
        customer, email="x@example.net", role=roles.Role.BILLING, actor=System("tests"), link_base="http://testserver/"
    )

    response = admin_client_mfa.post(
        reverse("admin:accounts_invitation_changelist"),
        {"action": "withdraw", "_selected_action": [invitation.pk]},
    )

    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None


def test_ip_assignment_search_finds_the_prefix_containing_an_address(admin_client_mfa):
    IPAssignmentFactory(network="198.51.100.0/29", service=ServiceFactory(name="edge-01"))
    IPAssignmentFactory(network="203.0.113.5", service=ServiceFactory(name="far-away"))

    response = admin_client_mfa.get(reverse("admin:accounts_ipassignment_changelist"), {"q": "198.51.100.7"})

    assert response.status_code == 200
    assert "edge-01" in response.content.decode()
    assert "far-away" not in response.content.decode()


def test_overlapping_addresses_are_refused_in_the_admin(admin_client_mfa):
    IPAssignmentFactory(network="198.51.100.0/29")
    service = ServiceFactory()

    response = admin_client_mfa.post(
        reverse("admin:accounts_ipassignment_add"),
        {"service": service.pk, "network": "198.51.100.4", "assigned_on": "2025-01-01"},
    )

    assert response.status_code == 200
    assert "overlaps 198.51.100.0/29" in response.content.decode()


def test_staff_add_a_login_by_email(admin_client_mfa):
    response = admin_client_mfa.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "New.Staff@Example.net",
            "full_name": "New Staff",
            "usable_password": "true",
            "password1": "a long new passphrase",
            "password2": "a long new passphrase",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert User.objects.get(email="new.staff@example.net").check_password("a long new passphrase")


def test_user_changelist_and_change_page_load(admin_client_mfa):
    membership = MembershipFactory()

    assert (
        admin_client_mfa.get(reverse("admin:accounts_user_changelist"), {"q": membership.user.email}).status_code == 200
    )
    page = admin_client_mfa.get(reverse("admin:accounts_user_change", args=[membership.user.pk]))
    assert page.status_code == 200
    assert str(membership.customer) in page.content.decode()


def test_admin_without_mfa_is_sent_to_set_it_up(db):
    superuser = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(superuser)

    response = client.get(reverse("admin:accounts_customer_changelist"))

    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_index")
    assert Customer.objects.count() == 0


def test_staff_rectify_a_customer_through_the_service_all_or_nothing(admin_client_mfa):
    from accounts.models import Customer

    membership = MembershipFactory(role=roles.Role.OWNER)
    customer = membership.customer
    url = reverse("admin:accounts_customer_change", args=[customer.pk])
    data = _form_data(admin_client_mfa.get(url))

    bad = admin_client_mfa.post(url, {**data, "address_line1": "9 New Street", "vat_number": "GB980780685"})
    assert bad.status_code == 200 and "check digits are wrong" in bad.content.decode()
    assert Customer.objects.get(pk=customer.pk).address_line1 == customer.address_line1

    good = admin_client_mfa.post(url, {**data, "address_line1": "9 New Street", "vat_number": "980 7806 84"})
    assert good.status_code == 302
    saved = Customer.objects.get(pk=customer.pk)
    assert (saved.address_line1, saved.vat_number) == ("9 New Street", "GB980780684")


def test_staff_cannot_make_themselves_a_customers_owner(db):
    """Support staff may edit a customer, but a contact comes only by an invitation the
    person accepts, and a staff login is never invited nor accepted as one."""
    from django.contrib.auth.models import Group

    from tests.accounts.factories import StaffFactory

    support = StaffFactory()
    support.groups.add(Group.objects.get(name=roles.SUPPORT_GROUP))
    enable_totp(support)
    client = Client()
    client.force_login(support)
    owner = MembershipFactory(role=roles.Role.OWNER)
    url = reverse("admin:accounts_customer_change", args=[owner.customer.pk])
    data = _form_data(client.get(url))
    data.update(
        {
            "memberships-TOTAL_FORMS": "2",
            "memberships-1-id": "",
            "memberships-1-customer": str(owner.customer.pk),
            "memberships-1-user": str(support.pk),
            "memberships-1-role": roles.Role.OWNER,
        }
    )
    client.post(url, data)
    assert not Membership.objects.filter(user=support).exists()

    with pytest.raises(Exception, match="staff login"):
        services.invite_contact(
            owner.customer, email=support.email, role=roles.Role.OWNER, actor=support, link_base="https://x/"
        )
    invitation = services.invite_contact(
        owner.customer, email="someone@customer.example", role=roles.Role.OWNER, actor=support,
        link_base="https://x/",
    )  # fmt: skip
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=support, email="someone@customer.example", verified=True)
    with pytest.raises(services.InvitationError, match="staff login"):
        services.accept_invitation(invitation, user=support)
    assert not Membership.objects.filter(user=support).exists()
