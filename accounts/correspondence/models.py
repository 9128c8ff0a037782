"""Stored email, both directions. Rows are immutable once written, except delivery state."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts import roles
from core.registry import Category, Erasure, LawfulBasis, Retention, personal_data

# Correspondence is kept 6 years after the account closes: it records what we told the
# customer about their service and billing, evidence for a dispute within the limitation
# period (Limitation Act 1980 s.5). Configurable: PORTAL_CORRESPONDENCE_RETENTION_YEARS.
CORRESPONDENCE_RETENTION_YEARS = getattr(settings, "PORTAL_CORRESPONDENCE_RETENTION_YEARS", 6)


class MailKind(models.TextChoices):
    """Why we write. There is no marketing kind: the privacy policy promises none."""

    SERVICE = "service", "Service"
    BILLING = "billing", "Billing"
    SECURITY = "security", "Security"
    ABUSE = "abuse", "Abuse"
    LEGAL = "legal", "Legal"
    PRIVACY = "privacy", "Privacy"


# Which contacts receive each kind of mail sent to a customer (docs/roles.md shows it).
RECIPIENT_ROLES: dict[str, frozenset[str]] = {
    MailKind.SERVICE: frozenset({roles.Role.OWNER, roles.Role.TECHNICAL}),
    MailKind.BILLING: frozenset({roles.Role.OWNER, roles.Role.BILLING}),
    MailKind.SECURITY: frozenset({roles.Role.OWNER, roles.Role.TECHNICAL}),
    MailKind.ABUSE: frozenset({roles.Role.OWNER, roles.Role.TECHNICAL}),
    MailKind.LEGAL: frozenset({roles.Role.OWNER, roles.Role.BILLING}),
    MailKind.PRIVACY: frozenset({roles.Role.OWNER, roles.Role.BILLING, roles.Role.TECHNICAL}),
}


def receives(kind: str) -> Q:
    """Memberships whose contact receives mail of ``kind``: the one rule, used to address
    mail and to ask whether a customer has anyone to send it to."""
    return Q(role__in=RECIPIENT_ROLES[kind], user__is_active=True)


class MessageQuerySet(models.QuerySet):
    def visible_to(self, membership) -> MessageQuerySet:
        """A contact sees their customer's messages of the kinds their role receives."""
        if membership is None:
            return self.none()
        kinds = [kind for kind, allowed in RECIPIENT_ROLES.items() if membership.role in allowed]
        return (
            self.filter(customer=membership.customer, kind__in=kinds)
            .exclude(status__in=[Message.Status.QUARANTINED, Message.Status.REJECTED])
            # Mail about one person (their own privacy request) is theirs alone.
            .filter(Q(person__isnull=True) | Q(person=membership.user_id))
        )

    def due_for_delivery(self, *, now=None) -> MessageQuerySet:
        now = now or timezone.now()
        return self.filter(direction=Message.Direction.OUTBOUND).filter(
            Q(status=Message.Status.QUEUED, next_attempt_at__lte=now)
            | Q(status=Message.Status.SENDING, claimed_at__lte=now - Message.SENDING_TIMEOUT)
        )


