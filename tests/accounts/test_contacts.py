from __future__ import annotations

import datetime as dt
import html
import re
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import roles, services
from accounts.audit import System
from accounts.correspondence.models import MailKind, Message
from accounts.models import Customer, Invitation, Membership, Service, User
from tests.accounts.factories import (
    PASSWORD,
    CustomerFactory,
    IPAssignmentFactory,
    MembershipFactory,
    ServiceFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

ADDRESS = {
    "registered_name": "Example Widgets Ltd",
    "trading_name": "Widgets",
    "company_number": "01234567",
    "vat_number": "",
    "address_line1": "2 New Road",
    "address_line2": "",
    "town": "Leeds",
    "county": "West Yorkshire",
    "postcode": "LS1 1AA",
    "country": "GB",
    "phone": "",
}


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _contact(customer, role) -> Membership:
    return MembershipFactory(customer=customer, role=role)


def _page(response) -> str:
    """The page's text as a person reads it (entities such as &#x27; decoded)."""
    return html.unescape(response.content.decode())


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def _invite(client, django_capture_on_commit_callbacks, mailoutbox, email, role=roles.Role.TECHNICAL) -> str:
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("accounts:invite_contact"), {"email": email, "role": role})
    assert response.status_code == 302, response.content.decode()
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == [email.lower()]
    return re.search(r"http://testserver(/invitations/accept/[^\s]+/)", message.body).group(1)


# Customer details


def test_owner_edits_the_postal_address(owner_client, customer):
    response = owner_client.post(reverse("accounts:profile_edit"), {**ADDRESS, "vat_number": "gb 980 7806 84"})

    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.address_line1 == "2 New Road"
    assert customer.town == "Leeds"
    assert customer.postcode == "LS1 1AA"
    assert customer.vat_number == "GB980780684"
    page = owner_client.get(reverse("accounts:profile")).content.decode()
    assert "2 New Road" in page and "GB980780684" in page


def test_an_individual_is_offered_only_the_fields_that_fit_and_a_stray_vat_number_is_cleared(owner_client, customer):
    from accounts.models import LegalForm

    # An old record: a consumer with a VAT number and a company number saved before the rule.
    Customer.objects.filter(pk=customer.pk).update(
        legal_form=LegalForm.INDIVIDUAL, vat_number="GB980780684", company_number="01234567", trading_name="Jo"
    )
    form_page = owner_client.get(reverse("accounts:profile_edit")).content.decode()
    for field in ("company_number", "vat_number", "trading_name"):
        assert f'name="{field}"' not in form_page
    assert "Full name" in form_page

    data = {k: v for k, v in ADDRESS.items() if k not in ("company_number", "vat_number", "trading_name")}
    response = owner_client.post(reverse("accounts:profile_edit"), {**data, "registered_name": "Jo Bloggs"})
    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.vat_number, customer.company_number, customer.trading_name) == ("", "", "")
    page = owner_client.get(reverse("accounts:profile")).content.decode()
    main = page[page.index("<main") : page.index("</main>")]
    assert "VAT number" not in main and "Company number" not in main


def test_a_sole_trader_has_a_vat_number_but_no_company_number(owner_client, customer):
    from accounts.models import LegalForm

    Customer.objects.filter(pk=customer.pk).update(legal_form=LegalForm.SOLE_TRADER, company_number="")
    form_page = owner_client.get(reverse("accounts:profile_edit")).content.decode()
    assert 'name="vat_number"' in form_page and 'name="company_number"' not in form_page


def test_staff_cannot_give_a_consumer_a_vat_number(customer):
    from django.core.exceptions import ValidationError

    from accounts.models import LegalForm
    from tests.accounts.factories import StaffFactory

    with pytest.raises(ValidationError, match="no VAT number"):
        services.update_customer_as_staff(
            customer,
            actor=StaffFactory(),
            changes={"legal_form": LegalForm.INDIVIDUAL, "company_number": "", "vat_number": "GB980780684"},
        )
    with pytest.raises(ValidationError, match="Only a limited company or LLP has a company number"):
        services.update_customer_as_staff(customer, actor=StaffFactory(), changes={"legal_form": LegalForm.SOLE_TRADER})


