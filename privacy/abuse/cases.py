"""Working a case: the one write path for the abuse desk's actions (docs/abuse.md).

Every action is one transaction: its mail is stored through the gateway, its disclosure
recorded in the ledger, its entry added to the case's history, or none of them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts import audit
from accounts import services as account_services
from accounts.correspondence import gateway
from accounts.correspondence.models import MailKind
from accounts.models import Service
from core.registry import Category, LawfulBasis
from privacy.abuse import intake, minimise
from privacy.abuse.models import AbuseCase, AbuseEvidence, AbuseReport, CaseEntry, CaseEntryFile
from privacy.models import DisclosureEntry
from privacy.services import ledger

MAX_ANSWER_FILES = 5
ABUSE_PURPOSE = "Handling an abuse report about traffic or content from the customer's service"


def _entry(case: AbuseCase, kind: str, *, actor=None, text: str = "", **fields) -> CaseEntry:
    return CaseEntry.objects.create(case=case, kind=kind, author=actor, text=text, **fields)


def _locked(case: AbuseCase) -> AbuseCase:
    return AbuseCase.objects.select_for_update().select_related("customer", "service").get(pk=case.pk)


@transaction.atomic
def set_status(case: AbuseCase, *, status: str, actor, note: str = "") -> AbuseCase:
    """Move a case to ``status``; closing it starts its evidence's retention clock."""
    if status not in AbuseCase.Status.values:
        raise ValidationError(f"{status!r} is not a case status.")
    locked = _locked(case)
    if locked.status == status:
        return locked
    before = locked.get_status_display()
    locked.status = status
    locked.closed_at = (locked.closed_at or timezone.now()) if status in AbuseCase.CLOSED else None
    locked.save(update_fields=["status", "closed_at"])
    text = f"{before} → {locked.get_status_display()}" + (f": {note.strip()}" if note.strip() else "")
    _entry(locked, CaseEntry.Kind.STATUS, actor=actor, text=text)
    action = "abuse_case.resolved" if locked.is_closed else "abuse_case.status_changed"
    audit.record(
        action, actor=actor, target=locked, changes={"status": [before, locked.get_status_display()]}, summary=text
    )
    return locked


@transaction.atomic
def update_case(case: AbuseCase, *, actor, severity: str | None = None, assignee=..., deadline=...) -> AbuseCase:
    """Change severity (which moves a running deadline), assignee or the deadline itself."""
    locked = _locked(case)
    changed = []
    if severity is not None and severity != locked.severity:
        locked.severity = severity
        changed.append(f"severity {locked.get_severity_display().lower()}")
        if locked.customer_told_at and deadline is ...:
            locked.deadline = locked.deadline_from(locked.customer_told_at)
    if assignee is not ... and assignee != locked.assignee:
        locked.assignee = assignee
        changed.append(f"assigned to {assignee}" if assignee else "unassigned")
    if deadline is not ... and deadline != locked.deadline:
        locked.deadline = deadline
        changed.append(f"deadline {deadline:%Y-%m-%d %H:%M}" if deadline else "no deadline")
    locked.save(update_fields=["severity", "assignee", "deadline"])
    if changed:
        _entry(locked, CaseEntry.Kind.NOTE, actor=actor, text="Changed: " + ", ".join(changed))
        audit.record("abuse_case.updated", actor=actor, target=locked, summary="Changed: " + ", ".join(changed))
    return locked


@transaction.atomic
def add_note(case: AbuseCase, *, actor, text: str) -> CaseEntry:
    if not text.strip():
        raise ValidationError("A note needs some text.")
    return _entry(case, CaseEntry.Kind.NOTE, actor=actor, text=text.strip())


@transaction.atomic
def tell_customer(case: AbuseCase, *, actor, instructions: str, now: dt.datetime | None = None) -> CaseEntry:
    """Email the customer's technical contacts and owners what was reported and what to do.

    The deadline runs from now, by the case's severity. Evidence goes only where staff
    marked it as needed (``AbuseEvidence.shared_with_customer``).
    """
    if not instructions.strip():
        raise ValidationError("Say what the customer must do.")
    now = now or timezone.now()
    locked = _locked(case)
    if locked.is_closed:
        raise ValidationError("The case is closed: reopen it before writing to the customer.")
    deadline = locked.deadline_from(now)
    shared = AbuseEvidence.objects.filter(report__case=locked, shared_with_customer=True).order_by("pk")
    attachments = [
        gateway.Attachment(
            f"evidence-{item.pk}{_extension(item.content_type)}",
            item.file.open("rb").read(),
            item.content_type,
            stored=(item.file.name, item.sha256),
        )
        for item in shared
    ]
    message = gateway.send_mail(
        kind=MailKind.ABUSE,
        template="abuse_case_notice",
        customer=locked.customer,
        context={
            "case": locked,
            "reports": minimise.reports_for_customer(locked),
            "instructions": instructions.strip(),
            "deadline": deadline,
            "case_url": _case_url(locked),
        },
        attachments=attachments,
        related=locked,
        idempotency_key=f"abuse-notice:{locked.pk}:{now.isoformat()}",
        created_by=actor,
    )
    locked.customer_told_at, locked.deadline = now, deadline
    if locked.status == AbuseCase.Status.NEW:
        locked.status = AbuseCase.Status.WAITING
    locked.save(update_fields=["customer_told_at", "deadline", "status"])
    audit.record(
        "abuse_case.customer_told",
        actor=actor,
        target=locked,
        summary=f"Customer told about abuse case #{locked.pk}; answer by {deadline:%Y-%m-%d %H:%M} UTC",
    )
    return _entry(
        locked,
        CaseEntry.Kind.CUSTOMER_TOLD,
        actor=actor,
        text=f"{instructions.strip()}\n\nAnswer by {timezone.localtime(deadline):%d %B %Y %H:%M}.",
        outbound=message,
        created_at=now,
    )


