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
    return PolicyVersion.objects.filter(published_at__isnull=False, version__isnull=False)


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


DRAFT_FIELDS = ("document", "effective_from", "material_change", "summary_of_changes", "body")


@transaction.atomic
def save_draft(
    *,
    document: str,
    body: str,
    effective_from: dt.date,
    material_change: bool,
    summary: str,
    actor: Actor,
    draft: PolicyVersion | None = None,
) -> PolicyVersion:
    """Write a new draft of ``document``, or change ``draft``. Drafts are not public and have no number."""
    check_new_version(
        document=document, effective_from=effective_from, material_change=material_change, summary=summary
    )
    values = {
        "document": document,
        "effective_from": effective_from,
        "material_change": material_change,
        "summary_of_changes": summary,
        "body": body,
    }
    if draft is None:
        version = PolicyVersion.objects.create(**values)
        audit.record(
            "policy.draft_written",
            actor=actor,
            target=version,
            summary=f"Wrote a draft of the {version.get_document_display().lower()}",
        )
        return version
    version = PolicyVersion.objects.select_for_update().get(pk=draft.pk)
    if not version.is_draft:
        raise ValidationError("This version is published and cannot be changed; write a new draft instead.")
    before = {name: getattr(version, name) for name in DRAFT_FIELDS}
    for name, value in values.items():
        setattr(version, name, value)
    version.save(update_fields=list(values))
    changes = audit.diff(before, values)
    if "body" in changes:  # the trail says that the text changed; the draft holds the text
        changes["body"] = [f"{len(before['body'])} characters", f"{len(body)} characters"]
    if changes:
        audit.record(
            "policy.draft_changed",
            actor=actor,
            target=version,
            changes=changes,
            summary=f"Changed the draft of the {version.get_document_display().lower()}",
        )
    return version


@transaction.atomic
def publish(draft: PolicyVersion, *, actor: Actor) -> PolicyVersion:
    """Publish ``draft`` as the next version of its document (numbered 1, 2, 3... per document).

    The notice rule is checked again on the day of publishing. Publishing the same draft
    twice (a double click, two members of staff) publishes it once: the second is refused.
    """
    # Lock the document's versions so that two publications cannot take the same number;
    # the unique constraint (document, version) backs this up.
    rows = list(PolicyVersion.objects.select_for_update().filter(document=draft.document).order_by("pk"))
    version = next((row for row in rows if row.pk == draft.pk), None)
    if version is None:
        raise ValidationError("This draft no longer exists, or it was moved to another document.")
    if not version.is_draft:
        raise ValidationError(f"{version} is already published.")
    check_new_version(
        document=version.document,
        effective_from=version.effective_from,
        material_change=version.material_change,
        summary=version.summary_of_changes,
    )
    numbers = [row.version for row in rows if row.version is not None and row.pk != version.pk]
    version.version = max(numbers, default=0) + 1
    version.published_at = timezone.now()
    version.save(update_fields=["version", "published_at"])
    audit.record(
        "policy.published",
        actor=actor,
        target=version,
        changes={"version": [None, version.version], "effective_from": [None, version.effective_from.isoformat()]},
        summary=f"Published {version}, in effect from {version.effective_from:%-d %B %Y}"
        + (" (material change: customers are told in advance)" if version.material_change else ""),
    )
    return version


@transaction.atomic
def publish_version(
    document: str, body: str, effective_from: dt.date, material_change: bool, summary: str, *, actor: Actor
) -> PolicyVersion:
    """Write and publish the next version of ``document`` at once (no draft to review)."""
    draft = save_draft(
        document=document,
        body=body,
        effective_from=effective_from,
        material_change=material_change,
        summary=summary,
        actor=actor,
    )
    return publish(draft, actor=actor)


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