def test_invalid_vat_number_is_a_form_error_naming_the_problem_and_nothing_is_saved(owner_client, customer):
    before = Customer.objects.get(pk=customer.pk)

    response = owner_client.post(reverse("accounts:profile_edit"), {**ADDRESS, "vat_number": "GB980780685"})

    assert response.status_code == 200
    assert "check digits are wrong" in response.content.decode()
    assert "check digits are wrong" in " ".join(response.context["form"].errors["vat_number"])
    customer.refresh_from_db()
    assert customer.address_line1 == before.address_line1
    assert customer.vat_number == before.vat_number


def test_vat_number_with_a_foreign_prefix_is_refused_by_name(owner_client):
    response = owner_client.post(reverse("accounts:profile_edit"), {**ADDRESS, "vat_number": "US123456789"})

    assert response.status_code == 200
    assert "'US' is not a UK or EU VAT prefix" in " ".join(response.context["form"].errors["vat_number"])
    assert "'US' is not a UK or EU VAT prefix" in _page(response)


@pytest.mark.parametrize("role", [roles.Role.TECHNICAL, roles.Role.BILLING])
def test_only_owners_edit_the_customers_details(provider, customer, role):
    client = _client_for(_contact(customer, role).user)
    town = customer.town

    assert client.get(reverse("accounts:profile")).status_code == 200
    refused = client.post(reverse("accounts:profile_edit"), ADDRESS)

    assert refused.status_code == 403
    assert "only an owner may edit the customer's details" in _page(refused)
    customer.refresh_from_db()
    assert customer.town == town


# Invitations


def test_invited_person_without_a_login_sets_one_up_and_joins(
    owner_client, customer, mailoutbox, django_capture_on_commit_callbacks
):
    path = _invite(owner_client, django_capture_on_commit_callbacks, mailoutbox, "new.person@example.net")
    assert "Example Hosting Ltd is registered in England and Wales" in mailoutbox[0].body
    assert Invitation.objects.get().token_hash not in mailoutbox[0].body
    # Sent through the mail gateway, so it is kept with the customer's correspondence.
    stored = Message.objects.get(customer=customer)
    assert stored.to_addresses == ["new.person@example.net"]
    assert stored.kind == MailKind.SERVICE

    newcomer = Client()
    form_page = newcomer.get(path)
    assert form_page.status_code == 200
    assert "new.person@example.net" in form_page.content.decode()

    joined = newcomer.post(
        path, {"full_name": "New Person", "password1": "a long new passphrase", "password2": "a long new passphrase"}
    )

    assert joined.status_code == 302
    assert joined["Location"] == reverse("portal:dashboard")
    user = User.objects.get(email="new.person@example.net")
    assert user.full_name == "New Person"
    assert EmailAddress.objects.get(user=user).verified
    assert Membership.objects.get(user=user).customer == customer
    assert Membership.objects.get(user=user).role == roles.Role.TECHNICAL
    assert customer.display_name in newcomer.get(reverse("portal:dashboard")).content.decode()
    # The login works on its own, through allauth.
    fresh = Client()
    login = fresh.post(reverse("account_login"), {"login": user.email, "password": "a long new passphrase"})
    assert login.status_code == 302
    # And the link worked once.
    assert Client().get(path).status_code == 404


def test_invited_person_with_a_login_logs_in_and_accepts(
    owner_client, customer, mailoutbox, django_capture_on_commit_callbacks
):
    existing = UserFactory(email="known@example.net")
    path = _invite(
        owner_client, django_capture_on_commit_callbacks, mailoutbox, "Known@Example.net", roles.Role.BILLING
    )

    anonymous = Client().get(path)
    assert anonymous.status_code == 200
    assert "Log in to accept" in anonymous.content.decode()
    assert not User.objects.filter(email__iexact="known@example.net").exclude(pk=existing.pk).exists()

    client = Client()
    login = client.post(f"{reverse('account_login')}?next={path}", {"login": existing.email, "password": PASSWORD})
    assert login["Location"] == path
    assert "Accept the invitation" in client.get(path).content.decode()
    accepted = client.post(path)

    assert accepted.status_code == 302
    membership = Membership.objects.get(user=existing, customer=customer)
    assert membership.role == roles.Role.BILLING
    assert Invitation.objects.get().accepted_at is not None