def _case_url(case: AbuseCase) -> str:
    base = (getattr(settings, "PORTAL_BASE_URL", "") or "").rstrip("/")
    return f"{base}{reverse('abuse:case_detail', args=[case.pk])}" if base else ""


def _extension(content_type: str) -> str:
    return {"text/plain": ".txt", "message/rfc822": ".eml", "image/png": ".png", "application/pdf": ".pdf"}.get(
        content_type, ".bin"
    )


@transaction.atomic
def answer_complainant(
    case: AbuseCase, *, report: AbuseReport, actor, text: str, identity_needed: bool = False
) -> CaseEntry:
    """Tell a complainant what was done, recorded in the disclosure ledger.

    The answer must not identify the customer (their names, their contacts' addresses)
    unless staff say it is needed.
    """
    if report.case_id != case.pk:
        raise ValidationError("That report is not part of this case.")
    if not report.reporter_contact:
        raise ValidationError("The report has no address to answer.")
    if not text.strip():
        raise ValidationError("Say what was done.")
    named = minimise.names_the_customer(text, case)
    if named and not identity_needed:
        raise ValidationError(
            f"The answer identifies the customer ({', '.join(named)}). Remove it, or confirm that the "
            "complainant needs it."
        )
    locked = _locked(case)
    message = gateway.send_mail(
        kind=MailKind.ABUSE,
        template="abuse_complainant_answer",
        to=[report.reporter_contact],
        context={"case": locked, "report": report, "text": text.strip()},
        related=locked,
        in_reply_to=report.message,
        idempotency_key=f"abuse-answer:{locked.pk}:{report.pk}:{timezone.now().isoformat()}",
        created_by=actor,
    )
    categories = [Category.NETWORK] + ([Category.IDENTITY] if identity_needed else [])
    disclosure = ledger.record_disclosure(
        recipient_kind=DisclosureEntry.Recipient.COMPLAINANT,
        recipient=report.reporter_org or report.reporter_contact,
        recipient_address=report.reporter_contact,
        purpose="Telling the complainant what was done about their abuse report",
        legal_basis=LawfulBasis.LEGITIMATE_INTERESTS,
        categories=categories,
        customers=[locked.customer],
        summary=f"Abuse case #{locked.pk}: outcome of the {locked.type_in_sentence} report",
        artefact_sha256=hashlib.sha256(message.body_text.encode()).hexdigest(),
        actor=actor,
    )
    audit.record(
        "abuse_case.complainant_answered",
        actor=actor,
        target=locked,
        summary=f"Complainant answered on abuse case #{locked.pk} (ledger entry #{disclosure.sequence})",
    )
    return _entry(
        locked,
        CaseEntry.Kind.COMPLAINANT_ANSWERED,
        actor=actor,
        text=text.strip(),
        recipient=report.reporter_contact,
        outbound=message,
        disclosure=disclosure,
    )


@transaction.atomic
def notify_operators(case: AbuseCase, *, actor, operator: str, address: str, text: str = "") -> CaseEntry:
    """Tell an operator whose network the customer's service attacked: addresses, times,
    type; never the customer's name. Recorded in the ledger, and the customer is told."""
    operator, address = operator.strip(), address.strip()
    if not operator or not address or "@" not in address:
        raise ValidationError("Give the operator's name and its abuse address.")
    named = minimise.names_the_customer(text, case)
    if named:
        raise ValidationError(f"The note to the operator identifies the customer ({', '.join(named)}): remove it.")
    locked = _locked(case)
    events = minimise.events_for_operator(locked)
    stamp = timezone.now().isoformat()
    message = gateway.send_mail(
        kind=MailKind.ABUSE,
        template="abuse_operator_notice",
        to=[address],
        context={"case": locked, "events": events, "operator": operator, "text": text.strip()},
        related=locked,
        idempotency_key=f"abuse-operator:{locked.pk}:{address}:{stamp}",
        created_by=actor,
    )
    disclosure = ledger.record_disclosure(
        recipient_kind=DisclosureEntry.Recipient.NETWORK_OPERATOR,
        recipient=operator,
        recipient_address=address,
        purpose="Telling a network whose systems the service attacked, so it can protect itself",
        legal_basis=LawfulBasis.LEGITIMATE_INTERESTS,
        categories=[Category.NETWORK],
        customers=[locked.customer],
        summary=f"Abuse case #{locked.pk}: {len(events)} event(s) of {locked.type_in_sentence} "
        "(addresses, ports, times; no customer details)",
        artefact_sha256=hashlib.sha256(message.body_text.encode()).hexdigest(),
        actor=actor,
    )
    gateway.send_mail(
        kind=MailKind.ABUSE,
        template="abuse_operators_told",
        customer=locked.customer,
        context={"case": locked, "operator": operator, "count": len(events)},
        related=locked,
        idempotency_key=f"abuse-operator-told:{locked.pk}:{address}:{stamp}",
        created_by=actor,
    )
    audit.record(
        "abuse_case.operator_notified",
        actor=actor,
        target=locked,
        summary=f"{operator} told of abuse case #{locked.pk} (ledger entry #{disclosure.sequence})",
    )
    return _entry(
        locked,
        CaseEntry.Kind.OPERATORS_NOTIFIED,
        actor=actor,
        text=f"{operator} was told of {len(events)} event(s): addresses, ports, times and type.",
        recipient=address,
        outbound=message,
        disclosure=disclosure,
    )


