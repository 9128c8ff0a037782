"""Abuse reports as they arrive, written for these tests from RFC 5965 and the XARF v4
specification: one XARF v4 report per category, an ARF feedback report, an X-ARF report
(ARF with a JSON part) and a plain-text complaint."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid

SPAM_COPY = (
    b"Received: from mail.web-01.example ([198.51.100.25])\r\n"
    b"From: offers@web-01.example\r\nTo: trap@mailbox.example\r\nSubject: Cheap watches\r\n"
    b"Message-ID: <spam-1@web-01.example>\r\nDate: Tue, 3 Mar 2026 10:14:00 +0000\r\n\r\nBuy now.\r\n"
)


def _reporter(org="Mailbox Example", domain="mailbox.example", contact="abuse-reports@mailbox.example"):
    return {"org": org, "contact": contact, "domain": domain}


def xarf(category: str, kind: str, *, ip="198.51.100.25", when="2026-03-03T10:14:00Z", **extra) -> dict:
    report = {
        "xarf_version": "4.0.0",
        "report_id": str(uuid.uuid4()),
        "timestamp": when,
        "reporter": _reporter(),
        "sender": _reporter(),
        "source_identifier": ip,
        "category": category,
        "type": kind,
    }
    report.update(extra)
    return report


def evidence(content: bytes, content_type="text/plain", description="Log excerpt") -> dict:
    return {
        "content_type": content_type,
        "description": description,
        "payload": base64.b64encode(content).decode(),
        "hash": f"sha256:{hashlib.sha256(content).hexdigest()}",
        "size": len(content),
    }


def _kind(category: str, kind: str, **defaults):
    return lambda **overrides: xarf(category, kind, **{**defaults, **overrides})


# One sample per XARF v4 category, each with the fields its type's schema requires.
PER_CATEGORY = {
    "messaging": _kind(
        "messaging",
        "spam",
        source_port=25,
        protocol="smtp",
        smtp_from="offers@web-01.example",
        smtp_to="trap@mailbox.example",
        subject="Cheap watches",
        evidence_source="spamtrap",
        evidence=[evidence(SPAM_COPY, "message/rfc822", "The spam as our trap received it")],
    ),
    "connection": _kind(
        "connection",
        "login_attack",
        source_port=51234,
        protocol="tcp",
        first_seen="2026-03-03T09:00:00Z",
        description="412 failed SSH logins against 203.0.113.9 in an hour",
        evidence=[evidence(b"Mar  3 09:00:01 sshd[1]: Failed password for root from 198.51.100.25\n")],
    ),
    "vulnerability": _kind(
        "vulnerability", "open_service", service="memcached", description="Open memcached on UDP 11211"
    ),
    "content": _kind(
        "content", "phishing", url="https://login-bank.web-01.example/verify", target_brand="Example Bank"
    ),
    "infrastructure": _kind(
        "infrastructure", "botnet", compromise_evidence="Connections to a known Mirai command server"
    ),
    "reputation": _kind("reputation", "blocklist", threat_type="spam_source"),
    "copyright": _kind("copyright", "copyright", infringing_url="https://files.web-01.example/film.mkv"),
}


def xarf_email(report: dict, *, as_attachment=True, sender="abuse-reports@mailbox.example") -> bytes:
    body = json.dumps(report, indent=2)
    if not as_attachment:
        return (
            f"From: {sender}\r\nTo: abuse@hosting.example\r\nSubject: XARF report\r\n"
            f"Message-ID: <{uuid.uuid4()}@mailbox.example>\r\nDate: Tue, 3 Mar 2026 10:20:00 +0000\r\n"
            f"Content-Type: application/json\r\n\r\n{body}\r\n"
        ).encode()
    return (
        f"From: {sender}\r\nTo: abuse@hosting.example\r\nSubject: Abuse report {report.get('report_id', '')}\r\n"
        f"Message-ID: <{uuid.uuid4()}@mailbox.example>\r\nDate: Tue, 3 Mar 2026 10:20:00 +0000\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain\r\n\r\nPlease find our abuse report attached.\r\n"
        '--b1\r\nContent-Type: application/json\r\nContent-Disposition: attachment; filename="report.json"\r\n\r\n'
        f"{body}\r\n--b1--\r\n"
    ).encode()


def arf_email(*, source_ip="198.51.100.25", arrival="Tue, 3 Mar 2026 10:14:00 +0000", message_id=None) -> bytes:
    message_id = message_id or f"{uuid.uuid4()}@fbl.mailbox.example"
    return (
        "From: fbl@mailbox.example\r\nTo: abuse@hosting.example\r\nSubject: FW: Cheap watches\r\n"
        f"Message-ID: <{message_id}>\r\nDate: Tue, 3 Mar 2026 11:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="part"\r\n\r\n'
        "--part\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        "This is an email abuse report for an email message received from IP "
        f"{source_ip} on {arrival}.\r\n\r\n"
        "--part\r\nContent-Type: message/feedback-report\r\n\r\n"
        "Feedback-Type: abuse\r\nUser-Agent: MailboxFBL/1.0\r\nVersion: 1\r\n"
        "Original-Mail-From: <offers@web-01.example>\r\nOriginal-Rcpt-To: <someone@mailbox.example>\r\n"
        f"Arrival-Date: {arrival}\r\nReporting-MTA: dns; mx.mailbox.example\r\n"
        f"Source-IP: {source_ip}\r\nReported-Domain: web-01.example\r\n\r\n"
        "--part\r\nContent-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n"
        + SPAM_COPY.decode()
        + "\r\n--part--\r\n"
    ).encode()


def xarf_v3_email(*, source_ip="198.51.100.25") -> bytes:
    """X-ARF: an ARF-like multipart message whose second part is the JSON report."""
    report = {
        "Version": "3",
        "ReporterInfo": {"ReporterOrg": "Honeynet Example", "ReporterOrgEmail": "abuse@honeynet.example"},
        "Report": {
            "ReportClass": "Activity",
            "ReportType": "Login-Attack",
            "Date": "2026-03-03T09:30:00+01:00",
            "SourceIp": source_ip,
            "SourcePort": 40222,
            "Protocol": "tcp",
            "AttackCount": 120,
            "Samples": [{"ContentType": "text/plain", "Payload": base64.b64encode(b"sshd: Failed password").decode()}],
        },
    }
    return (
        "From: abuse@honeynet.example\r\nTo: abuse@hosting.example\r\nSubject: [X-ARF] Login attack\r\n"
        f"Message-ID: <{uuid.uuid4()}@honeynet.example>\r\nDate: Tue, 3 Mar 2026 09:45:00 +0000\r\n"
        'X-XARF: PLAIN\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="x"\r\n\r\n'
        "--x\r\nContent-Type: text/plain\r\n\r\nAn SSH brute force from your network.\r\n"
        f'--x\r\nContent-Type: application/json; name="report.json"\r\n\r\n{json.dumps(report)}\r\n'
        "--x\r\nContent-Type: text/plain\r\n\r\nlogs follow\r\n--x--\r\n"
    ).encode()


def text_email(body: str, *, sender="jo.bloggs@home.example", subject="Your server is attacking me") -> bytes:
    return (
        f"From: Jo Bloggs <{sender}>\r\nTo: abuse@hosting.example\r\nSubject: {subject}\r\n"
        f"Message-ID: <{uuid.uuid4()}@home.example>\r\nDate: Tue, 3 Mar 2026 12:00:00 +0000\r\n\r\n{body}\r\n"
    ).encode()