def test_invitation_for_another_address_is_refused(
    owner_client, customer, mailoutbox, django_capture_on_commit_callbacks
):
    path = _invite(owner_client, django_capture_on_commit_callbacks, mailoutbox, "invited@example.net")
    intruder = UserFactory()

    response = _client_for(intruder).post(path)

    assert response.status_code == 403
    assert "invited@example.net" in response.content.decode()
    assert not Membership.objects.filter(user=intruder).exists()
    assert Invitation.objects.get().accepted_at is None


def test_expired_invitation_link_is_refused(owner_client, customer, mailoutbox, django_capture_on_commit_callbacks):
    path = _invite(owner_client, django_capture_on_commit_callbacks, mailoutbox, "late@example.net")
    Invitation.objects.update(expires_at=timezone.now() - dt.timedelta(minutes=1))

    response = Client().post(path, {"full_name": "Late", "password1": "a long new passphrase", "password2": "x"})

    assert response.status_code == 404
    assert "This invitation link does not work" in response.content.decode()
    assert not User.objects.filter(email="late@example.net").exists()


def test_unknown_invitation_token_is_refused(provider):
    response = Client().get(reverse("accounts:accept_invitation", kwargs={"token": "not-a-token"}))

    assert response.status_code == 404
    assert "This invitation link does not work" in response.content.decode()


def test_withdrawn_invitation_link_stops_working(
    owner_client, customer, mailoutbox, django_capture_on_commit_callbacks
):
    path = _invite(owner_client, django_capture_on_commit_callbacks, mailoutbox, "maybe@example.net")
    invitation = Invitation.objects.get()
    assert "maybe@example.net" in owner_client.get(reverse("accounts:contacts")).content.decode()

    response = owner_client.post(reverse("accounts:revoke_invitation", args=[invitation.pk]))

    assert response.status_code == 302
    assert Client().get(path).status_code == 404


def test_a_new_invitation_replaces_an_open_one(owner_client, customer, mailoutbox, django_capture_on_commit_callbacks):
    first = _invite(owner_client, django_capture_on_commit_callbacks, mailoutbox, "twice@example.net")
    mailoutbox.clear()
    second = _invite(owner_client, django_capture_on_commit_callbacks, mailoutbox, "twice@example.net")

    assert Client().get(first).status_code == 404
    assert Client().get(second).status_code == 200


def test_inviting_an_existing_contact_is_a_form_error(owner_client, customer, mailoutbox):
    contact = _contact(customer, roles.Role.TECHNICAL)

    response = owner_client.post(
        reverse("accounts:invite_contact"), {"email": contact.user.email, "role": roles.Role.BILLING}
    )

    assert response.status_code == 200
    assert "is already a contact" in response.content.decode()
    assert not Invitation.objects.exists()


@pytest.mark.parametrize("role", [roles.Role.TECHNICAL, roles.Role.BILLING])
def test_only_owners_invite_contacts(provider, customer, mailoutbox, role):
    client = _client_for(_contact(customer, role).user)

    response = client.post(reverse("accounts:invite_contact"), {"email": "x@example.net", "role": roles.Role.OWNER})

    assert response.status_code == 403
    assert "only an owner may invite contacts" in response.content.decode()
    assert not Invitation.objects.exists()


# Roles and removal


def test_owner_changes_a_contacts_role(owner_client, customer):
    contact = _contact(customer, roles.Role.TECHNICAL)

    response = owner_client.post(
        reverse("accounts:change_contact_role", args=[contact.pk]), {"role": roles.Role.BILLING}, follow=True
    )

    contact.refresh_from_db()
    assert contact.role == roles.Role.BILLING
    assert any("Billing contact" in message for message in _messages(response))


def test_technical_contact_cannot_change_roles(provider, customer, owner):
    technical = _contact(customer, roles.Role.TECHNICAL)
    owner_membership = Membership.objects.get(user=owner)

    response = _client_for(technical.user).post(
        reverse("accounts:change_contact_role", args=[owner_membership.pk]), {"role": roles.Role.TECHNICAL}
    )

    assert response.status_code == 403
    owner_membership.refresh_from_db()
    assert owner_membership.role == roles.Role.OWNER


