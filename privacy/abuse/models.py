"""The abuse desk's records (docs/abuse.md).

- ``AbuseReport``: one complaint about one source address, as it arrived (email in a
  standard format, plain text, or a staff form), with who reported it, what and when,
  and why it could not be matched or read, if it could not.
- ``AbuseEvidence``: a file that came with a report (or that staff attached), stored
  privately with its SHA-256.
- ``AbuseCase``: the reports about one service and one type of abuse within a window,
  worked by the abuse desk: status, severity, deadline, assignee.
- ``CaseEntry`` (with ``CaseEntryFile``): the case's timeline: staff notes, what the
  customer, the complainant and affected operators were told, containment, and the
  customer's answers with their attachments.

The models belong to the privacy app (``PrivacyConfig.ready`` imports this module).
Reports keep the reporter's details for the abuse desk; what the customer sees of them
goes through ``privacy.abuse.minimise`` and the registry's declarations below.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.registry import Category, Erasure, LawfulBasis, Retention, personal_data

RETENTION_MONTHS = getattr(settings, "PORTAL_ABUSE_RETENTION_MONTHS", 12)
RETENTION_REASON = (
    f"Kept {RETENTION_MONTHS} months after the case closes: long enough to recognise a repeat from the same "
    "service and to answer questions about what we did, and no longer (network data is kept only while it is "
    "needed to manage the network and fight abuse)."
)
UNMATCHED_REASON = (
    f"A report we could not tie to any customer is kept {RETENTION_MONTHS} months after it arrived, "
    "for the same reasons."
)

# The XARF v4 categories and their types: the vocabulary every report is put into.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "messaging": ("spam", "bulk_messaging"),
    "connection": (
        "login_attack",
        "port_scan",
        "ddos",
        "infected_host",
        "reconnaissance",
        "scraping",
        "sql_injection",
        "vulnerability_scan",
    ),
    "vulnerability": ("cve", "open_service", "misconfiguration"),
    "content": (
        "phishing",
        "malware",
        "csam",
        "csem",
        "exposed_data",
        "brand_infringement",
        "fraud",
        "remote_compromise",
        "suspicious_registration",
    ),
    "infrastructure": ("botnet", "compromised_server"),
    "reputation": ("blocklist", "threat_intelligence"),
    "copyright": ("copyright", "p2p", "cyberlocker", "ugc_platform", "link_site", "usenet"),
    "other": ("other",),
}
# How each is shown to people (customers, staff, emails): written out, since XARF's
# identifiers hold acronyms ("ddos", "p2p") that no rule of capitals spells right.
CATEGORY_LABELS = {
    "messaging": "Messaging",
    "connection": "Connection",
    "vulnerability": "Vulnerability",
    "content": "Content",
    "infrastructure": "Infrastructure",
    "reputation": "Reputation",
    "copyright": "Copyright",
    "other": "Other",
}
TYPE_LABELS = {
    "spam": "Spam",
    "bulk_messaging": "Bulk messaging",
    "login_attack": "Login attack",
    "port_scan": "Port scan",
    "ddos": "DDoS",
    "infected_host": "Infected host",
    "reconnaissance": "Reconnaissance",
    "scraping": "Scraping",
    "sql_injection": "SQL injection",
    "vulnerability_scan": "Vulnerability scan",
    "cve": "Known vulnerability (CVE)",
    "open_service": "Open service",
    "misconfiguration": "Misconfiguration",
    "phishing": "Phishing",
    "malware": "Malware",
    "csam": "Child sexual abuse material (CSAM)",
    "csem": "Child sexual exploitation material (CSEM)",
    "exposed_data": "Exposed data",
    "brand_infringement": "Brand infringement",
    "fraud": "Fraud",
    "remote_compromise": "Remote compromise",
    "suspicious_registration": "Suspicious registration",
    "botnet": "Botnet",
    "compromised_server": "Compromised server",
    "blocklist": "Blocklisting",
    "threat_intelligence": "Threat intelligence",
    "copyright": "Copyright infringement",
    "p2p": "Peer-to-peer (P2P) sharing",
    "cyberlocker": "Cyberlocker",
    "ugc_platform": "User-generated content (UGC) platform",
    "link_site": "Link site",
    "usenet": "Usenet",
    "other": "Other",
}
PROPER_NOUNS = {"Usenet"}
CATEGORY_CHOICES = [(c, CATEGORY_LABELS[c]) for c in CATEGORIES]
TYPE_CHOICES = sorted({(t, TYPE_LABELS[t]) for types in CATEGORIES.values() for t in types})


def in_sentence(label: str) -> str:
    """``label`` inside a sentence: "port scan", but "DDoS", "SQL injection" and "Usenet"
    keep their capitals."""
    first = label.split(" ", 1)[0]
    if first in PROPER_NOUNS or any(ch.isupper() for ch in first[1:]):
        return label
    return label[:1].lower() + label[1:]


class Severity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    NORMAL = "normal", "Normal"
    LOW = "low", "Low"


# How long the customer has to answer, from the moment they are told.
DEADLINE_HOURS: dict[str, int] = {
    Severity.CRITICAL: 4,
    Severity.HIGH: 24,
    Severity.NORMAL: 72,
    Severity.LOW: 168,
}

# The severity a new case starts with, by type (staff may change it).
DEFAULT_SEVERITY: dict[str, str] = {
    "csam": Severity.CRITICAL,
    "csem": Severity.CRITICAL,
    "ddos": Severity.HIGH,
    "phishing": Severity.HIGH,
    "malware": Severity.HIGH,
    "botnet": Severity.HIGH,
    "compromised_server": Severity.HIGH,
    "infected_host": Severity.HIGH,
    "remote_compromise": Severity.HIGH,
    "exposed_data": Severity.HIGH,
    "fraud": Severity.HIGH,
    "open_service": Severity.LOW,
    "misconfiguration": Severity.LOW,
    "cve": Severity.LOW,
    "blocklist": Severity.LOW,
    "threat_intelligence": Severity.LOW,
}


def default_severity(abuse_type: str) -> str:
    return DEFAULT_SEVERITY.get(abuse_type, Severity.NORMAL)


class CaseQuerySet(models.QuerySet):
    def open(self) -> CaseQuerySet:
        return self.exclude(status__in=AbuseCase.CLOSED)

    def for_customer(self, customer) -> CaseQuerySet:
        return self.filter(customer=customer)

    def overdue(self, *, now: dt.datetime | None = None) -> CaseQuerySet:
        return self.filter(status=AbuseCase.Status.WAITING, deadline__lt=now or timezone.now())


@personal_data(
    description="Abuse cases about your services: what was reported, when, and what was done.",
    categories=[Category.NETWORK, Category.SERVICE],
    fields=["category", "type", "opened_at", "last_report_at", "deadline", "customer_told_at", "closed_at"],
    context=["service__name", "status", "severity", "report_count"],
    internal={"assignee": "Which member of the abuse desk works the case."},
    purpose="Handle complaints about traffic or content from your services, as the terms of service require.",
    lawful_basis=LawfulBasis.LEGITIMATE_INTERESTS,
    customer_path="customer",
    # A hold on the service keeps the cases about it, and through them their reports and history.
    belongs_to=["service"],
    retention=Retention(counted_from="closed_at", months=RETENTION_MONTHS, description=RETENTION_REASON),
    erasure=Erasure.keep(
        "Kept until the case's retention ends: we must be able to show what was reported about the service "
        "and what we did (legitimate interests in running a network free of abuse, UK GDPR Art 17(3)(e))."
    ),
)
class AbuseCase(models.Model):
    """The reports about one service and one type of abuse, worked as one case."""

    class Status(models.TextChoices):
        NEW = "new", "New"
        WAITING = "waiting", "Waiting for customer"
        ESCALATED = "escalated", "Escalated"
        RESOLVED = "resolved", "Resolved"
        NO_ACTION = "no_action", "No action"

    CLOSED = (Status.RESOLVED, Status.NO_ACTION)

    customer = models.ForeignKey("accounts.Customer", on_delete=models.PROTECT, related_name="abuse_cases")
    service = models.ForeignKey("accounts.Service", on_delete=models.PROTECT, related_name="abuse_cases")
    category = models.CharField(max_length=30, choices=CATEGORY_CHOICES)
    type = models.CharField(max_length=30, choices=TYPE_CHOICES)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.NORMAL)
    opened_at = models.DateTimeField(default=timezone.now)
    last_report_at = models.DateTimeField(default=timezone.now)
    report_count = models.PositiveIntegerField(default=0)
    customer_told_at = models.DateTimeField(null=True, blank=True)
    deadline = models.DateTimeField(null=True, blank=True, help_text="When the customer must have answered.")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = CaseQuerySet.as_manager()

    class Meta:
        ordering = ["-last_report_at", "-pk"]
        permissions = [("contain_service", "Suspend and restore a service over an abuse case")]
        indexes = [models.Index(fields=["service", "type", "status", "-last_report_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["resolved", "no_action"], closed_at__isnull=False)
                | (~Q(status__in=["resolved", "no_action"]) & Q(closed_at__isnull=True)),
                name="abuse_case_closed_has_date",
            ),
        ]

    def __str__(self) -> str:
        return f"Abuse case #{self.pk}: {self.get_type_display()} from {self.service}"

    @property
    def is_closed(self) -> bool:
        return self.status in self.CLOSED

    @property
    def type_in_sentence(self) -> str:
        """The kind of abuse as a sentence says it ("port scan", "DDoS")."""
        return in_sentence(self.get_type_display())

    @property
    def is_overdue(self) -> bool:
        return self.status == self.Status.WAITING and self.deadline is not None and self.deadline < timezone.now()

    def deadline_from(self, moment: dt.datetime) -> dt.datetime:
        return moment + dt.timedelta(hours=DEADLINE_HOURS[self.severity])


@personal_data(
    description="Abuse reports about traffic or content from your services, and who sent them.",
    categories=[Category.NETWORK],
    fields=[
        "source_ip",
        "source_port",
        "event_time",
        "category",
        "type",
        "summary",
        "reporter_org",
        "reporter_contact",
        "details",
        "message",
    ],
    # What the customer is sent of a report: never the reporter's contact or the raw details.
    portable_fields=["source_ip", "source_port", "event_time", "category", "type", "summary"],
    not_personal={
        "problem": "Why the abuse desk could not read or match the report.",
        "report_id": "The identifier the reporter gave the report.",
    },
    context=["received_at", "case", "status", "format"],
    purpose="Handle complaints about traffic or content from your services.",
    lawful_basis=LawfulBasis.LEGITIMATE_INTERESTS,
    customer_path="customer",
    # A hold on the case keeps its reports, and through them their evidence.
    belongs_to=["case"],
    retention=Retention(
        counted_from="case__closed_at",
        counted_from_without_customer="received_at",
        months=RETENTION_MONTHS,
        description=f"{RETENTION_REASON} {UNMATCHED_REASON}",
    ),
    erasure=Erasure.keep("Kept with its case until the case's retention ends."),
)
class AbuseReport(models.Model):
    """One complaint about one source address, kept as it arrived, read or not."""

    class Format(models.TextChoices):
        XARF4 = "xarf4", "XARF v4"
        XARF3 = "xarf3", "X-ARF (XARF v3)"
        ARF = "arf", "ARF (RFC 5965)"
        TEXT = "text", "Plain text"
        STAFF = "staff", "Entered by staff"

    class Status(models.TextChoices):
        MATCHED = "matched", "Matched to a service"
        UNMATCHED = "unmatched", "Unmatched"
        MALFORMED = "malformed", "Malformed"
        DUPLICATE = "duplicate", "Duplicate"
        DISMISSED = "dismissed", "Dismissed by staff"

    QUEUED = (Status.UNMATCHED, Status.MALFORMED)

    format = models.CharField(max_length=10, choices=Format.choices)
    status = models.CharField(max_length=20, choices=Status.choices)
    problem = models.TextField(blank=True, help_text="Why the report is waiting for a person.")
    report_id = models.CharField(max_length=200, blank=True, db_index=True)
    content_sha256 = models.CharField(verbose_name="SHA-256 of the content", max_length=64, db_index=True)
    # The inbound email it came in (the raw message is kept there); empty for the staff form.
    message = models.ForeignKey(
        "accounts.Message", null=True, blank=True, on_delete=models.PROTECT, related_name="abuse_reports"
    )
    sender_verified = models.BooleanField(
        default=False, help_text="The sender's address was verified by our mail server (no auto-reply otherwise)."
    )
    reporter_org = models.CharField(max_length=200, blank=True)
    reporter_contact = models.CharField(max_length=320, blank=True)
    reporter_is_organisation = models.BooleanField(default=True)
    reporter_may_be_named = models.BooleanField(
        default=False, help_text="A person who reported agreed to be named to the customer."
    )
    category = models.CharField(max_length=30, choices=CATEGORY_CHOICES, blank=True)
    type = models.CharField(max_length=30, choices=TYPE_CHOICES, blank=True)
    source_ip = models.GenericIPAddressField(verbose_name="source IP address", null=True, blank=True, unpack_ipv4=True)
    source_port = models.PositiveIntegerField(null=True, blank=True)
    event_time = models.DateTimeField(null=True, blank=True, help_text="When the abuse happened (UTC).")
    summary = models.TextField(blank=True, help_text="What was reported, in the reporter's words (short).")
    details = models.JSONField(default=dict, blank=True, help_text="The report's other fields as they arrived.")
    confirmed = models.BooleanField(
        default=True, help_text="False when the address and time were found in free text, not stated by the reporter."
    )
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    customer = models.ForeignKey(
        "accounts.Customer", null=True, blank=True, on_delete=models.PROTECT, related_name="abuse_reports"
    )
    service = models.ForeignKey(
        "accounts.Service", null=True, blank=True, on_delete=models.PROTECT, related_name="abuse_reports"
    )
    case = models.ForeignKey(AbuseCase, null=True, blank=True, on_delete=models.PROTECT, related_name="reports")
    duplicate_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-received_at", "-pk"]

    def __str__(self) -> str:
        what = self.get_type_display() if self.type else "Report"
        return f"{what} from {self.source_ip or 'an unknown address'} ({self.get_status_display().lower()})"


@personal_data(
    description="Evidence that came with abuse reports about your services (logs, message copies, screenshots).",
    categories=[Category.NETWORK],
    fields=["file", "description"],
    portable_fields=["description", "content_type", "sha256"],
    not_personal={"content_type": "A MIME type such as text/plain."},
    context=["report", "size", "sha256", "shared_with_customer"],
    purpose="Show what happened when handling an abuse report.",
    lawful_basis=LawfulBasis.LEGITIMATE_INTERESTS,
    customer_path="report__customer",
    belongs_to=["report"],
    retention=Retention(
        counted_from="report__case__closed_at",
        counted_from_without_customer="report__received_at",
        months=RETENTION_MONTHS,
        description=f"{RETENTION_REASON} {UNMATCHED_REASON}",
    ),
    erasure=Erasure.keep("Kept with its case until the case's retention ends."),
)
class AbuseEvidence(models.Model):
    """One item of evidence: stored privately, once per content, with its SHA-256."""

    report = models.ForeignKey(AbuseReport, on_delete=models.CASCADE, related_name="evidence")
    content_type = models.CharField(max_length=255)
    description = models.CharField(max_length=500, blank=True)
    file = models.FileField(upload_to="abuse/evidence/", max_length=255)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(verbose_name="SHA-256", max_length=64)
    shared_with_customer = models.BooleanField(
        default=False, help_text="Attach it when the customer is told (only what they need to act)."
    )
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["pk"]
        verbose_name_plural = "abuse evidence"

    def __str__(self) -> str:
        return self.description or f"Evidence {self.sha256[:12]}"


@personal_data(
    description="The history of each abuse case: what we told you, what you answered, what was done.",
    categories=[Category.NETWORK, Category.CORRESPONDENCE],
    fields=["kind", "text", "created_at"],
    internal={"recipient": "Whom staff notified (a complainant's or an operator's address)."},
    context=["case", "author__full_name"],
    purpose="Handle complaints about traffic or content from your services.",
    lawful_basis=LawfulBasis.LEGITIMATE_INTERESTS,
    customer_path="case__customer",
    belongs_to=["case"],
    retention=Retention(counted_from="case__closed_at", months=RETENTION_MONTHS, description=RETENTION_REASON),
    erasure=Erasure.keep("Kept with its case until the case's retention ends."),
)
class CaseEntry(models.Model):
    """One event in a case's history. Staff notes are internal; the rest the customer may see."""

    class Kind(models.TextChoices):
        NOTE = "note", "Staff note"
        STATUS = "status", "Status changed"
        CUSTOMER_TOLD = "customer_told", "Customer told"
        COMPLAINANT_ANSWERED = "complainant_answered", "Complainant answered"
        OPERATORS_NOTIFIED = "operators_notified", "Affected operators notified"
        SUSPENDED = "suspended", "Service suspended"
        RESTORED = "restored", "Service restored"
        CUSTOMER_ANSWER = "customer_answer", "Customer's answer"

    # What the customer's page shows of the history (never staff notes or whom we wrote to).
    SHOWN_TO_CUSTOMER = (
        Kind.STATUS,
        Kind.CUSTOMER_TOLD,
        Kind.COMPLAINANT_ANSWERED,
        Kind.OPERATORS_NOTIFIED,
        Kind.SUSPENDED,
        Kind.RESTORED,
        Kind.CUSTOMER_ANSWER,
    )

    case = models.ForeignKey(AbuseCase, on_delete=models.CASCADE, related_name="entries")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    text = models.TextField(blank=True)
    recipient = models.CharField(max_length=320, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    outbound = models.ForeignKey("accounts.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    disclosure = models.ForeignKey(
        "privacy.DisclosureEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name_plural = "case entries"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.created_at:%Y-%m-%d %H:%M})"


@personal_data(
    description="Files you attached to your answers to abuse cases.",
    categories=[Category.NETWORK, Category.CORRESPONDENCE],
    fields=["file", "filename"],
    not_personal={"content_type": "A MIME type such as application/pdf."},
    context=["entry", "size", "sha256"],
    purpose="Handle complaints about traffic or content from your services.",
    lawful_basis=LawfulBasis.LEGITIMATE_INTERESTS,
    customer_path="entry__case__customer",
    belongs_to=["entry"],
    retention=Retention(counted_from="entry__case__closed_at", months=RETENTION_MONTHS, description=RETENTION_REASON),
    erasure=Erasure.keep("Kept with its case until the case's retention ends."),
)
class CaseEntryFile(models.Model):
    """A file attached to a customer's answer, stored privately with its SHA-256."""

    entry = models.ForeignKey(CaseEntry, on_delete=models.CASCADE, related_name="files")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(verbose_name="SHA-256", max_length=64)
    file = models.FileField(upload_to="abuse/answers/", max_length=255)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.filename
