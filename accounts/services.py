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

from accounts import audit, roles
from accounts.audit import Actor
from accounts.correspondence import gateway
from accounts.correspondence.models import MailKind
from accounts.models import Customer, Invitation, Membership, Service, ServiceStatusChange, User

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
def update_customer_details(customer: Customer, *, actor: Actor, changes: dict[str, Any]) -> Customer:
    """Apply an owner's changes to the customer's details and postal address.

    Raises ``ValidationError`` (e.g. an invalid VAT number, naming the problem) and
    saves nothing when the result is invalid.
    """
    unknown = set(changes) - set(CUSTOMER_EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"Not editable by the customer: {', '.join(sorted(unknown))}.")
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    before = {name: getattr(locked, name) for name in changes}
    for name, value in changes.items():
        setattr(locked, name, value)
    locked.full_clean()  # Customer.clean normalises the VAT number (accounts.vat)
    locked.save(update_fields=[*changes])
    audit.record(
        "customer.details_changed",
        actor=actor,
        target=locked,
        changes=audit.diff(before, {name: getattr(locked, name) for name in changes}),
        summary="Changed the account's details",
    )
    for name in changes:
        setattr(customer, name, getattr(locked, name))
    return customer


# Staff may also change what the law asks of us (legal form) and the account's state.
STAFF_EDITABLE_FIELDS = (*CUSTOMER_EDITABLE_FIELDS, "legal_form", "currency", "status", "closed_at")


@transaction.atomic
def update_customer_as_staff(customer: Customer, *, actor: Actor, changes: dict[str, Any]) -> Customer:
    """Staff correct a customer's record (a rectification request, a letter): validated, all or nothing.

    Recipients who received the old data are found through the disclosure ledger for
    the rectification request (privacy.services.recipients, UK GDPR Art 19).
    """
    unknown = set(changes) - set(STAFF_EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"Not editable here: {', '.join(sorted(unknown))}.")
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    before = {name: getattr(locked, name) for name in (*changes, "closed_at")}
    for name, value in changes.items():
        setattr(locked, name, value)
    locked.full_clean()
    changed = [*changes, *(["closed_at"] if locked.closed_at != customer.closed_at else [])]
    locked.save(update_fields=sorted(set(changed)))
    audit.record(
        "customer.corrected",
        actor=actor,
        target=locked,
        changes=audit.diff(before, {name: getattr(locked, name) for name in before}),
        summary="Staff corrected the account's details",
    )
    for name in {*changes, "closed_at", "vat_number"}:
        setattr(customer, name, getattr(locked, name))
    return customer


@transaction.atomic
def invite_contact(customer: Customer, *, email: str, role: str, actor: Actor, link_base: str) -> Invitation:
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
        invited_by=audit.person(actor),
        created_at=now,
        expires_at=now + INVITATION_LIFETIME,
    )
    accept_url = link_base.rstrip("/") + reverse("accounts:accept_invitation", kwargs={"token": token})
    _send_invitation_mail(invitation, accept_url=accept_url)
    audit.record(
        "contact.invited",
        actor=actor,
        target=invitation,
        changes={"role": [None, role.value]},
        summary=f"Invited {email} as {role.label.lower()}",
        security=True,
    )
    return invitation


@transaction.atomic
def revoke_invitation(invitation: Invitation, *, actor: Actor) -> Invitation:
    locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if locked.accepted_at is None and locked.revoked_at is None:
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        audit.record(
            "contact.invitation_withdrawn",
            actor=actor,
            target=locked,
            summary=f"Withdrew the invitation to {locked.email}",
            security=True,
        )
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
    audit.record(
        "contact.joined",
        actor=user,
        target=membership,
        customer=locked.customer,
        summary=f"{user.email} accepted the invitation as {membership.get_role_display().lower()}",
        security=True,
    )
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
def change_contact_role(membership: Membership, *, role: str, actor: Actor) -> Membership:
    role = roles.Role(role)
    memberships = _lock_memberships(membership.customer)
    locked = next((m for m in memberships if m.pk == membership.pk), None)
    if locked is None:
        raise ValidationError("This contact has already been removed.")
    if locked.role == role:
        return locked
    if role != roles.Role.OWNER:
        _check_not_last_owner(memberships, locked, f"made a {role.label.lower()}")
    audit.record(
        "contact.role_changed",
        actor=actor,
        target=locked,
        customer=locked.customer,
        changes={"role": [locked.role, role.value]},
        summary=f"Made {locked.user.email} {role.label.lower()}",
        security=True,
    )
    locked.role = role
    locked.save(update_fields=["role"])
    membership.role = role
    return locked


@transaction.atomic
def remove_contact(membership: Membership, *, actor: Actor) -> None:
    memberships = _lock_memberships(membership.customer)
    locked = next((m for m in memberships if m.pk == membership.pk), None)
    if locked is None:
        return
    _check_not_last_owner(memberships, locked, "removed")
    audit.record(
        "contact.removed",
        actor=actor,
        target=locked,
        customer=locked.customer,
        changes={"role": [locked.role, None]},
        summary=f"Removed {locked.user.email} ({locked.get_role_display().lower()})",
        security=True,
    )
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


