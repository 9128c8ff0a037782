"""Filing reports: read, check, match, group into cases (docs/abuse.md).

``receive_message`` files the reports in an email the inbound archive routed to the abuse
desk (``accounts.correspondence.inbound.abuse_mail_received``); ``file_report`` files one
report, from an email or the staff form. Every report is stored, whatever is wrong with
it: a malformed one (its problem named) or an unmatched one waits in the queue for a
person; a duplicate (the same report id from the same reporter, or the same bytes) is
kept and linked to the report it repeats; the rest join a case.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Sequence

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts import audit
from accounts.correspondence import gateway
from accounts.correspondence.models import MailKind, Message
from accounts.models import Service
from privacy.abuse import matching, parsers
from privacy.abuse.models import AbuseCase, AbuseEvidence, AbuseReport, CaseEntry, default_severity

logger = logging.getLogger(__name__)


def store_evidence(report: AbuseReport, item: parsers.Evidence, *, added_by=None, shared: bool = False):
    name, digest = gateway.store_file("abuse/evidence", "evidence", item.content)
    return AbuseEvidence.objects.create(
        report=report,
        content_type=item.content_type[:255],
        description=item.description[:500],
        file=name,
        size=len(item.content),
        sha256=digest,
        shared_with_customer=shared,
        added_by=added_by,
    )


def _duplicate_of(data: parsers.ReportData) -> AbuseReport | None:
    same = Q(content_sha256=data.content_sha256)
    if data.report_id:
        same |= Q(report_id=data.report_id, reporter_contact=data.reporter_contact, format=data.format)
    return AbuseReport.objects.filter(same).exclude(status=AbuseReport.Status.DUPLICATE).order_by("pk").first()


def case_for(service: Service, *, category: str, abuse_type: str, now: dt.datetime) -> AbuseCase:
    """The open case this service's report of this type joins, or a new one.

    The service's row is locked first, so two reports arriving at once join one case.
    """
    Service.objects.select_for_update().filter(pk=service.pk).first()
    window = dt.timedelta(days=settings.PORTAL_ABUSE_CASE_WINDOW_DAYS)
    case = (
        AbuseCase.objects.open()
        .filter(service=service, category=category, type=abuse_type, last_report_at__gte=now - window)
        .order_by("-last_report_at", "-pk")
        .first()
    )
    if case is None:
        case = AbuseCase.objects.create(
            customer_id=service.customer_id,
            service=service,
            category=category,
            type=abuse_type,
            severity=default_severity(abuse_type),
            opened_at=now,
            last_report_at=now,
        )
    return case


def _join(service: Service, *, category: str, abuse_type: str, now: dt.datetime) -> AbuseCase:
    """The case a report of ``service`` joins, counted: the open one, or a new one."""
    case = case_for(service, category=category or "other", abuse_type=abuse_type or "other", now=now)
    AbuseCase.objects.filter(pk=case.pk).update(report_count=F("report_count") + 1, last_report_at=now)
    # case_for locked the service's row before reading the case: nobody else has counted
    # a report on it since, so the count read plus one is the stored one.
    case.report_count, case.last_report_at = case.report_count + 1, now
    return case


def join_case(report: AbuseReport, service: Service, *, now: dt.datetime) -> AbuseCase:
    case = _join(service, category=report.category, abuse_type=report.type, now=now)
    report.service, report.customer, report.case, report.status = (
        service,
        service.customer,
        case,
        AbuseReport.Status.MATCHED,
    )
    report.problem = ""
    report.save(update_fields=["service", "customer", "case", "status", "problem"])
    return case


@transaction.atomic
def file_report(
    data: parsers.ReportData,
    *,
    message: Message | None = None,
    actor: audit.Actor,
    sender_verified: bool = False,
    now: dt.datetime | None = None,
    extra_evidence: Sequence[parsers.Evidence] = (),
    shared_evidence: bool = False,
) -> AbuseReport:
    """Store one report and send it where it belongs: a case, or the queue with its reason.

    ``actor`` is the member of staff who entered it by hand (recorded on the report as
    entered by them), or the intake that read it from the abuse mailbox."""
    report = _file(
        data,
        message=message,
        entered_by=audit.person(actor),
        sender_verified=sender_verified,
        now=now or timezone.now(),
        extra_evidence=extra_evidence,
        shared_evidence=shared_evidence,
    )
    audit.record(
        "abuse_report.filed",
        actor=actor,
        target=report,
        customer=report.customer,
        summary=f"Abuse report #{report.pk} ({report.get_format_display()}): {report.get_status_display().lower()}"
        + (f", case #{report.case_id}" if report.case_id else ""),
    )
    return report


def _file(data, *, message, entered_by, sender_verified, now, extra_evidence, shared_evidence) -> AbuseReport:
    data.evidence = [*data.evidence, *extra_evidence]
    parsers.check_limits(data, now=now)
    if data.category and data.category != "other" and not data.type:
        data.type = "other"
    # Where the report goes is settled before it is stored, so that it is written once.
    routed: dict = {"status": AbuseReport.Status.MALFORMED, "problem": data.problem[:5000]}
    if not data.problems:
        duplicate = _duplicate_of(data)
        if duplicate is not None:
            routed = {
                "status": AbuseReport.Status.DUPLICATE,
                "problem": data.problem[:5000],
                "duplicate_of": duplicate,
                "case_id": duplicate.case_id,
                "service_id": duplicate.service_id,
                "customer_id": duplicate.customer_id,
            }
        else:
            found = matching.match(data.source_ip, data.event_time)
            if found.service is None:
                routed = {"status": AbuseReport.Status.UNMATCHED, "problem": found.problem}
            else:
                service = found.service
                case = _join(service, category=data.category, abuse_type=data.type, now=now)
                routed = {
                    "status": AbuseReport.Status.MATCHED,
                    "problem": "",
                    "case": case,
                    "service": service,
                    "customer": service.customer,
                }
    report = AbuseReport.objects.create(
        format=data.format,
        report_id=data.report_id[:200],
        content_sha256=data.content_sha256,
        message=message,
        sender_verified=sender_verified,
        reporter_org=data.reporter_org[:200],
        reporter_contact=data.reporter_contact[:320],
        reporter_is_organisation=data.reporter_is_organisation,
        reporter_may_be_named=data.reporter_may_be_named,
        category=data.category,
        type=data.type,
        source_ip=data.source_ip,
        source_port=data.source_port,
        event_time=data.event_time,
        summary=data.summary,
        details=_jsonable(data.details),
        confirmed=data.confirmed,
        received_at=now,
        entered_by=entered_by,
        **routed,
    )
    limit = settings.PORTAL_ABUSE_MAX_EVIDENCE_BYTES
    for item in data.evidence[: settings.PORTAL_ABUSE_MAX_EVIDENCE_ITEMS]:
        if len(item.content) <= limit:  # an item over the limit stays only in the raw message
            store_evidence(report, item, added_by=entered_by, shared=shared_evidence)
    return report


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def sender_verified(message: Message) -> bool:
    """Whether our receiving mail server vouched for the sender (accounts.correspondence.senders:
    DMARC, or DKIM or SPF aligned with the From domain); unknown counts as no."""
    return bool(message.sender_verified)


def receive_message(message: Message) -> list[AbuseReport]:
    """File the reports in an inbound email to the abuse address (once per message).

    A reply to mail the abuse desk sent about a case joins that case instead.
    """
    existing = list(AbuseReport.objects.filter(message=message))
    if existing:
        return existing
    if message.in_reply_to_id and _answer_to_case(message):
        return []
    raw = _raw_bytes(message)
    verified = sender_verified(message)
    try:
        found = parsers.parse_email(raw)
    except Exception as exc:  # a message the email package cannot take apart: kept and queued
        logger.warning("Abuse report in message %s could not be read: %s", message.pk, exc)
        found = [
            parsers.ReportData(
                format=AbuseReport.Format.TEXT,
                content_sha256=message.raw_sha256 or hashlib.sha256(raw).hexdigest(),
                reporter_contact=message.from_address,
                problems=[f"the message could not be read as a report ({exc.__class__.__name__}: {exc})"],
            )
        ]
    reports = [
        file_report(data, message=message, actor=audit.System("abuse intake"), sender_verified=verified)
        for data in found
    ]
    acknowledge(reports, message)
    return reports


def _raw_bytes(message: Message) -> bytes:
    if message.raw:
        with message.raw.open("rb") as handle:
            return handle.read()
    body = f"From: {message.from_address}\nSubject: {message.subject}\n\n{message.body_text}"
    return body.encode("utf-8")


def _answer_to_case(message: Message) -> bool:
    """A reply to one of the abuse desk's messages about a case: recorded on that case."""
    parent = message.in_reply_to
    case = parent.related if parent is not None and isinstance(parent.related, AbuseCase) else None
    if case is None:
        return False
    from_customer = message.customer_id == case.customer_id
    CaseEntry.objects.create(
        case=case,
        kind=CaseEntry.Kind.CUSTOMER_ANSWER if from_customer else CaseEntry.Kind.NOTE,
        text=message.body_text[:20000]
        if from_customer
        else f"Reply by email from {message.from_address}: {message.body_text[:20000]}",
        created_at=message.created_at,
    )
    return True


def acknowledge(reports: list[AbuseReport], message: Message) -> Message | None:
    """Tell a person who wrote to us that their report arrived.

    Only when our mail server verified the sender (a forged sender would get our reply:
    backscatter), only for reports a person wrote (machine reports in ARF or XARF come from
    systems that want no answer), and once per message.
    """
    if not reports or not message.from_address:
        return None
    if not all(r.sender_verified for r in reports):
        return None
    if any(r.format != AbuseReport.Format.TEXT for r in reports):
        return None
    return gateway.send_mail(
        kind=MailKind.ABUSE,
        template="abuse_report_received",
        context={"original": message, "count": len(reports)},
        to=[message.from_address],
        idempotency_key=f"abuse-ack:{message.pk}",
        in_reply_to=message,
    )


def on_abuse_mail(sender, message: Message, **kwargs) -> bool:
    """The abuse desk's answer to ``accounts.correspondence.inbound.abuse_mail_received``."""
    receive_message(message)
    return True