@personal_data(
    description="Every email we sent you and every email you sent us.",
    categories=[Category.CORRESPONDENCE, Category.CONTACT],
    fields=["from_address", "to_addresses", "subject", "body_text", "body_html", "raw", "headers"],
    portable_fields=["direction", "kind", "from_address", "to_addresses", "subject", "body_text", "created_at"],
    not_personal={
        "message_id": "A random identifier we generate for threading.",
        "reused_message_id": "A message identifier from the email's headers.",
        "last_error": "The mail server's reply when delivery failed.",
        "parse_error": "Why a received message could not be read.",
        "in_reply_to_header": "A message identifier from the email's headers.",
    },
    context=["status", "sent_at", "headers", "body_html"],
    purpose="Correspondence about your service and billing; evidence of what was said.",
    lawful_basis=LawfulBasis.CONTRACT,
    customer_path="customer",
    person_path="person",
    retention=Retention(
        counted_from="customer__closed_at",
        counted_from_without_customer="created_at",
        years=CORRESPONDENCE_RETENTION_YEARS,
        description=f"Kept while the account is open and {CORRESPONDENCE_RETENTION_YEARS} years after it "
        "closes, as a record of what was said (limitation period for contract claims); an email that "
        f"belongs to no customer account, {CORRESPONDENCE_RETENTION_YEARS} years after it was sent or received.",
    ),
    erasure=Erasure.anonymise(
        {
            "from_address": "erased@invalid",
            "to_addresses": [],
            "subject": "(erased)",
            "body_text": "",
            "body_html": "",
            "headers": {},
            "raw": "",  # the stored copy of a received email; its file is deleted too
            "pending_secrets": {},
        },
        reason="The record that a message was sent stays; its content is erased.",
    ),
)
class Message(models.Model):
    """One email in either direction.

    Outbound rows are written by ``gateway.send_mail`` inside the caller's transaction
    and delivered after commit; inbound rows by ``inbound.receive``. Content never
    changes after the row is written (``save`` refuses); delivery state may.
    """

    SENDING_TIMEOUT = timezone.timedelta(minutes=15)

    class Direction(models.TextChoices):
        OUTBOUND = "out", "Sent by us"
        INBOUND = "in", "Received from the customer"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        RECEIVED = "received", "Received"
        QUARANTINED = "quarantined", "Quarantined"
        REJECTED = "rejected", "Rejected"

    customer = models.ForeignKey(
        "accounts.Customer", null=True, blank=True, on_delete=models.PROTECT, related_name="messages"
    )
    # For mail about a person's own login (verification, password reset), sent to them
    # whatever customer they act for; the privacy export finds it through this.
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="login_messages"
    )
    direction = models.CharField(max_length=3, choices=Direction.choices)
    kind = models.CharField(max_length=20, choices=MailKind.choices)
    status = models.CharField(max_length=20, choices=Status.choices)
    message_id = models.CharField(max_length=255, unique=True, help_text="RFC 5322 Message-ID, without <>.")
    # A received message whose Message-ID another stored message already had is stored
    # under a new one; the identifier it came with is kept here, and flags it for staff.
    reused_message_id = models.CharField(
        max_length=255, blank=True, help_text="The Message-ID it arrived with, already used by another message."
    )
    idempotency_key = models.CharField(max_length=200, unique=True, null=True, blank=True)
    thread = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    in_reply_to = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies")
    in_reply_to_header = models.CharField(max_length=998, blank=True)
    from_address = models.CharField(max_length=320)
    to_addresses = models.JSONField(default=list)
    subject = models.CharField(max_length=998, blank=True)
    body_text = models.TextField(blank=True)
    body_html = models.TextField(blank=True)
    headers = models.JSONField(default=dict, blank=True)
    template = models.CharField(max_length=200, blank=True)
    raw = models.FileField(upload_to="mail/raw/%Y/%m/", max_length=255, blank=True)
    raw_sha256 = models.CharField(verbose_name="SHA-256 of the original", max_length=64, blank=True, db_index=True)
    parse_error = models.TextField(blank=True)
    # Inbound only: whether our receiving mail server vouched for the From address
    # (accounts.correspondence.senders). None for outbound mail.
    sender_verified = models.BooleanField(null=True, blank=True)
    sender_check = models.CharField(max_length=300, blank=True)
    related_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.PROTECT)
    related_id = models.CharField(max_length=64, blank=True)
    related = GenericForeignKey("related_type", "related_id")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Delivery state (outbound): the only fields that change after the row is written.
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # One-time links (password reset, invitation) are stored masked in the body; the real
    # values wait here only until delivery ends, so the archive never holds a live link.
    pending_secrets = models.JSONField(default=dict, blank=True)
    # Triage state (inbound quarantine).
    triaged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    triaged_at = models.DateTimeField(null=True, blank=True)

    objects = MessageQuerySet.as_manager()

    MUTABLE_FIELDS = frozenset(
        {
            "status",
            "attempts",
            "next_attempt_at",
            "claimed_at",
            "sent_at",
            "last_error",
            "customer",
            "pending_secrets",
            "thread",
            "in_reply_to",
            "triaged_by",
            "triaged_at",
        }
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["customer", "-created_at"]),
            models.Index(fields=["status", "next_attempt_at"]),
            # "The mail about this invoice / request": the billing admin looks it up per row.
            models.Index(fields=["related_type", "related_id"]),
        ]
        constraints = [
            # The same raw message delivered twice (pipe and fetch, a retrying MTA) is stored once.
            models.UniqueConstraint(fields=["raw_sha256"], condition=~Q(raw_sha256=""), name="inbound_raw_once"),
        ]

    def __str__(self) -> str:
        return self.subject or "(no subject)"

    def save(self, *args, **kwargs) -> None:
        update_fields = kwargs.get("update_fields")
        if self.pk and (update_fields is None or not set(update_fields) <= self.MUTABLE_FIELDS):
            # Stored correspondence is a record of what was said: never rewritten.
            raise ValidationError("A stored message cannot be changed; only its delivery state can.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("Correspondence is kept; erasure anonymises it through the privacy engine.")

    @property
    def thread_root(self) -> Message:
        return self.thread or self


@personal_data(
    description="Files attached to emails in either direction.",
    categories=[Category.CORRESPONDENCE],
    fields=["file", "filename"],
    not_personal={"content_type": "A MIME type such as application/pdf."},
    context=["message", "content_type", "size", "message__subject"],
    purpose="Correspondence about your service and billing.",
    lawful_basis=LawfulBasis.CONTRACT,
    customer_path="message__customer",
    person_path="message__person",
    belongs_to=["message"],
    retention=Retention(
        counted_from="message__customer__closed_at",
        counted_from_without_customer="message__created_at",
        years=CORRESPONDENCE_RETENTION_YEARS,
        description="Kept as long as the message it belongs to.",
    ),
    # An attachment follows its message, except a copy of one of our issued documents (the
    # invoice's or credit note's stored PDF), which is kept with that document as a VAT record.
    erasure=Erasure.delete(keep_copies_in=["file"]),
)
class MessageAttachment(models.Model):
    """A file attached to a message, stored privately once, with its SHA-256."""

    message = models.ForeignKey(Message, on_delete=models.PROTECT, related_name="attachments")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(verbose_name="SHA-256", max_length=64)
    file = models.FileField(upload_to="mail/attachments/%Y/%m/", max_length=255)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.filename

    def save(self, *args, **kwargs) -> None:
        # The stored file and its hash are set once, when the attachment is stored: a
        # download checks the bytes against the hash, so neither may change afterwards
        # (a PostgreSQL and SQLite trigger refuses the same for queryset updates and SQL).
        if self.pk:
            stored = MessageAttachment.objects.filter(pk=self.pk).values_list("file", "sha256").first()
            if stored is not None and stored != (self.file.name or "", self.sha256):
                raise ValidationError("An attachment's stored file and its SHA-256 are set once: they cannot change.")
        super().save(*args, **kwargs)


@personal_data(
    description="Each address an email we sent went to, and what its mail server answered.",
    categories=[Category.CONTACT, Category.CORRESPONDENCE],
    fields=["address", "reply"],
    not_personal={
        "status": "Whether the mail server accepted the message for this address.",
        "attempts": "How many times delivery to this address was tried.",
        "updated_at": "When the mail server last answered for this address.",
    },
    purpose="Correspondence about your service and billing; a record of whether it reached you.",
    lawful_basis=LawfulBasis.CONTRACT,
    customer_path="message__customer",
    person_path="message__person",
    belongs_to=["message"],
    retention=Retention(
        counted_from="message__customer__closed_at",
        counted_from_without_customer="message__created_at",
        years=CORRESPONDENCE_RETENTION_YEARS,
        description="Kept as long as the message it belongs to.",
    ),
    # Deleted, not anonymised: one row per address of a message, so several erased
    # addresses would collide; the message keeps its own delivery status.
    erasure=Erasure.delete(),
)
class MessageRecipient(models.Model):
    """Delivery of one outbound message to one address, as the mail server answered it.

    A message is *sent* only when every recipient was accepted; a recipient refused for a
    while is retried with the message's back-off, one refused for good is shown to staff
    with the server's answer, and one already accepted is never sent the message again.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Not tried yet"
        ACCEPTED = "accepted", "Accepted by the mail server"
        DEFERRED = "deferred", "Refused for now; will be retried"
        REFUSED = "refused", "Refused for good"

    message = models.ForeignKey(Message, on_delete=models.PROTECT, related_name="recipients")
    address = models.CharField(max_length=320)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    reply = models.TextField(blank=True, help_text="The mail server's answer for this address.")
    attempts = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["message", "address"], name="message_recipient_once"),
        ]

    def __str__(self) -> str:
        return f"{self.address}: {self.get_status_display()}"


class Department(models.TextChoices):
    """Which staff desk answers a conversation."""

    SUPPORT = "support", "Support"
    BILLING = "billing", "Billing"
    ABUSE = "abuse", "Abuse"
    PRIVACY = "privacy", "Privacy"


# The desk for each kind of mail, when the address it was sent to does not say
# (legal mail comes from, and is answered by, billing: gateway.sender_for).
KIND_DEPARTMENTS: dict[str, str] = {
    MailKind.SERVICE: Department.SUPPORT,
    MailKind.SECURITY: Department.SUPPORT,
    MailKind.BILLING: Department.BILLING,
    MailKind.LEGAL: Department.BILLING,
    MailKind.ABUSE: Department.ABUSE,
    MailKind.PRIVACY: Department.PRIVACY,
}


class Conversation(models.Model):
    """The state of one thread of correspondence with a customer: whose turn it is,
    which desk answers it and who on it.

    A thread is its first message (``root``) and every message whose ``thread`` is that
    one. A conversation exists once a customer writes in it or staff reply in it; mail
    we send on our own (an invoice) has none until then. Changed only through
    ``accounts.correspondence.conversations``, which records each change in the audit trail.
    """

    class Status(models.TextChoices):
        WAITING_FOR_US = "waiting_us", "Waiting for us"
        WAITING_FOR_CUSTOMER = "waiting_customer", "Waiting for customer"
        CLOSED = "closed", "Closed"

    # What the customer reads for each status.
    CUSTOMER_LABELS = {
        Status.WAITING_FOR_US: "Waiting for us",
        Status.WAITING_FOR_CUSTOMER: "Waiting for your reply",
        Status.CLOSED: "Closed",
    }

    root = models.OneToOneField(Message, on_delete=models.PROTECT, related_name="conversation")
    status = models.CharField(max_length=20, choices=Status.choices)
    # When the status last changed: the queue of conversations waiting for us is oldest first.
    status_since = models.DateTimeField(default=timezone.now)
    department = models.CharField(max_length=20, choices=Department.choices)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        limit_choices_to={"is_staff": True, "is_active": True},
        help_text="The member of staff answering it; anyone on the desk may, if nobody is.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["status_since", "pk"]
        indexes = [models.Index(fields=["status", "department", "status_since"], name="conversation_queue")]

    def __str__(self) -> str:
        return str(self.root)

    @property
    def customer(self):
        return self.root.customer

    def customer_label(self) -> str:
        return self.CUSTOMER_LABELS[self.status]
