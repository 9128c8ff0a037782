"""The one write path for storage access (docs/storage-access.md).

Staff reach a customer's storage only under a grant: for a **virtual** service, for named
staff, for a purpose, from ``starts_at`` to ``ends_at`` (at most
``PORTAL_STORAGE_GRANT_MAX_HOURS``). A physical server's storage is never accessed: every
function that makes a grant refuses one (``ensure_virtual``), and so do the admin form
and a database trigger.

The provider's tooling asks :func:`check_access` before it opens a disk; each answer is
recorded, and so is each access session, which also appends to the disclosure ledger.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts import roles
from accounts.audit import Actor, person, record
from accounts.correspondence import gateway
from accounts.correspondence.models import MailKind
from accounts.models import Customer, Membership, Service
from core.registry import Category
from privacy.models import DisclosureEntry
from privacy.services import ledger
from privacy.storage.models import (
    NecessityReason,
    StorageAccessCheck,
    StorageAccessSession,
    StorageAccessTool,
    StorageGrant,
)

User = get_user_model()

REQUEST_PERMISSION = "privacy.request_storage_access"
NECESSARY_PERMISSION = "privacy.necessary_storage_access"


def max_duration() -> dt.timedelta:
    return dt.timedelta(hours=settings.PORTAL_STORAGE_GRANT_MAX_HOURS)


def ensure_virtual(service: Service) -> None:
    """Refuse a grant on a physical server: its data is never accessed."""
    if service.platform != Service.Platform.VIRTUAL:
        raise ValidationError(
            f"{service} is a physical server: our staff never access the storage of physical servers, "
            "so no storage access can be granted for it."
        )


def validate_window(starts_at: dt.datetime, ends_at: dt.datetime, *, now: dt.datetime | None = None) -> None:
    now = now or timezone.now()
    if ends_at <= starts_at:
        raise ValidationError("The access must end after it starts.")
    if ends_at <= now:
        raise ValidationError("The access would already have ended: choose an end in the future.")
    hours = settings.PORTAL_STORAGE_GRANT_MAX_HOURS
    if ends_at - starts_at > max_duration():
        raise ValidationError(f"A grant lasts at most {hours} hours; ask again if more time is needed.")


def validate_staff(staff: Iterable) -> list:
    staff = list(staff)
    if not staff:
        raise ValidationError("Name the members of staff who will access the storage.")
    not_staff = [str(person) for person in staff if not (person.is_staff and person.is_active)]
    if not_staff:
        raise ValidationError(f"Only active members of staff can be named: {', '.join(not_staff)}.")
    return staff


def validate_new_grant(
    *, service: Service, purpose: str, starts_at: dt.datetime, ends_at: dt.datetime, staff: Iterable | None = None
) -> None:
    """Every rule a new grant must meet (the admin form asks before it saves)."""
    ensure_virtual(service)
    if service.status == Service.Status.ENDED:
        raise ValidationError(f"{service} has ended: there is no storage to access.")
    if not purpose.strip():
        raise ValidationError("Say what will be done with the storage.")
    validate_window(starts_at, ends_at)
    if staff is not None:
        validate_staff(staff)


def can_manage(membership: Membership) -> bool:
    return membership.can(roles.Action.MANAGE_STORAGE_ACCESS)


def _require_contact(grant: StorageGrant, actor) -> None:
    membership = Membership.objects.filter(customer_id=grant.customer_id, user=actor).first()
    if membership is None or not can_manage(membership):
        raise PermissionDenied("Only an owner or a technical contact of the customer may decide on storage access.")


def _require_perm(actor, permission: str) -> None:
    if not (actor.is_active and actor.is_staff and actor.has_perm(permission)):
        raise PermissionDenied(f"This needs the permission {permission}.")


def _grant_url(grant: StorageGrant, link_base: str | None) -> str:
    base = (link_base if link_base is not None else settings.PORTAL_BASE_URL or "").rstrip("/")
    return base + reverse("storage_access:grant", kwargs={"grant_id": grant.pk})


def _audit(action: str, grant: StorageGrant, actor, what: str, **changes) -> None:
    """Every change to a grant is in the audit trail, and on the customer's Activity page."""
    record(
        action,
        actor=actor,
        target=grant,
        changes=changes or None,
        summary=f"{what} {grant.service} (storage access #{grant.pk})",
        security=True,
    )


