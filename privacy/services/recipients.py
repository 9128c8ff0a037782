"""Passing a correction, erasure or restriction on to the recipients (UK GDPR Art 19).

"The controller shall communicate any rectification or erasure of personal data or
restriction of processing ... to each recipient to whom the personal data have been
disclosed, unless this proves impossible or involves disproportionate effort." The
disclosure ledger says who those recipients are; staff tell each one and record it here,
once per request and ledger entry.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts import audit
from accounts.audit import Actor
from privacy.models import DataSubjectRequest, DisclosureEntry, RecipientNotification

# The request kinds Art 19 applies to.
NOTIFIABLE_KINDS = frozenset(
    {
        DataSubjectRequest.Kind.RECTIFICATION,
        DataSubjectRequest.Kind.ERASURE,
        DataSubjectRequest.Kind.RESTRICTION,
    }
)


def _disclosures_of(request: DataSubjectRequest):
    """Ledger entries that sent the request's customer's data to someone other than them.

    Withheld entries are included: the non-disclosure duty is about telling the
    customer, not about telling the recipient who already holds the data.
    """
    if request.kind not in NOTIFIABLE_KINDS or request.customer_id is None:
        return DisclosureEntry.objects.none()
    return (
        DisclosureEntry.objects.for_customer(request.customer_id)
        # Not third parties: the person themselves, and our own staff's storage access.
        .exclude(
            recipient_kind__in=[DisclosureEntry.Recipient.DATA_SUBJECT, DisclosureEntry.Recipient.STAFF_STORAGE_ACCESS]
        )
        .order_by("sequence")
    )


def recipients_to_notify(request: DataSubjectRequest) -> list[DisclosureEntry]:
    """The disclosures whose recipients still have to be told about ``request``, oldest first."""
    return list(_disclosures_of(request).exclude(notifications__request=request))


def notifications_for(request: DataSubjectRequest) -> list[RecipientNotification]:
    """The notifications already recorded for ``request``, oldest disclosure first."""
    return list(
        request.recipient_notifications.select_related("disclosure", "notified_by").order_by("disclosure__sequence")
    )


@transaction.atomic
def record_recipient_notification(
    request: DataSubjectRequest, disclosure: DisclosureEntry, *, actor: Actor, how: str
) -> RecipientNotification:
    """Record that the recipient of ``disclosure`` was told about ``request``.

    Recording the same pair twice returns the first record unchanged (the unique
    constraint ``notify_recipient_once`` makes this safe against a double submit).
    """
    if not how.strip():
        raise ValueError("Say how the recipient was told, e.g. 'email to their data protection contact'.")
    if not _disclosures_of(request).filter(pk=disclosure.pk).exists():
        raise ValueError(
            f"Disclosure #{disclosure.sequence} did not send this request's customer's data to a recipient."
        )
    notification, created = RecipientNotification.objects.get_or_create(
        request=request,
        disclosure=disclosure,
        defaults={"notified_by": audit.person(actor), "notified_at": timezone.now(), "how": how.strip()},
    )
    if created:
        audit.record(
            "privacy.recipient_notified",
            actor=actor,
            target=request,
            customer=request.customer,
            summary=f"Told {disclosure.recipient} (disclosure #{disclosure.sequence}) of the request: {how.strip()}",
        )
    return notification
