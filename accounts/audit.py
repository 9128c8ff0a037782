"""The audit trail: who did what, to which record, when, and from where.

Every service function that changes state takes the acting person (keyword-only) and
calls :func:`record` in its own transaction, so the event is written if and only if the
change is. Events are append-only: the model refuses to save an existing row and, on
PostgreSQL, a trigger refuses any UPDATE; rows leave only through the retention sweep.

The actor is a :class:`~accounts.models.User` (a customer's contact or a member of
staff) or a :class:`System` naming the scheduled task or public form that acted::

    record("contact.role_changed", actor=user, target=membership,
           changes={"role": ["billing", "owner"]}, summary="Made Ann Owner an owner")
    record("billing.run_finished", actor=System("billing run"), summary="...")

The client's address is taken from the request being served (allauth keeps it in a
context variable, behind the trusted-proxy rule the rate limits use), so callers need not
pass it. ``security=True`` marks events a customer sees on their Activity page: sign-ins,
two-factor changes, contact and role changes, exports and privacy requests.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from typing import Any

from allauth.account.adapter import get_adapter
from allauth.core import context
from dateutil.relativedelta import relativedelta
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from accounts.models import Customer, User
from core import pagecache
from core.registry import Category, Erasure, LawfulBasis, Retention, personal_data

# Sign-ins and other security events show who reached an account from where: long enough
# to investigate an account takeover found late, no longer.
SECURITY_EVENT_YEARS = 2
# Who issued, credited, refunded or released something is part of the business record:
# kept like the tax records it explains (6 years from the end of the financial year, so
# up to 7 years from the day).
BUSINESS_EVENT_YEARS = 7


@dataclass(frozen=True)
class System:
    """An actor that is not a person: a scheduled task, a public form, a mail gateway."""

    name: str

    def __str__(self) -> str:
        return f"System ({self.name})"


Actor = User | System


def command_actor(command: str, operator: str = "") -> Actor:
    """Who runs a management command a person starts by hand: the member of staff named by
    its ``--operator`` (an active staff login), else the command itself, naming the
    operating-system account that ran it. Raises ``ValueError`` for an unknown operator,
    before anything is done."""
    operator = operator.strip()
    if operator:
        user = User.objects.filter(email__iexact=operator, is_active=True, is_staff=True).first()
        if user is None:
            raise ValueError(f"{operator} is not an active member of staff: --operator takes a staff login's email.")
        return user
    try:
        account = getpass.getuser()
    except (KeyError, OSError):  # no login name and no password-file entry (a bare container)
        account = "an unnamed account"
    return System(f"{command}, run by {account}")


def person(who: Actor) -> User | None:
    """The login behind ``who`` for a record's "recorded by" field: None for a system."""
    return who if isinstance(who, User) else None


class AuditEventQuerySet(models.QuerySet):
    def about(self, obj: models.Model) -> AuditEventQuerySet:
        return self.filter(target_type=ContentType.objects.get_for_model(obj), target_id=str(obj.pk))

    def activity_for(self, customer: Customer, user: User) -> AuditEventQuerySet:
        """What a contact sees on the Activity page: the account's security events, and
        their own sign-ins and security changes (not other contacts' sign-ins)."""
        return self.filter(security=True).filter(
            models.Q(customer=customer) | models.Q(customer__isnull=True, actor=user)
        )


@personal_data(
    description="A record of who did what on your account: sign-ins, changes, requests and exports.",
    categories=[Category.ACCOUNT],
    fields=["actor_label", "ip_address", "summary", "changes", "target_label"],
    portable_fields=["occurred_at", "action", "actor_label", "ip_address", "summary"],
    not_personal={"action": "The name of what was done, such as contact.invited."},
    context=["occurred_at", "action"],
    purpose="Security of your account and accountability for changes made to it (who did what, when).",
    lawful_basis=LawfulBasis.LEGITIMATE_INTERESTS,
    customer_path="customer",
    person_path="actor",
    retention=Retention(
        counted_from="kept_until",
        description=f"Sign-ins and security events {SECURITY_EVENT_YEARS} years; changes to billing and "
        f"privacy records {BUSINESS_EVENT_YEARS} years, like the records they explain.",
    ),
    erasure=Erasure.keep(
        "A record of who changed your account and when, kept to protect your account and to show "
        "what was done if it is ever questioned; deleted when its retention ends."
    ),
)
class AuditEvent(models.Model):
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    # No database constraint: the trail outlives the rows it names, and a deleted login or
    # record must not delete or rewrite the history of what was done.
    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    actor_label = models.CharField(max_length=200, help_text="Who acted, as they were named at the time.")
    action = models.CharField(max_length=64, db_index=True)
    summary = models.CharField(max_length=300, blank=True)
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    target_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=200, blank=True)
    ip_address = models.GenericIPAddressField(verbose_name="IP address", null=True, blank=True)
    changes = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    security = models.BooleanField(default=False, help_text="Shown to the customer on their Activity page.")
    kept_until = models.DateField()

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        app_label = "accounts"
        ordering = ["-occurred_at", "-pk"]
        indexes = [
            models.Index(fields=["customer", "-occurred_at"], name="audit_customer_time"),
            models.Index(fields=["target_type", "target_id"], name="audit_target"),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.actor_label}: {self.action}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise PermissionDenied("Audit events are append-only: an event cannot be changed.")
        super().save(*args, **kwargs)


def _client_ip() -> str | None:
    request = context.request
    if request is None:
        return None
    try:
        return get_adapter(request).get_client_ip(request)
    except PermissionDenied:
        return None