def _create(service: Service, *, route: str, purpose: str, starts_at, ends_at, actor, staff=(), **fields):
    validate_new_grant(service=service, purpose=purpose, starts_at=starts_at, ends_at=ends_at)
    grant = StorageGrant.objects.create(
        customer_id=service.customer_id,
        service=service,
        route=route,
        purpose=purpose.strip(),
        starts_at=starts_at,
        ends_at=ends_at,
        requested_by=actor,
        requested_at=timezone.now(),
        **fields,
    )
    if staff:
        grant.staff.set(staff)
    return grant


@transaction.atomic
def request_access(*, service: Service, purpose: str, starts_at, ends_at, actor) -> StorageGrant:
    """The customer asks us to look at their server: their request is their approval.

    Support names the staff who will do it (``assign_staff``)."""
    grant = StorageGrant(customer_id=service.customer_id)
    _require_contact(grant, actor)
    now = timezone.now()
    grant = _create(
        service,
        route=StorageGrant.Route.CUSTOMER_REQUEST,
        purpose=purpose,
        starts_at=starts_at,
        ends_at=ends_at,
        actor=actor,
        status=StorageGrant.Status.APPROVED,
        approved_by=actor,
        approved_at=now,
    )
    _audit("storage_grant.requested_by_customer", grant, actor, "Asked us to access the storage of")
    return grant


@transaction.atomic
def ask_customer(
    *, service: Service, staff: Iterable, purpose: str, starts_at, ends_at, actor, link_base: str | None = None
) -> StorageGrant:
    """Staff ask the customer for access; no answer means no access.

    The owners and technical contacts are emailed a link to the request (kind service);
    the link asks them to log in first."""
    _require_perm(actor, REQUEST_PERMISSION)
    staff = validate_staff(staff)
    grant = _create(
        service,
        route=StorageGrant.Route.STAFF_REQUEST,
        purpose=purpose,
        starts_at=starts_at,
        ends_at=ends_at,
        actor=actor,
        staff=staff,
    )
    _audit("storage_grant.asked", grant, actor, "Asked the customer for access to the storage of")
    gateway.send_mail(
        kind=MailKind.SERVICE,
        template="storage_access_asked",
        customer=grant.customer,
        context={"grant": grant, "staff": staff, "url": _grant_url(grant, link_base)},
        idempotency_key=f"storage-access-asked:{grant.pk}",
        related=grant,
        created_by=actor,
    )
    return grant


@transaction.atomic
def open_necessary_access(
    *,
    service: Service,
    staff: Iterable,
    necessity_reason: str,
    reason_detail: str,
    purpose: str,
    starts_at,
    ends_at,
    actor,
) -> StorageGrant:
    """Access necessary to provide the service: waits for a second member of staff."""
    _require_perm(actor, NECESSARY_PERMISSION)
    if necessity_reason not in NecessityReason.values:
        raise ValidationError(f"Choose the reason from the list: {', '.join(NecessityReason.labels)}.")
    if not reason_detail.strip():
        raise ValidationError("Describe the circumstances that make the access necessary.")
    staff = validate_staff(staff)
    grant = _create(
        service,
        route=StorageGrant.Route.NECESSARY,
        purpose=purpose,
        starts_at=starts_at,
        ends_at=ends_at,
        actor=actor,
        staff=staff,
        necessity_reason=necessity_reason,
        reason_detail=reason_detail.strip(),
    )
    _audit("storage_grant.necessary_opened", grant, actor, "Opened necessary access to the storage of")
    return grant


def _decide(grant: StorageGrant, *, route: str, status: str, **fields) -> StorageGrant:
    # A conditional UPDATE: two people deciding at once cannot both be recorded.
    changed = StorageGrant.objects.filter(pk=grant.pk, route=route, status=StorageGrant.Status.PENDING).update(
        status=status, **fields
    )
    if not changed:
        grant.refresh_from_db()
        raise ValidationError(
            f"{grant} is no longer waiting for approval (it is {grant.get_status_display().lower()})."
        )
    grant.refresh_from_db()
    return grant


