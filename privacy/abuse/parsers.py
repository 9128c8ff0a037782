"""Reading abuse reports: XARF v4, X-ARF (XARF v3 JSON), ARF (RFC 5965) and plain text.

``parse_email(raw)`` reads one email and returns the reports in it; ``parse_xarf(data)``
reads one XARF document (v4 or v3). Nothing here raises for bad input: a report that
cannot be read comes back with ``problem`` saying why, and what could be read of it, so
the abuse desk keeps it and a person looks at it (``privacy.abuse.intake``).

A report's ``content_sha256`` is the hash of the bytes the report itself is made of (the
JSON document, the ARF feedback part and original message, the text): the same report
forwarded in two different emails is recognised as a duplicate.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import email
import email.policy
import hashlib
import ipaddress
import json
import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import parseaddr, parsedate_to_datetime

from django.conf import settings

from privacy.abuse import xarf
from privacy.abuse.models import CATEGORIES, AbuseReport

SUMMARY_MAX = 1000
MAX_TEXT_ADDRESSES = 10
FUTURE_TOLERANCE = dt.timedelta(minutes=5)  # clocks differ a little; more than this is a bad timestamp


@dataclass
class Evidence:
    content: bytes
    content_type: str
    description: str = ""
    claimed_sha256: str = ""


@dataclass
class ReportData:
    """One report as read, before it is matched. ``problem`` is set when it is malformed."""

    format: str
    content_sha256: str
    report_id: str = ""
    reporter_org: str = ""
    reporter_contact: str = ""
    reporter_is_organisation: bool = True
    reporter_may_be_named: bool = False
    category: str = ""
    type: str = ""
    source_ip: str | None = None
    source_port: int | None = None
    event_time: dt.datetime | None = None
    summary: str = ""
    details: dict = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)
    confirmed: bool = True
    problems: list[str] = field(default_factory=list)

    @property
    def problem(self) -> str:
        return "; ".join(self.problems)


def _sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _ip(value) -> str | None:
    """The address in ``value`` (an IPv4-mapped IPv6 address as IPv4), or None."""
    if not isinstance(value, str):
        return None
    try:
        address = ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return str(address)


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC)


# --- XARF -----------------------------------------------------------------------------

V3_TYPES = {
    "Spam": ("messaging", "spam"),
    "Login-Attack": ("connection", "login_attack"),
    "Port-Scan": ("connection", "port_scan"),
    "DDoS": ("connection", "ddos"),
    "Phishing": ("content", "phishing"),
    "Malware": ("content", "malware"),
    "Botnet": ("infrastructure", "botnet"),
    "Copyright": ("copyright", "copyright"),
}


def _decode_evidence(items, *, keys: tuple[str, str, str, str], report: ReportData) -> None:
    content_key, payload_key, description_key, hash_key = keys
    if not isinstance(items, list):
        return
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            continue
        try:
            content = base64.b64decode(str(item.get(payload_key, "")), validate=True)
        except (binascii.Error, ValueError):
            report.problems.append(f"evidence item {number}: the payload is not valid base64")
            continue
        claimed = str(item.get(hash_key, "") or "")
        algorithm, _, digest = claimed.partition(":")
        if algorithm == "sha256" and digest and digest.lower() != _sha(content):
            report.problems.append(f"evidence item {number}: its SHA-256 does not match the hash the report gives")
        report.evidence.append(
            Evidence(
                content=content,
                content_type=str(item.get(content_key, "application/octet-stream"))[:255],
                description=str(item.get(description_key, ""))[:500],
                claimed_sha256=digest.lower() if algorithm == "sha256" else "",
            )
        )


def parse_xarf(raw: bytes | str) -> ReportData:
    """One XARF document (v4, or v3 as X-ARF sends it), validated against its schema."""
    content = raw.encode("utf-8") if isinstance(raw, str) else raw
    report = ReportData(format=AbuseReport.Format.XARF4, content_sha256=_sha(content))
    try:
        data = json.loads(content)
    except (ValueError, UnicodeDecodeError) as exc:
        report.problems.append(f"the report is not valid JSON ({exc})")
        return report
    if not isinstance(data, dict):
        report.problems.append("the report is not a JSON object")
        return report
    if "Version" in data and "xarf_version" not in data:
        return _read_v3(data, report)
    report.problems.extend(xarf.validate_v4(data))
    reporter = data.get("reporter") if isinstance(data.get("reporter"), dict) else {}
    report.report_id = str(data.get("report_id", ""))[:200]
    report.reporter_org = str(reporter.get("org", ""))[:200]
    report.reporter_contact = str(reporter.get("contact", ""))[:320]
    category, kind = str(data.get("category", "")), str(data.get("type", ""))
    if kind in CATEGORIES.get(category, ()):
        report.category, report.type = category, kind
    report.source_ip = _ip(data.get("source_identifier"))
    if report.source_ip is None and data.get("source_identifier"):
        report.details["source_identifier"] = str(data["source_identifier"])[:500]
    port = data.get("source_port")
    report.source_port = port if isinstance(port, int) and 0 < port < 65536 else None
    with contextlib.suppress(ValueError, IndexError):  # the schema's problem already says so
        report.event_time = _utc(xarf.parse_timestamp(str(data.get("timestamp", ""))))
    report.summary = str(data.get("description", "") or data.get("subject", ""))[:SUMMARY_MAX]
    _decode_evidence(data.get("evidence"), keys=("content_type", "payload", "description", "hash"), report=report)
    report.details.update({k: v for k, v in data.items() if k not in {"evidence", "reporter", "sender", "_internal"}})
    return report


def _read_v3(data: dict, report: ReportData) -> ReportData:
    report.format = AbuseReport.Format.XARF3
    report.problems.extend(xarf.validate_v3(data))
    info = data.get("ReporterInfo") if isinstance(data.get("ReporterInfo"), dict) else {}
    body = data.get("Report") if isinstance(data.get("Report"), dict) else {}
    report.reporter_org = str(info.get("ReporterOrg", ""))[:200]
    report.reporter_contact = str(info.get("ReporterOrgEmail", ""))[:320]
    report.category, report.type = V3_TYPES.get(str(body.get("ReportType", "")), ("", ""))
    report.source_ip = _ip(body.get("SourceIp"))
    port = body.get("SourcePort")
    report.source_port = port if isinstance(port, int) and 0 < port < 65536 else None
    with contextlib.suppress(ValueError, IndexError):  # the schema's problem already says so
        report.event_time = _utc(xarf.parse_timestamp(str(body.get("Date", ""))))
    report.summary = str(body.get("AttackDescription", "") or body.get("SmtpMessageSubject", ""))[:SUMMARY_MAX]
    _decode_evidence(body.get("Samples"), keys=("ContentType", "Payload", "Description", "Hash"), report=report)
    report.details = {k: v for k, v in body.items() if k != "Samples"}
    return report


# --- ARF ------------------------------------------------------------------------------

ARF_TYPES = {
    "abuse": ("messaging", "spam"),
    "fraud": ("content", "fraud"),
    "virus": ("content", "malware"),
    "not-spam": ("other", "other"),
    "auth-failure": ("other", "other"),
    "other": ("other", "other"),
}


def _mail_time(value: str) -> dt.datetime | None:
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # RFC 5322's "-0000": the time is UTC, the zone unknown
        moment = moment.replace(tzinfo=dt.UTC)
    return _utc(moment)


def _feedback_fields(part) -> dict[str, str]:
    """The fields of a ``message/feedback-report`` part (RFC 5965 section 3.1), lower-cased names."""
    payload = part.get_payload()
    if isinstance(payload, list):  # Python reads the part's body as a header block
        fields: dict[str, str] = {}
        for block in payload:
            for name, value in block.items():
                fields.setdefault(name.lower(), str(value))
        return fields
    text = payload if isinstance(payload, str) else (part.get_payload(decode=True) or b"").decode("utf-8", "replace")
    parsed = email.message_from_string(text.lstrip(), policy=email.policy.default)
    return {name.lower(): str(value) for name, value in parsed.items()}


def _part_bytes(part) -> bytes:
    if part.is_multipart() or part.get_content_maintype() == "message":
        return part.as_bytes(policy=email.policy.default)
    return part.get_payload(decode=True) or b""


def _read_arf(msg: EmailMessage) -> ReportData:
    parts = msg.get_payload() if msg.is_multipart() else []
    feedback = next((p for p in parts if p.get_content_type() == "message/feedback-report"), None)
    original = next(
        (p for p in parts if p.get_content_type() in ("message/rfc822", "text/rfc822-headers")),
        None,
    )
    human = next((p for p in parts if p.get_content_type() == "text/plain"), None)
    hashed = (_part_bytes(feedback) if feedback is not None else b"") + (
        _part_bytes(original) if original is not None else b""
    )
    report = ReportData(format=AbuseReport.Format.ARF, content_sha256=_sha(hashed or msg.as_bytes()))
    if feedback is None:
        report.problems.append("the ARF report has no message/feedback-report part")
        return report
    fields = _feedback_fields(feedback)
    feedback_type = fields.get("feedback-type", "").strip().lower()
    if not feedback_type:
        report.problems.append("the feedback report has no Feedback-Type field")
    report.category, report.type = ARF_TYPES.get(feedback_type, ("other", "other"))
    if fields.get("version", "").strip() not in ("", "1", "0.1"):
        report.details["version_note"] = f"Version {fields['version'].strip()!r}; RFC 5965 defines version 1"
    source = fields.get("source-ip", "")
    report.source_ip = _ip(source)
    if source and report.source_ip is None:
        report.problems.append(f"Source-IP {source.strip()[:100]!r} is not an IP address")
    sender = parseaddr(str(msg.get("From", "")))[1].lower()
    report.reporter_contact = sender[:320]
    report.reporter_org = (fields.get("reporting-mta", "").split(";")[-1].strip() or sender.partition("@")[2])[:200]
    report.report_id = _message_id(str(msg.get("Message-ID", "")))
    original_msg = original.get_payload(0) if original is not None and original.is_multipart() else None
    arrival = fields.get("arrival-date") or fields.get("received-date") or ""
    report.event_time = _mail_time(arrival) if arrival else None
    if report.event_time is None and original_msg is not None and original_msg.get("Date"):
        report.event_time = _mail_time(str(original_msg.get("Date")))
    if report.event_time is None:
        report.event_time = _mail_time(str(msg.get("Date", "")))
    if original_msg is not None:
        report.summary = str(original_msg.get("Subject", ""))[:SUMMARY_MAX]
    if human is not None and not report.summary:
        report.summary = _text_of(human)[:SUMMARY_MAX]
    report.details = {
        k: fields[k]
        for k in ("feedback-type", "user-agent", "version", "reported-domain", "incidents", "original-mail-from")
        if k in fields
    }
    if original is not None:
        report.evidence.append(
            Evidence(
                content=_part_bytes(original),
                content_type=original.get_content_type(),
                description="The reported message (or its headers), as the ARF report included it",
            )
        )
    return report


def _message_id(value: str) -> str:
    found = re.search(r"<([^<>\s]+)>", value)
    return (found.group(1) if found else value.strip())[:200]


def _text_of(part) -> str:
    try:
        return part.get_content()
    except (LookupError, UnicodeError, AssertionError, KeyError):
        return (part.get_payload(decode=True) or b"").decode("utf-8", "replace")


# --- plain text -------------------------------------------------------------------------

_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_IPV6 = re.compile(r"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:])")
_ISO_TIME = re.compile(
    r"\b(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(Z|UTC|GMT|[+-]\d{2}:?\d{2})?(?![\d:])"
)
_MAIL_TIME = re.compile(
    r"\b(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),\s*)?\d{1,2}\s+(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+"
    r"\d{4}\s+\d{2}:\d{2}(?::\d{2})?\s*(?:[+-]\d{4}|UTC|GMT)"
)


def addresses_in(text: str) -> list[str]:
    """The distinct IP addresses in ``text``, in order, without loopback and other local ones."""
    found: list[str] = []
    for match in [*_IPV4.finditer(text), *_IPV6.finditer(text)]:
        address = _ip(match.group(0))
        if address is None:
            continue
        parsed = ipaddress.ip_address(address)
        if parsed.is_loopback or parsed.is_unspecified or parsed.is_multicast or parsed.is_link_local:
            continue
        if address not in found:
            found.append(address)
    return found


def times_in(text: str) -> tuple[dt.datetime | None, str]:
    """The first date and time in ``text``, in UTC, and a note when its zone had to be assumed."""
    candidates: list[tuple[int, dt.datetime, str]] = []
    for match in _ISO_TIME.finditer(text):
        day, clock, zone = match.groups()
        note = ""
        if zone in (None, ""):
            zone, note = "+00:00", f"the time {match.group(0).strip()!r} has no time zone: taken as UTC"
        elif zone in ("Z", "UTC", "GMT"):
            zone = "+00:00"
        elif ":" not in zone:
            zone = f"{zone[:3]}:{zone[3:]}"
        try:
            candidates.append((match.start(), _utc(dt.datetime.fromisoformat(f"{day}T{clock}{zone}")), note))
        except ValueError:
            continue
    for match in _MAIL_TIME.finditer(text):
        moment = _mail_time(match.group(0).replace("UTC", "+0000").replace("GMT", "+0000"))
        if moment is not None:
            candidates.append((match.start(), moment, ""))
    if not candidates:
        return None, ""
    _, moment, note = min(candidates, key=lambda c: c[0])
    return moment, note


def parse_text(text: str, *, sender: str, sent_at: dt.datetime | None, report_id: str = "") -> list[ReportData]:
    """Reports found in free text: one per address, at the first time the text gives.

    Nothing is confirmed by the reporter: the reports are marked unconfirmed for the
    abuse desk to check before the customer is told.
    """
    digest = _sha(text.encode("utf-8", "replace"))
    addresses = addresses_in(text)
    moment, note = times_in(text)
    base = {
        "format": AbuseReport.Format.TEXT,
        "content_sha256": digest,
        "report_id": report_id,
        "reporter_contact": sender[:320],
        "reporter_org": sender.partition("@")[2][:200],
        "reporter_is_organisation": False,
        "category": "other",
        "type": "other",
        "summary": text.strip()[:SUMMARY_MAX],
        "confirmed": False,
    }
    if moment is None and sent_at is not None:
        moment, note = sent_at, "the text gives no time: the email's date is used"
    notes = [note] if note else []
    if not addresses:
        return [ReportData(**base, event_time=moment, problems=["no IP address was found in the text"])]
    if len(addresses) > MAX_TEXT_ADDRESSES:
        return [
            ReportData(
                **base,
                event_time=moment,
                details={"addresses": addresses[:100]},
                problems=[f"the text names {len(addresses)} addresses: too many to file as reports on their own"],
            )
        ]
    return [
        ReportData(
            **{**base, "content_sha256": _sha(f"{digest}:{address}".encode()) if len(addresses) > 1 else digest},
            source_ip=address,
            event_time=moment,
            details={"notes": notes} if notes else {},
        )
        for address in addresses
    ]


# --- email ----------------------------------------------------------------------------


def _json_parts(msg: EmailMessage) -> list:
    found = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        name = (part.get_filename() or "").lower()
        if part.get_content_type() in ("application/json", "application/xarf+json") or name.endswith(".json"):
            found.append(part)
    return found


def _looks_like_xarf(content: bytes) -> bool:
    head = content.lstrip()[:4096]
    return head.startswith(b"{") and (b'"xarf_version"' in content or b'"Version"' in content)


def parse_email(raw: bytes) -> list[ReportData]:
    """Every report in one email: XARF (attachment, X-ARF JSON part or body), ARF, else plain text."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    sender = parseaddr(str(msg.get("From", "")))[1].lower()
    sent_at = _mail_time(str(msg.get("Date", ""))) if msg.get("Date") else None
    reports = [parse_xarf(_part_bytes(part)) for part in _json_parts(msg)]
    if not reports and msg.get_content_type() == "multipart/report":
        report_type = str(msg.get_param("report-type", "") or "").lower()
        if report_type == "feedback-report":
            return [_read_arf(msg)]
    body = msg.get_body(preferencelist=("plain",)) if not reports else None
    text = _text_of(body) if body is not None else ""
    if not reports and _looks_like_xarf(text.encode("utf-8", "replace")):
        reports = [parse_xarf(text.strip())]
    if reports:
        for report in reports:
            if report.reporter_contact == "" and sender:
                report.reporter_contact = sender[:320]
        return reports
    if not text and body is None:
        html = msg.get_body(preferencelist=("html",))
        if html is not None:
            text = re.sub(r"<[^>]+>", " ", _text_of(html))
    return parse_text(text, sender=sender, sent_at=sent_at, report_id=_message_id(str(msg.get("Message-ID", ""))))


def check_limits(report: ReportData, *, now: dt.datetime) -> None:
    """Add the problems every report is checked for, whatever its format."""
    if not report.source_ip:
        identifier = report.details.get("source_identifier")
        report.problems.append(
            f"the source {identifier!r} is not an IP address" if identifier else "the report names no IP address"
        )
    if report.event_time is None:
        report.problems.append("the report gives no time for the event")
    elif report.event_time > now + FUTURE_TOLERANCE:
        report.problems.append(f"the event time {report.event_time:%Y-%m-%d %H:%M} UTC is in the future")
    limit, most = settings.PORTAL_ABUSE_MAX_EVIDENCE_BYTES, settings.PORTAL_ABUSE_MAX_EVIDENCE_ITEMS
    if len(report.evidence) > most:
        report.problems.append(f"the report has {len(report.evidence)} evidence items; at most {most} are accepted")
    for number, item in enumerate(report.evidence, start=1):
        if len(item.content) > limit:
            report.problems.append(
                f"evidence item {number} is {len(item.content)} bytes, over the limit of {limit} bytes"
            )