def test_last_owner_cannot_be_demoted(owner_client, owner, customer):
    membership = Membership.objects.get(user=owner)

    response = owner_client.post(
        reverse("accounts:change_contact_role", args=[membership.pk]), {"role": roles.Role.TECHNICAL}, follow=True
    )

    assert response.status_code == 200
    assert any("You are the only owner" in message for message in _messages(response))
    assert "the only owner" in response.content.decode()
    membership.refresh_from_db()
    assert membership.role == roles.Role.OWNER


def test_last_owner_cannot_be_removed(owner_client, owner, customer):
    membership = Membership.objects.get(user=owner)

    response = owner_client.post(reverse("accounts:remove_contact", args=[membership.pk]), follow=True)

    assert "You are the only owner" in response.content.decode()
    assert Membership.objects.filter(pk=membership.pk, role=roles.Role.OWNER).exists()


def test_the_sole_owner_is_not_offered_what_would_be_refused_and_is_told_why(owner_client, owner, customer):
    membership = Membership.objects.get(user=owner)
    other = _contact(customer, roles.Role.TECHNICAL)

    page = owner_client.get(reverse("accounts:contacts")).content.decode()
    own_row = page[page.index("(you)") : page.index("</tr>", page.index("(you)"))]
    assert "Change role" not in own_row and "Remove myself" not in own_row
    assert "The only owner: make another contact an owner" in own_row
    assert reverse("accounts:remove_contact", args=[other.pk]) in page  # others still can be
    for name in ("accounts:change_contact_role", "accounts:remove_contact"):
        form_page = owner_client.get(reverse(name, args=[membership.pk])).content.decode()
        assert "You are the only owner" in form_page and "<form" not in form_page.split("<main", 1)[-1]

    _contact(customer, roles.Role.OWNER)  # with a second owner, stepping down is offered
    page = owner_client.get(reverse("accounts:contacts")).content.decode()
    assert "Remove myself" in page


def test_an_owner_may_step_down_when_another_owner_remains(owner_client, owner, customer):
    _contact(customer, roles.Role.OWNER)
    membership = Membership.objects.get(user=owner)

    owner_client.post(reverse("accounts:change_contact_role", args=[membership.pk]), {"role": roles.Role.BILLING})

    membership.refresh_from_db()
    assert membership.role == roles.Role.BILLING
    assert customer.memberships.owners().count() == 1


def test_last_owner_rule_holds_in_the_service(customer, owner):
    membership = Membership.objects.get(user=owner)

    with pytest.raises(services.LastOwnerError, match="only owner"):
        services.remove_contact(membership, actor=owner)
    with pytest.raises(services.LastOwnerError, match="only owner"):
        services.change_contact_role(membership, role=roles.Role.BILLING, actor=owner)


def test_owner_removes_a_contact(owner_client, customer):
    contact = _contact(customer, roles.Role.TECHNICAL)

    confirm = owner_client.get(reverse("accounts:remove_contact", args=[contact.pk]))
    assert contact.user.email in confirm.content.decode()
    response = owner_client.post(reverse("accounts:remove_contact", args=[contact.pk]))

    assert response.status_code == 302
    assert not Membership.objects.filter(pk=contact.pk).exists()
    assert User.objects.filter(pk=contact.user_id).exists()  # the login stays


def test_roles_doc_shows_the_table_from_the_code():
    doc = (Path(settings.BASE_DIR) / "docs" / "roles.md").read_text()

    assert roles.markdown_table() in doc


def test_contacts_page_shows_the_roles_table(owner_client):
    page = _page(owner_client.get(reverse("accounts:contacts")))

    for action in roles.Action:
        assert action.label in page


def test_contacts_list_query_count(owner_client, customer, django_assert_max_num_queries):
    for _ in range(15):
        _contact(customer, roles.Role.TECHNICAL)
        services.invite_contact(
            customer, email=f"{_}@example.net", role=roles.Role.BILLING, actor=System("tests"), link_base="http://x/"
        )

    with django_assert_max_num_queries(9):
        response = owner_client.get(reverse("accounts:contacts"))

    assert response.status_code == 200


# Services


