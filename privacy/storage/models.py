"""Storage-access grants, the checks the provider's tooling makes, and access sessions.

The models belong to the privacy app (``PrivacyConfig.ready`` imports this module); every
write goes through ``privacy.storage.services``. Physical servers are never accessed: a
grant names a virtual service, which the service function, the admin form and a database
trigger (migration) each refuse to break.
"""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.registry import TAX_RECORDS_RULE, Category, Erasure, LawfulBasis, Retention, no_personal_data, personal_data

# Kept as long as the service's own records: 6 years from the end of the financial year
# in which the service ended (accounts.models.Service).
_WITH_THE_SERVICE = {"years": 6, "from_financial_year_end": True}


class NecessityReason(models.TextChoices):
    """Why staff may reach storage without the customer's request (the fixed list)."""

    RESTORE = "restore", "A restore the customer cannot do themselves"
    SECURITY_INCIDENT = "security_incident", "An active security incident on our platform"
    PLATFORM_FAILURE = "platform_failure", "A failure of our platform that puts the service's data at risk"
    MIGRATION = "migration", "Moving the service off failing or retired hardware"


class StorageGrantQuerySet(models.QuerySet):
    def for_customer(self, customer) -> StorageGrantQuerySet:
        return self.filter(customer=customer)

    def in_force(self, now=None) -> StorageGrantQuerySet:
        """Approved, not revoked, and ``now`` inside [starts_at, ends_at)."""
        now = now or timezone.now()
        return self.filter(status=StorageGrant.Status.APPROVED, starts_at__lte=now, ends_at__gt=now)


