"""Disputes of invoices: raised by a billing contact or owner in the portal, worked by
billing staff in the admin (docs/collections.md).

An open dispute pauses reminders and late-payment charges on its document (``state.
collectable`` leaves it out) and places a legal hold on the customer's records, billing
and correspondence included, so the retention sweep and erasure keep them while it lasts.
The hold is staff's business: the customer sees the dispute and its decision, never the
hold. Staff resolve it with a credit note for the disputed lines (or the whole document)
or reject it with reasons, which are emailed; either way its hold is lifted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts import audit, roles
from accounts.correspondence.gateway import NoRecipients, send_mail, store_file
from accounts.correspondence.models import MailKind
from billing.collections.models import Dispute, DisputeAttachment
from billing.documents.locking import lock_customer
from billing.models import Invoice
from billing.workflows.settlement import credit_invoice
from privacy.services.holds import lift_hold, place_hold

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_ATTACHMENTS = 5


def raise_dispute(
    invoice: Invoice,
    *,
    membership,
    reason: str,
    line_ids: Sequence[int] = (),
    attachments: Sequence = (),
) -> Dispute:
    """Open a dispute of ``invoice`` for ``membership``'s customer. ``attachments`` are
    uploaded files (name, content_type, read())."""
    if membership is None or not membership.can(roles.Action.VIEW_BILLING):
        raise ValidationError("Only a billing contact or an owner can dispute an invoice.")
    if invoice.customer_id != membership.customer_id:
        raise ValidationError("This document is not one of your account's.")
    reason = reason.strip()
    if not reason:
        raise ValidationError("Say why you dispute it: what is wrong, and what you expected.")
    if invoice.kind not in Invoice.DEBIT_KINDS or invoice.status not in (
        Invoice.Status.ISSUED,
        Invoice.Status.PART_PAID,
    ):
        raise ValidationError(f"{invoice} is {invoice.get_status_display().lower()}: there is nothing to dispute.")
    if len(attachments) > MAX_ATTACHMENTS:
        raise ValidationError(f"Attach at most {MAX_ATTACHMENTS} files.")
    files = []
    for upload in attachments:
        content = upload.read()
        if len(content) > MAX_ATTACHMENT_BYTES:
            raise ValidationError(f"{upload.name} is larger than 10 MB.")
        files.append((upload.name, getattr(upload, "content_type", "") or "application/octet-stream", content))
    lines = list(invoice.lines.filter(pk__in=line_ids))
    if len(lines) != len(set(line_ids)):
        raise ValidationError("Choose lines of this document only.")
    with transaction.atomic():
        lock_customer(invoice.customer)
        if Dispute.objects.open().filter(invoice=invoice).exists():
            raise ValidationError(f"{invoice} is already disputed: we are looking into it.")
        dispute = Dispute.objects.create(invoice=invoice, reason=reason, raised_by=membership.user)
        dispute.lines.set(lines)
        for name, content_type, content in files:
            stored, digest = store_file("billing/disputes", name, content)
            DisputeAttachment.objects.create(
                dispute=dispute,
                filename=name[:255],
                content_type=content_type[:255],
                size=len(content),
                sha256=digest,
                file=stored,
            )
        dispute.hold = place_hold(
            invoice.customer, reason=f"Dispute of {invoice.number} (dispute {dispute.pk})", actor=membership.user
        )
        dispute.save(update_fields=["hold"])
        audit.record(
            "collections.dispute_raised",
            actor=membership.user,
            target=invoice,
            summary=f"Dispute of {invoice.number}: {reason}",
        )
        _tell(dispute, "collections_dispute_received")
    return dispute


def resolve_dispute(dispute: Dispute, *, reason: str, actor, whole_document: bool = False) -> Invoice:
    """Uphold the dispute: credit the disputed lines (all of the document when none were
    chosen, or ``whole_document``) and lift the hold. Returns the credit note."""
    reason = reason.strip()
    if not reason:
        raise ValidationError("Give the reason for the credit: it is printed on the credit note.")
    with transaction.atomic():
        dispute = _open(dispute)
        lines = list(dispute.lines.all())
        if whole_document or not lines:
            note = credit_invoice(dispute.invoice, reason=reason, actor=actor)
        else:
            note = credit_invoice(
                dispute.invoice,
                lines=[
                    {
                        "description": line.description,
                        "quantity": line.quantity,
                        "unit_price": line.unit_price,
                        "vat_category": line.vat_category,
                        "vat_rate": line.vat_rate,
                    }
                    for line in lines
                ],
                reason=reason,
                actor=actor,
            )
        _decide(dispute, Dispute.Status.RESOLVED, reason, actor, credit_note=note)
        _tell(dispute, "collections_dispute_decided")
    return note


def reject_dispute(dispute: Dispute, *, reasons: str, actor) -> Dispute:
    """Turn the dispute down with reasons, emailed to the customer; reminders resume."""
    reasons = reasons.strip()
    if not reasons:
        raise ValidationError("Give the reasons: the customer is sent them.")
    with transaction.atomic():
        dispute = _open(dispute)
        _decide(dispute, Dispute.Status.REJECTED, reasons, actor)
        _tell(dispute, "collections_dispute_decided")
    return dispute


def _open(dispute: Dispute) -> Dispute:
    lock_customer(dispute.invoice.customer)
    fresh = (
        Dispute.objects.select_for_update(of=("self",)).select_related("invoice__customer", "hold").get(pk=dispute.pk)
    )
    if fresh.status != Dispute.Status.OPEN:
        raise ValidationError(f"This dispute was already {fresh.get_status_display().lower()}.")
    return fresh


def _decide(dispute: Dispute, status: str, decision: str, actor, credit_note=None) -> None:
    dispute.status = status
    dispute.decision = decision
    dispute.credit_note = credit_note
    dispute.decided_by = actor
    dispute.decided_at = timezone.now()
    dispute.save(update_fields=["status", "decision", "credit_note", "decided_by", "decided_at"])
    audit.record(
        f"collections.dispute_{status}",
        actor=actor,
        target=dispute.invoice,
        summary=f"Dispute of {dispute.invoice.number} {dispute.get_status_display().lower()}: {decision}",
    )
    if dispute.hold is not None and dispute.hold.lifted_at is None:
        lift_hold(dispute.hold, actor=actor)


def _tell(dispute: Dispute, template: str) -> None:
    with contextlib.suppress(NoRecipients):  # the portal shows it all the same
        send_mail(
            kind=MailKind.BILLING,
            template=template,
            customer=dispute.invoice.customer,
            context={"dispute": dispute, "invoice": dispute.invoice},
            idempotency_key=f"{template}:{dispute.pk}",
            related=dispute.invoice,
        )