@transaction.atomic
def approve_necessary_access(grant: StorageGrant, *, actor, link_base: str | None = None) -> StorageGrant:
    """The second member of staff approves; the customer is told at once, with the reason."""
    _require_perm(actor, NECESSARY_PERMISSION)
    if grant.requested_by_id == actor.pk:
        raise ValidationError("A second member of staff must approve: you opened this access yourself.")
    if grant.ends_at <= timezone.now():
        raise ValidationError(f"{grant} would already have ended; open a new one.")
    now = timezone.now()
    grant = _decide(
        grant,
        route=StorageGrant.Route.NECESSARY,
        status=StorageGrant.Status.APPROVED,
        approved_by=actor,
        approved_at=now,
        customer_told_at=now,
    )
    _audit("storage_grant.approved", grant, actor, "Approved (second member of staff) access to the storage of")
    gateway.send_mail(
        kind=MailKind.SERVICE,
        template="storage_access_necessary",
        customer=grant.customer,
        context={"grant": grant, "staff": list(grant.staff.all()), "url": _grant_url(grant, link_base)},
        idempotency_key=f"storage-access-necessary:{grant.pk}",
        related=grant,
        created_by=actor,
    )
    return grant


@transaction.atomic
def approve(grant: StorageGrant, *, actor) -> StorageGrant:
    """An owner or technical contact approves staff's request."""
    _require_contact(grant, actor)
    if grant.ends_at <= timezone.now():
        raise ValidationError("This request's time has passed; staff must ask again.")
    grant = _decide(
        grant,
        route=StorageGrant.Route.STAFF_REQUEST,
        status=StorageGrant.Status.APPROVED,
        approved_by=actor,
        approved_at=timezone.now(),
    )
    _audit("storage_grant.approved", grant, actor, "Approved access to the storage of")
    return grant


@transaction.atomic
def decline(grant: StorageGrant, *, actor, reason: str = "") -> StorageGrant:
    """An owner or technical contact declines staff's request (or a second member of staff
    declines necessary access)."""
    if grant.route == StorageGrant.Route.NECESSARY:
        _require_perm(actor, NECESSARY_PERMISSION)
    else:
        _require_contact(grant, actor)
    grant = _decide(
        grant,
        route=grant.route,
        status=StorageGrant.Status.DECLINED,
        declined_by=actor,
        declined_at=timezone.now(),
        decline_reason=reason.strip(),
    )
    _audit("storage_grant.declined", grant, actor, "Declined access to the storage of")
    return grant


@transaction.atomic
def revoke(grant: StorageGrant, *, actor, reason: str = "") -> StorageGrant:
    """End a grant now (the customer at any time; staff with the permission). A pending
    request is withdrawn the same way."""
    if not actor.is_staff or Membership.objects.filter(customer_id=grant.customer_id, user=actor).exists():
        _require_contact(grant, actor)
    elif not (actor.has_perm(REQUEST_PERMISSION) or actor.has_perm(NECESSARY_PERMISSION)):
        raise PermissionDenied("Ending a grant needs a storage-access permission.")
    now = timezone.now()
    changed = (
        StorageGrant.objects.filter(pk=grant.pk, ends_at__gt=now)
        .filter(status__in=[StorageGrant.Status.PENDING, StorageGrant.Status.APPROVED])
        .update(status=StorageGrant.Status.REVOKED, revoked_by=actor, revoked_at=now, revoke_reason=reason.strip())
    )
    if not changed:
        raise ValidationError(f"{grant} has already ended; there is nothing to revoke.")
    previous = grant.status
    grant.refresh_from_db()
    _audit("storage_grant.revoked", grant, actor, "Revoked access to the storage of", status=[previous, grant.status])
    return grant