@personal_data(
    description="Requests and grants of access to the storage of your virtual servers, and who decided them.",
    categories=[Category.SERVICE],
    fields=["purpose", "reason_detail", "decline_reason", "revoke_reason"],
    not_personal={"necessity_reason": "A reason from our fixed list, such as a restore."},
    context=["service__name", "route", "status", "starts_at", "ends_at", "necessity_reason"],
    purpose="Access a server's storage only at your request or where necessary to provide the service, "
    "and show you every access.",
    lawful_basis=LawfulBasis.CONTRACT,
    customer_path="customer",
    # A hold on the service keeps its grants, and through them the sessions and checks under them.
    belongs_to=["service"],
    retention=Retention(
        counted_from="service__ended_on",
        description="Kept as long as the service's records: 6 years from the end of the financial year "
        "in which the service ended.",
        **_WITH_THE_SERVICE,
    ),
    erasure=Erasure.keep(
        f"The record of who could reach your data, and why, is kept with the service's records ({TAX_RECORDS_RULE})."
    ),
)
class StorageGrant(models.Model):
    """Named staff may access one virtual service's storage, for a purpose, in a time window.

    Three routes: the customer asks (their request is the approval), staff ask and the
    customer approves or declines, or access is necessary to provide the service (a second
    member of staff approves and the customer is told at once).
    """

    class Route(models.TextChoices):
        CUSTOMER_REQUEST = "customer_request", "Requested by the customer"
        STAFF_REQUEST = "staff_request", "Asked by our staff, approved by the customer"
        NECESSARY = "necessary", "Necessary to provide the service"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for approval"
        APPROVED = "approved", "Approved"
        DECLINED = "declined", "Declined"
        REVOKED = "revoked", "Revoked"

    customer = models.ForeignKey("accounts.Customer", on_delete=models.PROTECT, related_name="storage_grants")
    service = models.ForeignKey("accounts.Service", on_delete=models.PROTECT, related_name="storage_grants")
    route = models.CharField(max_length=20, choices=Route.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    purpose = models.TextField(help_text="What will be done, in words the customer understands.")
    necessity_reason = models.CharField(max_length=30, choices=NecessityReason.choices, blank=True)
    reason_detail = models.TextField(blank=True, help_text="For necessary access: the circumstances.")
    staff = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="storage_grants", blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    declined_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    declined_at = models.DateTimeField(null=True, blank=True)
    decline_reason = models.TextField(blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoke_reason = models.TextField(blank=True)
    customer_told_at = models.DateTimeField(null=True, blank=True)

    objects = StorageGrantQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at", "-pk"]
        permissions = [
            ("request_storage_access", "Can ask a customer for access to a server's storage"),
            ("necessary_storage_access", "Can open and approve storage access necessary to provide the service"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="storage_grant_window"),
            models.CheckConstraint(
                condition=~Q(route="necessary") | ~Q(necessity_reason=""), name="storage_grant_necessity_reason"
            ),
            models.CheckConstraint(
                condition=~Q(status="approved") | Q(approved_by__isnull=False), name="storage_grant_approver"
            ),
        ]

    def __str__(self) -> str:
        return f"Storage access #{self.pk} to {self.service}"

    def state(self, now=None) -> str:
        """What the customer is told: waiting, scheduled, active, ended, declined or revoked."""
        now = now or timezone.now()
        if self.status == self.Status.APPROVED:
            if now < self.starts_at:
                return "scheduled"
            return "active" if now < self.ends_at else "ended"
        return self.status

    def state_label(self, now=None) -> str:
        return {
            "pending": "Waiting for approval",
            "scheduled": "Approved, not started",
            "active": "Active",
            "ended": "Ended",
            "declined": "Declined",
            "revoked": "Revoked",
        }[self.state(now)]


@no_personal_data("A tool of the provider's (a backup agent, a rescue image) and the hash of its secret token.")
class StorageAccessTool(models.Model):
    """A piece of the provider's tooling allowed to ask the enforcement point.

    Its token is shown once when it is made; only its SHA-256 is kept.
    """

    name = models.CharField(max_length=100, unique=True)
    token_prefix = models.CharField(max_length=12, editable=False)
    token_sha256 = models.CharField(verbose_name="SHA-256 of the token", max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def hash_token(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @staticmethod
    def new_token() -> str:
        return f"sat_{secrets.token_urlsafe(32)}"


@personal_data(
    description="Each time our tooling asked whether staff may open the storage of your server, and the answer.",
    categories=[Category.SERVICE],
    fields=["staff_email"],
    context=["service__name", "checked_at", "allowed", "answer"],
    purpose="Show that storage is opened only under a grant.",
    lawful_basis=LawfulBasis.CONTRACT,
    customer_path="customer",
    belongs_to=["grant", "service"],
    retention=Retention(
        counted_from="service__ended_on",
        description="Kept as long as the service's records.",
        **_WITH_THE_SERVICE,
    ),
    erasure=Erasure.keep("The record of access checks is kept with the service's records."),
)
class StorageAccessCheck(models.Model):
    """One question to the enforcement point: may this member of staff open this storage now?"""

    customer = models.ForeignKey("accounts.Customer", on_delete=models.PROTECT, related_name="+")
    service = models.ForeignKey("accounts.Service", on_delete=models.PROTECT, related_name="storage_checks")
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    staff_email = models.CharField(max_length=254, help_text="As the tool gave it.")
    grant = models.ForeignKey(StorageGrant, null=True, blank=True, on_delete=models.PROTECT, related_name="checks")
    tool = models.ForeignKey(StorageAccessTool, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    allowed = models.BooleanField()
    answer = models.CharField(max_length=300)
    checked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-checked_at", "-pk"]

    def __str__(self) -> str:
        return f"{'Allowed' if self.allowed else 'Denied'}: {self.staff_email} on {self.service}"

    @property
    def via(self) -> str:
        return self.tool.name if self.tool_id else "manage.py storage_access"


@personal_data(
    description="Each time our staff worked on the storage of your server: when, who and what was done.",
    categories=[Category.SERVICE],
    fields=["what_was_done"],
    context=["grant__service__name", "started_at", "ended_at", "source"],
    purpose="Show you every access to your server's storage.",
    lawful_basis=LawfulBasis.CONTRACT,
    customer_path="grant__customer",
    belongs_to=["grant"],
    retention=Retention(
        counted_from="grant__service__ended_on",
        description="Kept as long as the service's records.",
        **_WITH_THE_SERVICE,
    ),
    erasure=Erasure.keep("The record of access to your storage is kept with the service's records."),
)
class StorageAccessSession(models.Model):
    """A period during which a member of staff had a customer's storage open under a grant."""

    class Source(models.TextChoices):
        TOOL = "tool", "Reported by our tooling"
        STAFF = "staff", "Entered by staff"

    grant = models.ForeignKey(StorageGrant, on_delete=models.PROTECT, related_name="sessions")
    staff = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    what_was_done = models.TextField(blank=True)
    source = models.CharField(max_length=10, choices=Source.choices)
    tool = models.ForeignKey(StorageAccessTool, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    disclosure = models.OneToOneField(
        "privacy.DisclosureEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-started_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=models.F("started_at")),
                name="storage_session_ends_after_start",
            )
        ]

    def __str__(self) -> str:
        return f"Session #{self.pk} on {self.grant.service}"