# ---------------------------------------------------------------------------------------
# A service's state: suspended for non-payment or abuse, restored, ended. Each change is
# one history row, one audit event and one email to the customer (kind service), in one
# transaction: a customer is never cut off without being told why.


class ServiceStateError(ValidationError):
    """The service is not in a state the change applies to."""


def _change_status(
    service: Service, *, to: str, allowed_from: set[str], actor: Actor, reason: str, source: str, template: str
) -> ServiceStatusChange:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Give the reason: the customer is told it."})
    if source not in ServiceStatusChange.Source.values:
        raise ValidationError({"source": f"{source!r} is not one of {', '.join(ServiceStatusChange.Source.values)}."})
    with transaction.atomic():
        locked = Service.objects.select_for_update().select_related("customer").get(pk=service.pk)
        if locked.status not in allowed_from:
            raise ServiceStateError(
                f"Service {locked.name} is {locked.get_status_display().lower()}; "
                f"it cannot be {Service.Status(to).label.lower()} from that state."
            )
        change = ServiceStatusChange.objects.create(
            service=locked,
            from_status=locked.status,
            to_status=to,
            source=source,
            reason=reason,
            actor=actor if isinstance(actor, User) else None,
            actor_label=actor.email if isinstance(actor, User) else str(actor),
        )
        locked.status = to
        if to == Service.Status.ENDED:
            locked.ended_on = min(locked.ended_on or timezone.localdate(), timezone.localdate())
        locked.save(update_fields=["status", "ended_on"])
        audit.record(
            f"service.{to}",
            actor=actor,
            target=locked,
            changes={"status": [change.from_status, to]},
            summary=f"Service {locked.name} {Service.Status(to).label.lower()}: {reason}"[:300],
        )
        try:
            with transaction.atomic():
                gateway.send_mail(
                    kind=MailKind.SERVICE,
                    template=template,
                    context={"service": locked, "change": change},
                    idempotency_key=f"service-status:{change.pk}",
                    customer=locked.customer,
                    related=locked,
                    created_by=actor if isinstance(actor, User) else None,
                )
        except gateway.NoRecipients:
            change.customer_told = False  # nobody receives service mail: the caller says so to staff
        else:
            change.customer_told = True
    service.refresh_from_db()
    return change


def suspend_service(service: Service, *, actor: Actor, reason: str, source: str) -> ServiceStatusChange:
    """Suspend an active service (non-payment, abuse, ...), telling the customer why."""
    return _change_status(
        service,
        to=Service.Status.SUSPENDED,
        allowed_from={Service.Status.ACTIVE},
        actor=actor,
        reason=reason,
        source=source,
        template="service_suspended",
    )


def restore_service(service: Service, *, actor: Actor, reason: str, source: str) -> ServiceStatusChange:
    """Bring a suspended service back, telling the customer."""
    return _change_status(
        service,
        to=Service.Status.ACTIVE,
        allowed_from={Service.Status.SUSPENDED},
        actor=actor,
        reason=reason,
        source=source,
        template="service_restored",
    )


def end_service_record(service: Service, *, actor: Actor, reason: str, last_day) -> ServiceStatusChange | None:
    """Record that a service ended on ``last_day`` (the account is closing), without an
    email of its own: the closure tells the customer once. Returns None if already ended."""
    if service.status == Service.Status.ENDED:
        return None
    change = ServiceStatusChange.objects.create(
        service=service,
        from_status=service.status,
        to_status=Service.Status.ENDED,
        source=ServiceStatusChange.Source.STAFF if isinstance(actor, User) else ServiceStatusChange.Source.CUSTOMER,
        reason=reason,
        actor=actor if isinstance(actor, User) else None,
        actor_label=actor.email if isinstance(actor, User) else str(actor),
    )
    service.status = Service.Status.ENDED
    service.ended_on = min(service.ended_on or last_day, last_day)
    service.save(update_fields=["status", "ended_on"])
    audit.record("service.ended", actor=actor, target=service, summary=f"Service {service.name} ended: {reason}")
    return change


@transaction.atomic
def end_service(service: Service, *, last_day: dt.date, actor: Actor) -> Service:
    """Record that ``service`` ends after ``last_day``: ended at once (with its history row
    and audit event) when that day has passed, otherwise shown as running until then
    (``Service.state_label``) and read as ended afterwards. Billing ends its subscription
    first (``billing.workflows.subscriptions.end_service``)."""
    locked = Service.objects.select_for_update().get(pk=service.pk)
    if locked.status == Service.Status.ENDED:
        raise ValidationError(f"{locked} already ended on {locked.ended_on:%-d %B %Y}.")
    if last_day < locked.started_on:
        raise ValidationError(f"{locked} started on {locked.started_on:%-d %B %Y}: it cannot end before that.")
    if last_day < timezone.localdate():
        end_service_record(locked, actor=actor, reason=f"Last day of service {last_day:%-d %B %Y}", last_day=last_day)
    else:
        locked.ended_on = last_day
        locked.save(update_fields=["ended_on"])
        audit.record(
            "service.end_scheduled",
            actor=actor,
            target=locked,
            changes={"ended_on": [None, last_day]},
            summary=f"Service {locked.name} ends after {last_day:%-d %B %Y}",
        )
    service.status, service.ended_on = locked.status, locked.ended_on
    return locked
