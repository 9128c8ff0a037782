"""The one write path for customers, their contacts and invitations.

Views, admin actions, management commands and tasks call these functions; none of them
writes ``Customer``, ``Membership`` or ``Invitation`` rows directly.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from allauth.account.models import EmailAddress
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts import roles
from accounts.correspondence import gateway
from accounts.correspondence.models import MailKind
from accounts.models import Customer, Invitation, Membership, Service, User

# Long enough to reach someone back from a fortnight's holiday, short enough that a
# forgotten link in an old mailbox stops working.
INVITATION_LIFETIME = dt.timedelta(days=14)

# What a customer's owners may change themselves. Legal form and status change what
# the law asks of us (consumer or business, open or closed), so staff change those.
CUSTOMER_EDITABLE_FIELDS = (
    "registered_name",
    "trading_name",
    "company_number",
    "vat_number",
    "address_line1",
    "address_line2",
    "town",
    "county",
    "postcode",
    "country",
    "phone",
)


class LastOwnerError(ValidationError):
    """The change would leave the customer with no owner, so no one could manage it."""


class InvitationError(ValidationError):
    """The invitation cannot be accepted (no longer open, or meant for someone else)."""


@transaction.atomic
def update_customer_details(customer: Customer, *, actor: User, changes: dict[str, Any]) -> Customer:
    """Apply an owner's changes to the customer's details and postal address.

    Raises ``ValidationError`` (e.g. an invalid VAT number, naming the problem) and
    saves nothing when the result is invalid.
    """
    unknown = set(changes) - set(CUSTOMER_EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"Not editable by the customer: {', '.join(sorted(unknown))}.")
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    for name, value in changes.items():
        setattr(locked, name, value)
    locked.full_clean()  # Customer.clean normalises the VAT number (accounts.vat)
    locked.save(update_fields=[*changes])
    for name in changes:
        setattr(customer, name, getattr(locked, name))
    return customer


# Staff may also change what the law asks of us (legal form) and the account's state.
STAFF_EDITABLE_FIELDS = (*CUSTOMER_EDITABLE_FIELDS, "legal_form", "currency", "status", "closed_at")


@transaction.atomic
def update_customer_as_staff(customer: Customer, *, actor: User, changes: dict[str, Any]) -> Customer:
    """Staff correct a customer's record (a rectification request, a letter): validated, all or nothing.

    Recipients who received the old data are found through the disclosure ledger for
    the rectification request (privacy.services.recipients, UK GDPR Art 19).
    """
    unknown = set(changes) - set(STAFF_EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"Not editable here: {', '.join(sorted(unknown))}.")
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    for name, value in changes.items():
        setattr(locked, name, value)
    locked.full_clean()
    changed = [*changes, *(["closed_at"] if locked.closed_at != customer.closed_at else [])]
    locked.save(update_fields=sorted(set(changed)))
    for name in {*changes, "closed_at", "vat_number"}:
        setattr(customer, name, getattr(locked, name))
    return customer


@transaction.atomic
def invite_contact(customer: Customer, *, email: str, role: str, invited_by: User | None, link_base: str) -> Invitation:
    """Invite ``email`` to act for ``customer`` in ``role`` and email them the link.

    ``link_base`` is the portal's address (``https://portal.example/``) for the link.
    A newer invitation to the same address replaces any still open, so only the
    latest link works.
    """
    email = User.objects.normalize_email(email).strip().lower()
    role = roles.Role(role)
    if _staff_address(email):
        raise ValidationError({"email": STAFF_ARE_NOT_CONTACTS})
    if Membership.objects.filter(customer=customer, user__email__iexact=email).exists():
        raise ValidationError({"email": f"{email} is already a contact of {customer.display_name}."})
    now = timezone.now()
    Invitation.objects.filter(
        customer=customer, email__iexact=email, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=now)
    token, token_hash = Invitation.new_token()
    invitation = Invitation.objects.create(
        customer=customer,
        email=email,
        role=role,
        token_hash=token_hash,
        invited_by=invited_by,
        created_at=now,
        expires_at=now + INVITATION_LIFETIME,
    )
    accept_url = link_base.rstrip("/") + reverse("accounts:accept_invitation", kwargs={"token": token})
    _send_invitation_mail(invitation, accept_url=accept_url)
    return invitation


@transaction.atomic
def revoke_invitation(invitation: Invitation, *, actor: User | None) -> Invitation:
    locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if locked.accepted_at is None and locked.revoked_at is None:
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
    return locked


# A member of staff who could be a customer's contact could give themselves that
# customer's invoices and data by inviting their own address; staff logins are never
# contacts (a person who is also a customer uses a separate, personal login).
STAFF_ARE_NOT_CONTACTS = (
    "That address belongs to a staff login, which cannot be a customer's contact: invite the person's own address."
)


def _staff_address(email: str) -> bool:
    return (
        User.objects.filter(is_staff=True, email__iexact=email).exists()
        or EmailAddress.objects.filter(user__is_staff=True, email__iexact=email).exists()
    )


def has_login(email: str) -> bool:
    """Whether someone already logs in with ``email``: as their login's address, or as one of
    their other verified addresses (which allauth keeps unique across logins)."""
    return (
        User.objects.filter(email__iexact=email).exists()
        or EmailAddress.objects.filter(email__iexact=email, verified=True).exists()
    )


def _addresses_of(user: User) -> set[str]:
    verified = EmailAddress.objects.filter(user=user, verified=True).values_list("email", flat=True)
    return {address.lower() for address in verified}


@transaction.atomic
def accept_invitation(invitation: Invitation, *, user: User) -> Membership:
    """Make ``user`` a contact of the invitation's customer.

    The person must hold the invited address, verified: the link was sent there, and a
    forwarded link must not let someone else join. If they already belong to the
    customer, their existing role is kept.
    """
    locked = Invitation.objects.select_for_update().select_related("customer").get(pk=invitation.pk)
    if not locked.is_open:
        raise InvitationError("This invitation has expired, was withdrawn or has already been used.")
    if locked.email.lower() not in _addresses_of(user):
        raise InvitationError(f"This invitation was sent to {locked.email}; you are logged in as {user.email}.")
    if user.is_staff:
        raise InvitationError(STAFF_ARE_NOT_CONTACTS)
    membership, _ = Membership.objects.get_or_create(
        user=user, customer=locked.customer, defaults={"role": locked.role}
    )
    locked.accepted_at = timezone.now()
    locked.save(update_fields=["accepted_at"])
    return membership


@transaction.atomic
def accept_invitation_as_new_user(invitation: Invitation, *, full_name: str, password: str) -> Membership:
    """Create the login for a person who has none, then accept the invitation.

    The email address counts as verified: the person followed a secret link sent to it.
    """
    if has_login(invitation.email):
        raise InvitationError(f"There is already a login for {invitation.email}: log in to accept.")
    user = User.objects.create_user(invitation.email, password, full_name=full_name)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return accept_invitation(invitation, user=user)


def _lock_memberships(customer: Customer) -> list[Membership]:
    # Lock every membership of the customer, so that two owners demoting or removing
    # each other at the same moment cannot both succeed and leave nobody in charge.
    return list(
        Membership.objects.select_for_update(of=("self",))
        .select_related("user", "customer")
        .filter(customer=customer)
        .order_by("pk")
    )


def sole_owner_id(customer: Customer) -> int | None:
    """The membership of the customer's only owner, if it has exactly one: the pages offer
    that contact no change of role and no removal, and say why (``sole_owner_reason``)."""
    owners = list(customer.memberships.filter(role=roles.Role.OWNER).values_list("pk", flat=True)[:2])
    return owners[0] if len(owners) == 1 else None


def sole_owner_reason(membership: Membership, *, is_you: bool) -> str:
    who = "You are" if is_you else f"{membership.user.email} is"
    return (
        f"{who} the only owner of {membership.customer.display_name}, so this role cannot change and "
        f"{'you' if is_you else 'they'} cannot be removed: an account always keeps an owner. "
        "Make another contact an owner first (invite one if needed)."
    )


def _check_not_last_owner(memberships: list[Membership], membership: Membership, doing: str) -> None:
    owners = [m for m in memberships if m.role == roles.Role.OWNER]
    if [m.pk for m in owners] == [membership.pk]:
        raise LastOwnerError(
            f"{membership.user.email} is the only owner of {membership.customer.display_name} and cannot be "
            f"{doing}. Make another contact an owner first."
        )


@transaction.atomic
def change_contact_role(membership: Membership, *, role: str, actor: User | None) -> Membership:
    role = roles.Role(role)
    memberships = _lock_memberships(membership.customer)
    locked = next((m for m in memberships if m.pk == membership.pk), None)
    if locked is None:
        raise ValidationError("This contact has already been removed.")
    if locked.role == role:
        return locked
    if role != roles.Role.OWNER:
        _check_not_last_owner(memberships, locked, f"made a {role.label.lower()}")
    locked.role = role
    locked.save(update_fields=["role"])
    membership.role = role
    return locked


@transaction.atomic
def remove_contact(membership: Membership, *, actor: User | None) -> None:
    memberships = _lock_memberships(membership.customer)
    locked = next((m for m in memberships if m.pk == membership.pk), None)
    if locked is None:
        return
    _check_not_last_owner(memberships, locked, "removed")
    locked.delete()


def _send_invitation_mail(invitation: Invitation, *, accept_url: str) -> None:
    """The one place this module sends email: through the mail gateway (DESIGN mechanism 2).

    Addressed to the invited address, not the customer's contacts: the mail is about that
    person joining. The gateway stores it with the customer's correspondence in this
    transaction and delivers it after commit, so a rolled-back invitation reaches no one.
    """
    gateway.send_mail(
        kind=MailKind.SERVICE,
        template="invitation",
        context={
            "invitation": invitation,
            "invited_by": invitation.invited_by,
            "role_label": invitation.get_role_display(),
            "accept_url": accept_url,
        },
        idempotency_key=f"invitation:{invitation.pk}",
        customer=invitation.customer,
        to=[invitation.email],
        related=invitation,
        created_by=invitation.invited_by,
        secrets=[accept_url],  # only the token's hash is kept, in the archive too
    )


@transaction.atomic
def end_service(service: Service, *, last_day: dt.date, actor: User | None) -> Service:
    """Record that ``service`` ends after ``last_day``: marked ended at once when that day
    has passed, otherwise shown as running until then (``Service.state_label``). Billing
    ends its subscription first (``billing.workflows.subscriptions.end_service``)."""
    locked = Service.objects.select_for_update().get(pk=service.pk)
    if locked.status == Service.Status.ENDED:
        raise ValidationError(f"{locked} already ended on {locked.ended_on:%-d %B %Y}.")
    if last_day < locked.started_on:
        raise ValidationError(f"{locked} started on {locked.started_on:%-d %B %Y}: it cannot end before that.")
    locked.ended_on = last_day
    fields = ["ended_on"]
    if last_day < timezone.localdate():
        locked.status = Service.Status.ENDED
        fields.append("status")
    locked.save(update_fields=fields)
    service.status, service.ended_on = locked.status, locked.ended_on
    return locked