def _customer_of(target: models.Model | None) -> Customer | None:
    if target is None:
        return None
    if isinstance(target, Customer):
        return target
    customer = getattr(target, "customer", None)
    return customer if isinstance(customer, Customer) else None


def _who(actor: Actor) -> tuple[User | None, str]:
    """The login (if a person acted) and the label an event keeps of ``actor``."""
    if isinstance(actor, User):
        return actor, actor.email
    if isinstance(actor, System):
        return None, str(actor)
    raise TypeError(f"An audit event needs a User or a System actor, not {actor!r}.")


def record(
    action: str,
    *,
    actor: Actor,
    target: models.Model | None = None,
    customer: Customer | None = None,
    changes: dict[str, Any] | None = None,
    summary: str = "",
    security: bool = False,
    hidden_from_customer: bool = False,
) -> AuditEvent:
    """Append one event to the trail, in the caller's transaction.

    ``customer`` defaults to the target's customer (or the target, when it is one);
    ``hidden_from_customer`` ties the event to no customer, so it reaches neither their
    Activity page nor their data export (a legal hold, a lawful demand under a duty of
    non-disclosure): staff find it through its target. ``changes`` maps a field to
    ``[old, new]``. Raises ``TypeError`` without an actor:
    every change has someone, or some task, behind it.
    """
    actor_user, actor_label = _who(actor)
    occurred_at = timezone.now()
    years = SECURITY_EVENT_YEARS if security else BUSINESS_EVENT_YEARS
    return AuditEvent.objects.create(
        occurred_at=occurred_at,
        actor=actor_user,
        actor_label=actor_label[:200],
        action=action,
        summary=summary[:300],
        customer=None if hidden_from_customer else customer if customer is not None else _customer_of(target),
        target_type=ContentType.objects.get_for_model(target) if target is not None else None,
        target_id=str(target.pk) if target is not None else "",
        target_label=str(target)[:200] if target is not None else "",
        ip_address=_client_ip(),
        changes=changes or {},
        security=security,
        kept_until=timezone.localdate(occurred_at) + relativedelta(years=years),
    )


def record_many(action: str, *, actor: Actor, targets: list[models.Model], summary) -> list[AuditEvent]:
    """One event per target in a single INSERT, for a batch job (the billing run issues a
    group of documents in one transaction, scheduled or started by staff).
    ``summary(target)`` says what was done to it."""
    actor_user, actor_label = _who(actor)
    ip_address = _client_ip()
    now = timezone.now()
    kept_until = timezone.localdate(now) + relativedelta(years=BUSINESS_EVENT_YEARS)
    events = [
        AuditEvent(
            occurred_at=now,
            actor=actor_user,
            actor_label=actor_label[:200],
            ip_address=ip_address,
            action=action,
            summary=summary(target)[:300],
            customer=_customer_of(target),
            target_type=ContentType.objects.get_for_model(target),
            target_id=str(target.pk),
            target_label=str(target)[:200],
            kept_until=kept_until,
        )
        for target in targets
    ]
    with pagecache.writes_for(customers={event.customer_id for event in events}):  # each customer's activity page
        return AuditEvent.objects.bulk_create(events)


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """The fields that changed, as ``{field: [old, new]}``, for ``record(changes=...)``."""
    return {
        name: [_plain(before.get(name)), _plain(value)] for name, value in after.items() if before.get(name) != value
    }


def _plain(value: Any) -> Any:
    """A value JSON can hold as the person read it: a country as its code, a date as ISO."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


# ---------------------------------------------------------------------------------------
# A person's own security events, from allauth's signals: who signed in, and changes to
# how they sign in. Each belongs to the person (no customer), shown on their Activity page.

_PERSONAL_EVENTS = {
    "signed_in": "Signed in",
    "password_changed": "Changed the password",
    "password_reset": "Reset the password by email",
    "email_added": "Added an email address",
    "email_removed": "Removed an email address",
    "email_changed": "Changed the primary email address",
    "mfa_added": "Turned on a two-factor method",
    "mfa_removed": "Removed a two-factor method",
    "mfa_reset": "Made new recovery codes",
    "mfa_failed": "Gave a wrong two-factor code",
}


def _personal(event: str):
    def receiver(sender, request=None, user=None, **kwargs) -> None:
        user = user or getattr(request, "user", None)
        if not isinstance(user, User):
            return
        detail = ""
        for key in ("email_address", "to_email_address", "authenticator"):
            value = kwargs.get(key)
            if value is not None:
                detail = getattr(value, "email", None) or getattr(value, "get_type_display", lambda: "")()
        summary = _PERSONAL_EVENTS[event] + (f": {detail}" if detail else "")
        record(f"login.{event}", actor=user, target=user, summary=summary, security=True)

    receiver.__name__ = f"audit_{event}"
    return receiver


def connect_signals() -> None:
    """Called by AccountsConfig.ready."""
    from allauth.account import signals as account
    from allauth.mfa import signals as mfa
    from django.contrib.auth import signals as auth

    for signal, event in (
        (auth.user_logged_in, "signed_in"),
        (account.password_changed, "password_changed"),
        (account.password_reset, "password_reset"),
        (account.email_added, "email_added"),
        (account.email_removed, "email_removed"),
        (account.email_changed, "email_changed"),
        (mfa.authenticator_added, "mfa_added"),
        (mfa.authenticator_removed, "mfa_removed"),
        (mfa.authenticator_reset, "mfa_reset"),
        (mfa.authentication_failed, "mfa_failed"),
    ):
        signal.connect(_personal(event), dispatch_uid=f"accounts.audit.{event}", weak=False)
