"""Policy documents: numbered versions, notice of material changes, acknowledgements.

Keep a log of past privacy notices with their dates, and tell users of material changes
before they take effect (docs/privacy.md "Policy versions"). Every published version stays public at
/privacy/policies/; a material change is emailed to every customer's contacts
``PORTAL_POLICY_NOTICE_DAYS`` days (default 30) before it takes effect, and each person
acknowledges it at their next login (privacy.middleware).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from accounts import audit
from accounts.audit import Actor
from accounts.correspondence.gateway import NoRecipients, send_mail
from accounts.correspondence.models import MailKind
from accounts.models import Customer
from privacy.models import PolicyAcknowledgement, PolicyVersion

logger = logging.getLogger(__name__)


def notice_days() -> int:
    return int(getattr(settings, "PORTAL_POLICY_NOTICE_DAYS", 30))


def published() -> QuerySet[PolicyVersion]:
    return PolicyVersion.objects.filter(published_at__isnull=False)


def check_new_version(
    *, document: str, effective_from: dt.date, material_change: bool, summary: str, today: dt.date | None = None
) -> None:
    """Refuse a version that could not keep the promise of notice before a material change."""
    today = today or timezone.localdate()
    errors: dict[str, str] = {}
    if document not in PolicyVersion.Document.values:
        errors["document"] = f"Unknown document {document!r}."
    if material_change:
        if not summary.strip():
            errors["summary_of_changes"] = (
                "A material change needs a summary: it is what customers are emailed and asked to acknowledge."
            )
        earliest = today + dt.timedelta(days=notice_days())
        if effective_from < earliest:
            errors["effective_from"] = (
                f"A material change must take effect at least {notice_days()} days after it is published "
                f"(customers are told in advance): {earliest:%-d %B %Y} at the earliest."
            )
    if errors:
        raise ValidationError(errors)


@transaction.atomic
@transaction.atomic
def publish_version(
    document: str, body: str, effective_from: dt.date, material_change: bool, summary: str, *, actor: Actor
) -> PolicyVersion:
    """Publish the next version of ``document``. Versions are numbered 1, 2, 3... per document."""
    check_new_version(
        document=document, effective_from=effective_from, material_change=material_change, summary=summary
    )
    # Lock the document's versions so that two publications cannot take the same number;
    # the unique constraint (document, version) backs this up.
    numbers = list(
        PolicyVersion.objects.select_for_update().filter(document=document).values_list("version", flat=True)
    )
    version = PolicyVersion.objects.create(
        document=document,
        version=max(numbers, default=0) + 1,
        effective_from=effective_from,
        body=body,
        summary_of_changes=summary,
        material_change=material_change,
        published_at=timezone.now(),
    )
    audit.record(
        "policy.published",
        actor=actor,
        target=version,
        summary=f"Published {version.get_document_display().lower()} version {version.version}, "
        f"in force from {effective_from:%-d %B %Y}" + (" (a material change)" if material_change else ""),
    )
    return version


def current_versions(*, today: dt.date | None = None) -> list[PolicyVersion]:
    """The version of each document in force today (the newest already effective)."""
    return current_of(published(), today=today)


def current_of(versions: Iterable[PolicyVersion], *, today: dt.date | None = None) -> list[PolicyVersion]:
    """Of ``versions`` (published), the one of each document in force today."""
    today = today or timezone.localdate()
    current: dict[str, PolicyVersion] = {}
    for version in versions:
        if version.effective_from <= today:
            best = current.get(version.document)
            if best is None or version.version > best.version:
                current[version.document] = version
    return [current[document] for document in PolicyVersion.Document.values if document in current]


def upcoming_versions(*, today: dt.date | None = None) -> QuerySet[PolicyVersion]:
    today = today or timezone.localdate()
    return published().filter(effective_from__gt=today).order_by("effective_from", "document")


# ---------------------------------------------------------------------------------------
# Notice of material changes
# ---------------------------------------------------------------------------------------


def due_notices(*, today: dt.date | None = None) -> QuerySet[PolicyVersion]:
    """Material versions whose notice period has begun and whose notice is not yet sent."""
    today = today or timezone.localdate()
    return published().filter(
        material_change=True,
        notice_sent_at__isnull=True,
        effective_from__lte=today + dt.timedelta(days=notice_days()),
    )


def _policy_url(version: PolicyVersion) -> str:
    path = reverse("privacy:policy_version", kwargs={"document": version.document, "version": version.version})
    base = getattr(settings, "PORTAL_BASE_URL", "")
    return base.rstrip("/") + path if base else ""


def notify_customers_of(version: PolicyVersion) -> int:
    """Email every customer's contacts about ``version``; returns how many emails were stored.

    Each email's idempotency key names the version and the customer, so a run that
    stopped half-way, or two runs at once, still send each customer one email.
    """

    sent = 0
    context = {"version": version, "policy_url": _policy_url(version), "notice_days": notice_days()}
    # Suspended customers are still under contract, so they are told too; closed ones are not.
    customers = Customer.objects.exclude(status=Customer.Status.CLOSED).order_by("pk")
    for customer in customers.iterator(chunk_size=500):
        try:
            send_mail(
                kind=MailKind.PRIVACY,
                template="policy_change",
                context=context,
                customer=customer,
                idempotency_key=f"policy-change:{version.pk}:customer:{customer.pk}",
                related=version,
            )
        except NoRecipients:
            continue  # a customer with no active contact has nobody to tell
        sent += 1
    return sent


def send_policy_change_notices(*, today: dt.date | None = None) -> int:
    """Send the notice of each material change whose notice period has begun. Safe to run twice.

    Each version is claimed under a row lock and stamped ``notice_sent_at`` in the same
    transaction as its emails, so a second run (or a concurrent one) finds nothing to do.
    """
    total = 0
    for version_id in list(due_notices(today=today).values_list("pk", flat=True)):
        with transaction.atomic():
            version = PolicyVersion.objects.select_for_update().get(pk=version_id)
            if version.notice_sent_at is not None:
                continue
            total += notify_customers_of(version)
            version.notice_sent_at = timezone.now()
            version.save(update_fields=["notice_sent_at"])
        logger.info("Notice of %s sent", version)
    return total


# ---------------------------------------------------------------------------------------
# Acknowledgements
# ---------------------------------------------------------------------------------------


def pending_acknowledgements(person) -> QuerySet[PolicyVersion]:
    """Published material versions ``person`` has not acknowledged.

    A version already in force when the person joined is not asked about: they came to
    us under it (the public history shows it).
    """
    pending = published().filter(material_change=True).exclude(acknowledgements__person=person)
    joined = getattr(person, "date_joined", None)
    if joined is not None:
        pending = pending.filter(effective_from__gt=timezone.localdate(joined))
    return pending.order_by("document", "version")


def acknowledge(person, versions: Iterable[PolicyVersion]) -> list[PolicyAcknowledgement]:
    """Record that ``person`` acknowledged each of ``versions``; once per version."""
    recorded = []
    for version in versions:
        try:
            with transaction.atomic():
                ack, _ = PolicyAcknowledgement.objects.get_or_create(person=person, version=version)
        except IntegrityError:  # a double submit raced us: it is recorded already
            ack = PolicyAcknowledgement.objects.get(person=person, version=version)
        recorded.append(ack)
    return recorded
