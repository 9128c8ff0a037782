"""Usage records: 5-minute samples, their daily totals, plans' usage terms, the usage each
invoice billed, and the tokens collectors post samples with.

Registered with the billing app by ``BillingConfig.ready`` (``billing.models`` never
imports them). Samples are written only through ``billing.usage.ingest``, usage charges
only by the billing run (``billing.usage.charges``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts import audit
from accounts.models import User
from billing.models import InvoiceLine, Plan, Subscription, account_retention
from core.registry import TAX_RECORDS_RULE, Category, Erasure, LawfulBasis, Retention, no_personal_data, personal_data


def roll_up_to_days(samples: models.QuerySet) -> None:
    """Add ``samples`` to their services' daily totals (UTC days), before they are deleted.

    Called by the retention sweep in the transaction that deletes them, batch by batch:
    each batch adds to the totals, so a day whose samples go in several batches (or
    several sweeps, after a legal hold is lifted) still ends with its full total.
    """
    days = (
        samples.order_by()
        .annotate(day=TruncDate("interval_start", tzinfo=dt.UTC))
        .values("service_id", "day")
        .annotate(bytes_in_total=Sum("bytes_in"), bytes_out_total=Sum("bytes_out"), count=Count("pk"))
    )
    for row in days:
        total, created = DailyUsage.objects.select_for_update().get_or_create(
            service_id=row["service_id"],
            day=row["day"],
            defaults={"bytes_in": row["bytes_in_total"], "bytes_out": row["bytes_out_total"], "samples": row["count"]},
        )
        if not created:
            DailyUsage.objects.filter(pk=total.pk).update(
                bytes_in=F("bytes_in") + row["bytes_in_total"],
                bytes_out=F("bytes_out") + row["bytes_out_total"],
                samples=F("samples") + row["count"],
            )


@personal_data(
    description="Bandwidth your services used: bytes in and out per 5 minutes.",
    categories=[Category.USAGE],
    fields=["interval_start", "bytes_in", "bytes_out"],
    context=["service__name"],
    purpose="Bill bandwidth as your plan says, and answer questions about a usage invoice.",
    lawful_basis=LawfulBasis.CONTRACT,
    customer_path="service__customer",
    retention=Retention(
        counted_from="interval_start",
        # The month is invoiced in the next month's run: two months from the sample cover
        # the invoice's date, then the dispute window runs from it.
        months=settings.PORTAL_USAGE_DISPUTE_MONTHS + 2,
        description=f"Kept until the invoice for their month is past the "
        f"{settings.PORTAL_USAGE_DISPUTE_MONTHS}-month dispute window, then replaced by daily totals.",
        summarise=roll_up_to_days,
    ),
    erasure=Erasure.keep("Needed to answer disputes about usage invoices until the dispute window ends."),
)
class UsageSample(models.Model):
    """Bytes a service sent and received in one 5-minute interval (UTC), from a collector.

    One per service and interval (the unique index, which also serves every per-service
    query by time): a re-sent sample changes nothing, a corrected one replaces it only when
    asked to (``billing.usage.ingest``).
    """

    service = models.ForeignKey("accounts.Service", on_delete=models.CASCADE, related_name="+", db_index=False)
    interval_start = models.DateTimeField(help_text="Start of the 5-minute interval, UTC.")
    bytes_in = models.PositiveBigIntegerField()
    bytes_out = models.PositiveBigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["service", "interval_start"], name="one_usage_sample_per_service_interval")
        ]

    def __str__(self) -> str:
        return f"{self.service_id} at {self.interval_start:%Y-%m-%d %H:%M}"


@personal_data(
    description="Daily bandwidth totals of your services (what remains of 5-minute samples after the dispute window).",
    categories=[Category.USAGE],
    fields=["day", "bytes_in", "bytes_out"],
    context=["service__name", "samples"],
    purpose="Keep the basis of usage invoices with the billing records.",
    lawful_basis=LawfulBasis.LEGAL_OBLIGATION,
    customer_path="service__customer",
    retention=account_retention("service__customer"),
    erasure=Erasure.keep(f"The basis of invoices is kept with the billing records for 6 years ({TAX_RECORDS_RULE})."),
)
class DailyUsage(models.Model):
    """A service's bytes in and out over one UTC day, rolled up from its samples."""

    service = models.ForeignKey("accounts.Service", on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    bytes_in = models.PositiveBigIntegerField(default=0)
    bytes_out = models.PositiveBigIntegerField(default=0)
    samples = models.PositiveIntegerField(default=0, help_text="How many 5-minute samples the totals add up.")

    class Meta:
        verbose_name_plural = "daily usage"
        constraints = [models.UniqueConstraint(fields=["service", "day"], name="one_daily_usage_per_service_day")]

    def __str__(self) -> str:
        return f"{self.service_id} on {self.day}"


@no_personal_data("The provider's catalogue: how a plan charges for bandwidth.")
class UsageTerms(models.Model):
    """A plan's usage component: total transfer against an allowance, or the 95th percentile
    against a committed rate. Usage is measured per calendar month and billed in arrears."""

    class Method(models.TextChoices):
        TRANSFER = "transfer", "Total transfer"
        PERCENTILE = "percentile", "95th percentile"

    class Directions(models.TextChoices):
        IN_AND_OUT = "in_and_out", "Inbound and outbound added"
        OUT = "out", "Outbound only"

    plan = models.OneToOneField(Plan, on_delete=models.CASCADE, related_name="usage_terms")
    method = models.CharField(max_length=10, choices=Method.choices)
    directions = models.CharField(
        max_length=10,
        choices=Directions.choices,
        default=Directions.IN_AND_OUT,
        help_text="Total transfer: what counts against the allowance (the 95th percentile bills the higher "
        "of in and out).",
    )
    allowance_gb = models.DecimalField(
        "allowance (GB)",
        max_digits=12,
        decimal_places=3,
        null=True,
        blank=True,
        help_text="Total transfer: decimal gigabytes (10⁹ bytes) included per month.",
    )
    price_per_gb = models.DecimalField("price per GB over", max_digits=12, decimal_places=2, null=True, blank=True)
    commit_mbps = models.DecimalField(
        "commit (Mbit/s)",
        max_digits=12,
        decimal_places=3,
        null=True,
        blank=True,
        help_text="95th percentile: the committed rate included, in Mbit/s (10⁶ bits per second).",
    )
    price_per_mbps = models.DecimalField(
        "price per Mbit/s over", max_digits=12, decimal_places=2, null=True, blank=True
    )

    class Meta:
        verbose_name = "usage terms"
        verbose_name_plural = "usage terms"

    def __str__(self) -> str:
        if self.method == self.Method.TRANSFER:
            return f"{self.allowance_gb} GB included, then {self.price_per_gb} per GB"
        return f"95th percentile, {self.commit_mbps} Mbit/s committed, then {self.price_per_mbps} per Mbit/s"

    def clean(self) -> None:
        needed = (
            {"allowance_gb": "the allowance", "price_per_gb": "the price per GB over it"}
            if self.method == self.Method.TRANSFER
            else {"commit_mbps": "the committed rate", "price_per_mbps": "the price per Mbit/s over it"}
        )
        errors = {}
        for name, label in needed.items():
            value = getattr(self, name)
            if value is None:
                errors[name] = f"A {self.get_method_display().lower()} plan needs {label}."
            elif value < 0:
                errors[name] = "Cannot be negative."
        if errors:
            raise ValidationError(errors)


@personal_data(
    description="The bandwidth each invoice billed for a service and month.",
    categories=[Category.USAGE, Category.FINANCIAL],
    fields=["period_start", "period_end", "measured", "overage"],
    context=["subscription__service__name", "method", "allowance", "samples", "samples_expected"],
    purpose="Bill bandwidth as your plan says.",
    lawful_basis=LawfulBasis.LEGAL_OBLIGATION,
    customer_path="subscription__service__customer",
    retention=account_retention("subscription__service__customer"),
    erasure=Erasure.keep(f"Records of what was billed are kept for 6 years ({TAX_RECORDS_RULE})."),
)
class UsageCharge(models.Model):
    """Usage of one subscription in one month, as the billing run measured and billed it.

    One per subscription and month: the run's idempotency for usage in arrears."""

    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="usage_charges")
    period_start = models.DateField(help_text="First day measured (the month's, or the service's start).")
    period_end = models.DateField(help_text="Last day measured.")
    month = models.DateField(help_text="First day of the month billed.")
    method = models.CharField(max_length=10, choices=UsageTerms.Method.choices)
    measured = models.DecimalField(max_digits=16, decimal_places=3, help_text="GB, or Mbit/s.")
    allowance = models.DecimalField(max_digits=16, decimal_places=3, help_text="GB, or Mbit/s (prorated).")
    overage = models.DecimalField(max_digits=16, decimal_places=3)
    samples = models.PositiveIntegerField()
    samples_expected = models.PositiveIntegerField()
    invoice_line = models.OneToOneField(InvoiceLine, on_delete=models.PROTECT, related_name="usage_charge")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subscription", "month"], name="usage_billed_once_per_subscription_month")
        ]

    def __str__(self) -> str:
        return f"Usage of {self.subscription} in {self.month:%B %Y}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class CollectorTokenQuerySet(models.QuerySet):
    def active(self) -> CollectorTokenQuerySet:
        return self.filter(revoked_at__isnull=True)

    def find(self, token: str) -> CollectorToken | None:
        """The active token ``token`` is, or None (only its hash is stored)."""
        if not token:
            return None
        return self.active().filter(token_hash=hash_token(token)).first()