@transaction.atomic
def contain(case: AbuseCase, *, actor, reason: str) -> CaseEntry:
    """Suspend the case's service (its status history records it; the customer is told)."""
    if not reason.strip():
        raise ValidationError("Say why the service is suspended: the customer is told.")
    locked = _locked(case)
    account_services.suspend_service(locked.service, actor=actor, reason=reason.strip(), source="abuse")
    if locked.status == AbuseCase.Status.NEW:
        locked.status = AbuseCase.Status.ESCALATED
        locked.save(update_fields=["status"])
    return _entry(locked, CaseEntry.Kind.SUSPENDED, actor=actor, text=reason.strip())


@transaction.atomic
def restore(case: AbuseCase, *, actor, reason: str) -> CaseEntry:
    """Restore the case's service after containment; the customer is told."""
    if not reason.strip():
        raise ValidationError("Say why the service is restored: the customer is told.")
    locked = _locked(case)
    account_services.restore_service(locked.service, actor=actor, reason=reason.strip(), source="abuse")
    return _entry(locked, CaseEntry.Kind.RESTORED, actor=actor, text=reason.strip())


@transaction.atomic
def customer_answer(
    case: AbuseCase, *, membership, text: str, files: Sequence[tuple[str, str, bytes]] = ()
) -> CaseEntry:
    """A technical contact or owner answers a case from the portal, with attachments."""
    if case.customer_id != membership.customer_id:
        raise ValidationError("That case is not about this customer.")
    if not text.strip():
        raise ValidationError("Say what you did about the report.")
    if len(files) > MAX_ANSWER_FILES:
        raise ValidationError(f"Attach at most {MAX_ANSWER_FILES} files.")
    entry = _entry(case, CaseEntry.Kind.CUSTOMER_ANSWER, actor=membership.user, text=text.strip())
    audit.record(
        "abuse_case.customer_answered",
        actor=membership.user,
        target=case,
        summary=f"Answered abuse case #{case.pk} with {len(files)} file(s)",
    )
    for filename, content_type, content in files:
        name, digest = gateway.store_file("abuse/answers", filename, content)
        CaseEntryFile.objects.create(
            entry=entry,
            filename=filename[:255],
            content_type=(content_type or "application/octet-stream")[:255],
            size=len(content),
            sha256=digest,
            file=name,
        )
    return entry


@transaction.atomic
def assign_report(report: AbuseReport, *, service: Service, actor) -> AbuseReport:
    """Staff put an unmatched report on the service it came from (the queue's way out)."""
    locked = AbuseReport.objects.select_for_update().get(pk=report.pk)
    if locked.status != AbuseReport.Status.UNMATCHED:
        raise ValidationError("Only an unmatched report can be put on a service.")
    note = f"Matched by {actor} to {service}; it was unmatched: {locked.problem}"
    intake.join_case(locked, service, now=timezone.now())
    _entry(locked.case, CaseEntry.Kind.NOTE, actor=actor, text=note)
    audit.record("abuse_report.matched", actor=actor, target=locked.case, summary=note[:300])
    return locked


@transaction.atomic
def dismiss_report(report: AbuseReport, *, actor, reason: str) -> AbuseReport:
    """Staff close a queued report they will not act on; it is still kept, with the reason."""
    if not reason.strip():
        raise ValidationError("Say why the report is dismissed.")
    locked = AbuseReport.objects.select_for_update().get(pk=report.pk)
    if locked.status not in AbuseReport.QUEUED:
        raise ValidationError("Only a report waiting in the queue can be dismissed.")
    locked.status = AbuseReport.Status.DISMISSED
    locked.problem = f"{locked.problem}\nDismissed by {actor}: {reason.strip()}".strip()
    locked.save(update_fields=["status", "problem"])
    audit.record("abuse_report.dismissed", actor=actor, target=locked, summary=f"Report #{locked.pk}: {reason.strip()}")
    return locked