@transaction.atomic
def assign_staff(grant: StorageGrant, *, staff: Iterable, actor) -> StorageGrant:
    """Support names who will do what the customer asked for."""
    _require_perm(actor, REQUEST_PERMISSION)
    if grant.route != StorageGrant.Route.CUSTOMER_REQUEST:
        raise ValidationError("Only a customer's own request takes staff named later; the customer approved these.")
    if grant.state() not in ("scheduled", "active"):
        raise ValidationError(f"{grant} is {grant.state_label().lower()}: no one can be named on it.")
    staff = validate_staff(staff)
    grant.staff.add(*staff)
    names = ", ".join(person.email for person in staff)
    _audit("storage_grant.staff_named", grant, actor, f"Named {names} on the customer's request for")
    return grant


# --------------------------------------------------------------------------------------
# The enforcement point
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    allowed: bool
    grant: StorageGrant | None
    reason: str
    check: StorageAccessCheck

    def as_dict(self) -> dict:
        return {
            "allowed": self.allowed,
            "grant": self.grant.pk if self.grant else None,
            "ends_at": self.grant.ends_at.isoformat() if self.allowed else None,
            "reason": self.reason,
            "check": self.check.pk,
        }


def find_staff(email: str):
    return User.objects.filter(email__iexact=email.strip(), is_staff=True, is_active=True).first()


@transaction.atomic
def check_access(
    *, service: Service, staff_email: str, tool: StorageAccessTool | None = None, now: dt.datetime | None = None
) -> Answer:
    """May this member of staff open this service's storage now? Recorded either way."""
    now = now or timezone.now()
    staff = find_staff(staff_email)
    grant = None
    if service.platform != Service.Platform.VIRTUAL:
        reason = "Physical server: its storage is never accessed."
    elif staff is None:
        reason = f"{staff_email} is not an active member of staff."
    else:
        grant = StorageGrant.objects.in_force(now).filter(service=service, staff=staff).order_by("ends_at").last()
        reason = (
            f"Grant #{grant.pk} until {timezone.localtime(grant.ends_at):%Y-%m-%d %H:%M %Z}."
            if grant
            else "No grant in force names this member of staff for this service."
        )
    check = StorageAccessCheck.objects.create(
        customer_id=service.customer_id,
        service=service,
        staff=staff,
        staff_email=staff_email.strip()[:254],
        grant=grant,
        tool=tool,
        allowed=grant is not None,
        answer=reason[:300],
        checked_at=now,
    )
    if tool is not None:
        StorageAccessTool.objects.filter(pk=tool.pk).update(last_used_at=now)
    return Answer(grant is not None, grant, reason, check)


def _record_in_ledger(session: StorageAccessSession, *, actor) -> DisclosureEntry:
    grant = session.grant
    return ledger.record_disclosure(
        recipient_kind=DisclosureEntry.Recipient.STAFF_STORAGE_ACCESS,
        recipient=f"Our staff: {session.staff.full_name or session.staff.email}",
        purpose=grant.purpose[:300],
        legal_basis=(
            "Necessary to provide the service: " + grant.get_necessity_reason_display()
            if grant.route == StorageGrant.Route.NECESSARY
            else "At your request or with your approval"
        ),
        categories=[Category.SERVICE],
        customers=[grant.customer],
        summary=f"Access to the storage of {grant.service} under grant #{grant.pk}.",
        actor=actor,
    )


def check_session_fits(grant: StorageGrant, *, staff, started_at: dt.datetime) -> None:
    """A session is recorded only for staff named on the grant, inside its window (a
    revoked grant's window closed when it was revoked)."""
    if not grant.staff.filter(pk=staff.pk).exists():
        raise ValidationError(f"{staff} is not named on {grant}.")
    was_approved = grant.status == StorageGrant.Status.APPROVED or (
        grant.status == StorageGrant.Status.REVOKED and grant.approved_at is not None
    )
    closes = min(grant.ends_at, grant.revoked_at) if grant.revoked_at else grant.ends_at
    if not (was_approved and grant.starts_at <= started_at < closes):
        raise ValidationError(f"{grant} was not in force at {timezone.localtime(started_at):%Y-%m-%d %H:%M}.")
    if started_at > timezone.now():
        raise ValidationError("A session cannot start in the future.")