def test_services_list_and_detail_show_ip_addresses(owner_client, customer):
    service = ServiceFactory(customer=customer, name="web-01")
    IPAssignmentFactory(service=service, network="192.0.2.10")
    IPAssignmentFactory(service=service, network="2001:db8::/48")
    IPAssignmentFactory(service=service, network="192.0.2.99", released_on=timezone.localdate())

    listing = owner_client.get(reverse("accounts:services")).content.decode()
    detail = owner_client.get(reverse("accounts:service_detail", args=[service.pk])).content.decode()

    assert "web-01" in listing and "192.0.2.10" in listing and "2001:db8::/48" in listing
    assert "192.0.2.99" not in listing  # released
    assert "192.0.2.10" in detail and "2001:db8::/48" in detail and "192.0.2.99" in detail


def test_services_list_query_count(owner_client, customer, django_assert_max_num_queries):
    for _ in range(15):
        service = ServiceFactory(customer=customer)
        IPAssignmentFactory(service=service)
        IPAssignmentFactory(service=service)
    ServiceFactory(customer=CustomerFactory())

    with django_assert_max_num_queries(8):
        response = owner_client.get(reverse("accounts:services"))

    assert response.status_code == 200
    assert response.content.decode().count("/services/") >= 15


def test_an_invitation_to_another_logins_second_address_asks_them_to_log_in(
    owner_client, customer, mailoutbox, django_capture_on_commit_callbacks
):
    """The address is already someone's (a verified second address of their login): the link
    asks them to log in to accept, rather than failing to make a second login for it."""
    from allauth.account.models import EmailAddress

    from tests.accounts.factories import UserFactory

    someone = UserFactory(email="main@elsewhere.example")
    EmailAddress.objects.create(user=someone, email="second@elsewhere.example", verified=True)
    link = _invite(owner_client, django_capture_on_commit_callbacks, mailoutbox, "second@elsewhere.example")

    visitor = Client()
    page = visitor.get(link)
    assert page.status_code == 200 and "accounts/invitation_login.html" in [t.name for t in page.templates]
    posted = visitor.post(
        link, {"full_name": "Someone", "password1": "a long new passphrase 1", "password2": "a long new passphrase 1"}
    )
    assert posted.status_code == 200  # the same page again, never a server error
    assert not customer.memberships.filter(user__email="second@elsewhere.example").exists()


def test_services_list_is_a_page_at_a_time_by_name(owner_client, customer):
    for i in range(27):
        ServiceFactory(customer=customer, name=f"web-{i:02d}", status=Service.Status.ENDED if i == 3 else "active")

    first = _page(owner_client.get(reverse("accounts:services")))
    second = _page(owner_client.get(reverse("accounts:services"), {"page": 2}))
    past_the_end = _page(owner_client.get(reverse("accounts:services"), {"page": 99}))

    assert "1–25 of 27 services" in first and "web-00" in first and "web-24" in first and "web-25" not in first
    assert "web-03" in first  # ended services are listed too, in their place by name
    assert 'href="?page=2" rel="next">Next<' in first and ">Older<" not in first
    assert "26–27 of 27 services" in second and "web-25" in second and "web-26" in second and "web-24" not in second
    assert 'href="?page=1" rel="prev">Previous<' in second
    assert "web-26" in past_the_end  # a link saved when the list was longer shows the last page


def test_contacts_page_is_a_page_at_a_time_and_keeps_each_rows_forms(owner_client, owner, customer):
    for i in range(26):
        _contact(customer, roles.Role.TECHNICAL if i % 2 else roles.Role.BILLING)

    first = _page(owner_client.get(reverse("accounts:contacts")))
    second = owner_client.get(reverse("accounts:contacts"), {"page": 2})
    rows = Membership.objects.filter(customer=customer).count()

    assert f"1–25 of {rows} contacts" in first and f"26–{rows} of {rows} contacts" in _page(second)
    assert owner.email in first  # the owner comes first: owners, then billing, then technical
    last = second.context["contacts"][-1]
    assert reverse("accounts:change_contact_role", args=[last.pk]) in second.content.decode()
    assert reverse("accounts:remove_contact", args=[last.pk]) in second.content.decode()
    # The roles table and invitations are on every page.
    assert "What each role may see and do" in first and "What each role may see and do" in _page(second)