@no_personal_data("Credentials of the provider's own network collectors.")
class CollectorToken(models.Model):
    """A secret a usage collector sends with its samples. Only its SHA-256 is stored: the
    token is shown once, when staff create it. Revoked, never deleted (its name and
    dates say which collector sent what, when)."""

    name = models.CharField(max_length=100, help_text="Which collector uses it, e.g. 'core-sw1 SNMP poller'.")
    prefix = models.CharField(max_length=12, editable=False, help_text="The token's first characters, to recognise it.")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )

    objects = CollectorTokenQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        permissions = [("revoke_collectortoken", "Can revoke usage collector tokens")]
        constraints = [
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True) | Q(revoked_at__gte=F("created_at")),
                name="collector_token_revoked_after_creation",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    @transaction.atomic
    def issue(cls, *, name: str, actor: audit.Actor) -> tuple[CollectorToken, str]:
        """A new token for ``name``: the row and the secret, which is never stored."""
        secret = "uc_" + secrets.token_urlsafe(32)
        row = cls.objects.create(
            name=name,
            prefix=secret[:10],
            token_hash=hash_token(secret),
            created_by=actor if isinstance(actor, User) else None,
        )
        audit.record("usage.collector_token_issued", actor=actor, target=row, summary=f"Issued a token for {name}")
        return row, secret

    @transaction.atomic
    def revoke(self, *, actor: audit.Actor) -> bool:
        """Stop accepting the token; False when it was revoked already."""
        now = timezone.now()
        person = actor if isinstance(actor, User) else None
        done = CollectorToken.objects.filter(pk=self.pk, revoked_at__isnull=True).update(
            revoked_at=now, revoked_by=person
        )
        if done:
            self.revoked_at, self.revoked_by = now, person
            audit.record(
                "usage.collector_token_revoked", actor=actor, target=self, summary=f"Revoked the token of {self.name}"
            )
        return bool(done)