@transaction.atomic
def start_session(
    grant: StorageGrant,
    *,
    staff,
    tool: StorageAccessTool | None = None,
    actor: Actor,
    started_at: dt.datetime | None = None,
) -> StorageAccessSession:
    """Record that ``staff`` opened the storage under ``grant`` (reported by a tool, or
    entered by staff afterwards); the access goes into the disclosure ledger."""
    started_at = started_at or timezone.now()
    grant = StorageGrant.objects.select_for_update().get(pk=grant.pk)
    check_session_fits(grant, staff=staff, started_at=started_at)
    session = StorageAccessSession.objects.create(
        grant=grant,
        staff=staff,
        started_at=started_at,
        source=StorageAccessSession.Source.TOOL if tool else StorageAccessSession.Source.STAFF,
        tool=tool,
        recorded_by=person(actor),
    )
    # The ledger names the person who reached the data, whoever reported it.
    session.disclosure = _record_in_ledger(session, actor=person(actor) or staff)
    session.save(update_fields=["disclosure"])
    record(
        "storage_session.started",
        actor=actor,
        target=session,
        customer=grant.customer,
        summary=f"{staff.email} opened the storage of {grant.service} (storage access #{grant.pk})",
        security=True,
    )
    return session


@transaction.atomic
def end_session(
    session: StorageAccessSession, *, what_was_done: str, ended_at: dt.datetime | None = None, actor: Actor
) -> StorageAccessSession:
    if not what_was_done.strip():
        raise ValidationError("Say what was done: the customer reads it.")
    ended_at = ended_at or timezone.now()
    if ended_at < session.started_at:
        raise ValidationError("A session cannot end before it started.")
    changed = StorageAccessSession.objects.filter(pk=session.pk, ended_at__isnull=True).update(
        ended_at=ended_at, what_was_done=what_was_done.strip()
    )
    if not changed:
        raise ValidationError(f"Session #{session.pk} has already ended.")
    session.refresh_from_db()
    record(
        "storage_session.ended",
        actor=actor,
        target=session,
        customer=session.grant.customer,
        summary=f"Closed the session on {session.grant.service}: {session.what_was_done}",
        security=True,
    )
    return session


@transaction.atomic
def record_session(
    grant: StorageGrant, *, staff, started_at: dt.datetime, ended_at: dt.datetime, what_was_done: str, actor
) -> StorageAccessSession:
    """Staff enter a whole session afterwards (work done without a reporting tool)."""
    _require_perm(actor, REQUEST_PERMISSION)
    session = start_session(grant, staff=staff, actor=actor, started_at=started_at)
    return end_session(session, what_was_done=what_was_done, ended_at=ended_at, actor=actor)


# --------------------------------------------------------------------------------------
# Tools' tokens
# --------------------------------------------------------------------------------------


@transaction.atomic
def create_tool(*, name: str, actor) -> tuple[StorageAccessTool, str]:
    """A new tool and its token, returned once: only the token's hash is kept."""
    if not name.strip():
        raise ValidationError("Name the tool.")
    token = StorageAccessTool.new_token()
    tool = StorageAccessTool.objects.create(
        name=name.strip(), token_prefix=token[:12], token_sha256=StorageAccessTool.hash_token(token), created_by=actor
    )
    record("storage_tool.created", actor=actor, target=tool, summary=f"Made a token for the tool {tool.name}")
    return tool, token


@transaction.atomic
def revoke_tool(tool: StorageAccessTool, *, actor) -> StorageAccessTool:
    if StorageAccessTool.objects.filter(pk=tool.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()):
        record("storage_tool.revoked", actor=actor, target=tool, summary=f"Revoked the token of the tool {tool.name}")
    tool.refresh_from_db()
    return tool


def tool_for_token(token: str) -> StorageAccessTool | None:
    if not token:
        return None
    return StorageAccessTool.objects.filter(
        token_sha256=StorageAccessTool.hash_token(token), revoked_at__isnull=True
    ).first()


# --------------------------------------------------------------------------------------
# What the customer sees
# --------------------------------------------------------------------------------------


def services_of(customer: Customer):
    return Service.objects.for_customer(customer).order_by("name")


def grants_of(customer: Customer):
    return (
        StorageGrant.objects.for_customer(customer)
        .select_related("service", "requested_by", "approved_by", "declined_by", "revoked_by")
        .prefetch_related("staff")
    )
