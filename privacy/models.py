"""Privacy records: the disclosure ledger, legal holds, consents, policy versions,
data-subject requests and their exports.

Each model's docstring says who writes its rows; every write goes through a service
in ``privacy/services/``: one write path per model.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.registry import Category, Erasure, LawfulBasis, Retention, no_personal_data, personal_data

# ---------------------------------------------------------------------------------------
# The disclosure ledger (docs/privacy-ledger.md)
# ---------------------------------------------------------------------------------------


class DisclosureQuerySet(models.QuerySet):
    def for_customer(self, customer) -> DisclosureQuerySet:
        return self.filter(customers=customer)

    def visible_to_customer(self, customer, *, today=None) -> DisclosureQuerySet:
        """Entries the customer may see: not under a non-disclosure duty, or one that has ended."""
        today = today or timezone.localdate()
        return self.for_customer(customer).filter(
            Q(withheld=False)
            | Q(withheld=True, withheld_until__isnull=False, withheld_until__lte=today)
            | Q(withheld=True, release__ends_on__lte=today)
        )


@personal_data(
    description="Who we disclosed your data to, when, why and what.",
    categories=[Category.PRIVACY],
    fields=["recipient", "purpose", "summary"],
    not_personal={
        "recipient_address": "The recipient's address (an accountant, a court, another network).",
        "withheld_reason": "The legal instrument that forbids telling the customer.",
    },
    context=["created_at", "recipient_kind", "legal_basis", "categories"],
    purpose="Account for every disclosure (UK GDPR Art 5(2), 15(1)(c), 19).",
    lawful_basis=LawfulBasis.LEGAL_OBLIGATION,
    customer_path="customers",
    retention=Retention(
        counted_from="created_at",
        years=6,
        from_financial_year_end=True,
        swept=False,
        description="Kept for as long as the ledger is kept: it is hash-chained, and removing old entries "
        "would make it impossible to show that no entry was altered or removed.",
    ),
    erasure=Erasure.keep("The record of disclosures is what lets us answer for them (UK GDPR Art 5(2))."),
)
class DisclosureEntry(models.Model):
    """One disclosure of personal data to a third party. Append-only and hash-chained.

    Written only by ``privacy.services.ledger.record_disclosure``; each entry's hash covers
    its content and the previous entry's hash, so altering, inserting or deleting a row
    breaks the chain (``manage.py verify_ledger``).
    """

    class Recipient(models.TextChoices):
        ACCOUNTANT = "accountant", "Accountants"
        DEBT_COLLECTION = "debt_collection", "Solicitors, courts or debt collectors"
        NETWORK_OPERATOR = "network_operator", "Another network's operator (abuse report)"
        COMPLAINANT = "complainant", "A complainant"
        AUTHORITY = "authority", "A public authority (lawful request)"
        STAFF_STORAGE_ACCESS = "storage_access", "Our staff accessing your server's storage"
        DATA_SUBJECT = "data_subject", "You or your authorised agent"
        OTHER = "other", "Other"

    sequence = models.PositiveBigIntegerField(unique=True, editable=False)
    recipient_kind = models.CharField(max_length=30, choices=Recipient.choices)
    recipient = models.CharField(max_length=200, help_text="Who received it, e.g. the accountants' firm.")
    recipient_address = models.CharField(max_length=320, blank=True)
    purpose = models.CharField(max_length=300)
    legal_basis = models.CharField(max_length=300)
    categories = models.JSONField(default=list)
    customers = models.ManyToManyField("accounts.Customer", related_name="disclosures", blank=True)
    customer_ids = models.JSONField(default=list, editable=False)
    summary = models.TextField(blank=True, help_text="What was sent, in a sentence.")
    artefact_sha256 = models.CharField(verbose_name="SHA-256 of the artefact", max_length=64, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    withheld = models.BooleanField(default=False, help_text="Under a lawful duty not to tell the customer.")
    withheld_until = models.DateField(
        null=True, blank=True, help_text="When the duty ends; empty while its end is unknown."
    )
    withheld_reason = models.CharField(max_length=300, blank=True)
    previous_hash = models.CharField(max_length=64, editable=False)
    entry_hash = models.CharField(max_length=64, unique=True, editable=False)
    # HMAC-SHA256 of the entry's hash with a key kept outside the database
    # (PORTAL_LEDGER_KEYS), and which key: without the key, no entry can be made to verify.
    key_id = models.CharField(max_length=32, blank=True, editable=False)
    signature = models.CharField(max_length=64, blank=True, editable=False)

    objects = DisclosureQuerySet.as_manager()

    GENESIS = "0" * 64

    class Meta:
        ordering = ["sequence"]
        verbose_name_plural = "disclosure entries"

    def __str__(self) -> str:
        return f"#{self.sequence} to {self.recipient} ({self.created_at:%Y-%m-%d})"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ValidationError("The disclosure ledger is append-only: entries are never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("The disclosure ledger is append-only: entries are never deleted.")

    def canonical(self) -> bytes:
        """The bytes the hash covers: every field that says what was disclosed."""
        body = {
            "sequence": self.sequence,
            "recipient_kind": self.recipient_kind,
            "recipient": self.recipient,
            "recipient_address": self.recipient_address,
            "purpose": self.purpose,
            "legal_basis": self.legal_basis,
            "categories": sorted(self.categories),
            "customer_ids": sorted(self.customer_ids),
            "summary": self.summary,
            "artefact_sha256": self.artefact_sha256,
            "actor_id": self.actor_id,
            "created_at": self.created_at.isoformat(),
            "withheld": self.withheld,
            "withheld_until": self.withheld_until.isoformat() if self.withheld_until else None,
            "withheld_reason": self.withheld_reason,
            "previous_hash": self.previous_hash,
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def compute_hash(self) -> str:
        return hashlib.sha256(self.canonical()).hexdigest()

    def compute_signature(self, secret: str) -> str:
        """The entry's hash and key id, signed with ``secret`` (the key named by ``key_id``)."""
        return hmac.new(secret.encode(), f"{self.key_id}:{self.entry_hash}".encode(), hashlib.sha256).hexdigest()


@no_personal_data("Records when a non-disclosure duty on a ledger entry ended; written by privacy staff.")
class DisclosureRelease(models.Model):
    """The end of a non-disclosure duty whose end was unknown when the disclosure was recorded.

    Ledger entries never change, so the end is recorded beside the entry, once: from
    ``ends_on`` the customer sees the entry (e.g. the authority lifted its IPA s.82 duty).
    """

    entry = models.OneToOneField(DisclosureEntry, on_delete=models.PROTECT, related_name="release")
    ends_on = models.DateField()
    reason = models.CharField(max_length=300, help_text="e.g. the authority's letter lifting the restriction")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Disclosure #{self.entry.sequence} may be shown from {self.ends_on}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ValidationError("A release is recorded once and never changed.")
        super().save(*args, **kwargs)


@no_personal_data("Records that a recipient was told of a correction or erasure (UK GDPR Art 19).")
class RecipientNotification(models.Model):
    """Staff told a recipient of a disclosure about a rectification, erasure or restriction."""

    request = models.ForeignKey(
        "privacy.DataSubjectRequest", on_delete=models.PROTECT, related_name="recipient_notifications"
    )
    disclosure = models.ForeignKey(DisclosureEntry, on_delete=models.PROTECT, related_name="notifications")
    notified_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    notified_at = models.DateTimeField(default=timezone.now)
    how = models.CharField(max_length=200, help_text="e.g. email to the firm's data protection contact")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["request", "disclosure"], name="notify_recipient_once")]

    def __str__(self) -> str:
        return f"{self.disclosure.recipient} told about request #{self.request_id}"


# ---------------------------------------------------------------------------------------
# Legal holds
# ---------------------------------------------------------------------------------------


class LegalHoldQuerySet(models.QuerySet):
    def active(self) -> LegalHoldQuerySet:
        return self.filter(lifted_at__isnull=True)


@no_personal_data(
    "Staff records of legal obligations about a customer's records. A hold may follow a production "
    "order or an Investigatory Powers Act notice that must not be disclosed, so holds never appear in "
    "the customer's export or 'what we hold' page; they are kept, never swept."
)
class LegalHold(models.Model):
    """Records that must not be erased or purged: a whole customer, or one record of theirs.

    Placed and lifted by privacy staff through ``privacy.services.holds``; the erasure
    engine and the retention sweep skip anything an active hold covers.
    """

    customer = models.ForeignKey("accounts.Customer", on_delete=models.PROTECT, related_name="legal_holds")
    target_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.PROTECT)
    target_id = models.CharField(max_length=64, blank=True)
    target = GenericForeignKey("target_type", "target_id")
    reason = models.TextField(help_text="e.g. dispute over invoice INV-2026-000123; PACE production order ref.")
    placed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    placed_at = models.DateTimeField(default=timezone.now)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    lifted_at = models.DateTimeField(null=True, blank=True)

    objects = LegalHoldQuerySet.as_manager()

    class Meta:
        ordering = ["-placed_at"]
        permissions = [("manage_legal_hold", "Can place and lift legal holds")]

    def __str__(self) -> str:
        what = f"{self.target_type.model} {self.target_id}" if self.target_type_id else "all records"
        return f"Hold on {what} of {self.customer}"


# ---------------------------------------------------------------------------------------
# Consents and policy versions
# ---------------------------------------------------------------------------------------


@personal_data(
    description="Consents you gave or withdrew, with the exact wording you saw.",
    categories=[Category.PRIVACY],
    fields=["wording", "method", "given_at", "withdrawn_at"],
    context=["purpose", "wording_version"],
    purpose="Prove consent and honour its withdrawal (UK GDPR Art 7(1)).",
    lawful_basis=LawfulBasis.LEGAL_OBLIGATION,
    person_path="person",
    retention=Retention(
        counted_from="withdrawn_at", years=6, description="Kept 6 years after withdrawal, as proof of what was agreed."
    ),
    erasure=Erasure.keep("Proof of consent must be kept while it could be disputed (UK GDPR Art 7(1))."),
)
class ConsentRecord(models.Model):
    """A person's consent to one optional purpose: who, when, how, the exact wording, and withdrawal."""

    person = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="consents")
    purpose = models.CharField(max_length=50, help_text="A key such as 'analytics_cookies'.")
    wording = models.TextField(help_text="The exact text the person was shown.")
    wording_version = models.CharField(max_length=20)
    method = models.CharField(max_length=200, help_text="Which page or form, e.g. 'cookie banner on /'.")
    given_at = models.DateTimeField(default=timezone.now)
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-given_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["person", "purpose"],
                condition=Q(withdrawn_at__isnull=True),
                name="one_live_consent_per_purpose",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person} — {self.purpose}"


@no_personal_data("Policy texts, drafts and published versions.")
class PolicyVersion(models.Model):
    """A version of a policy (privacy policy, terms) with its effective date: a draft staff can edit,
    then, once published, numbered and never changed."""

    class Document(models.TextChoices):
        PRIVACY = "privacy", "Privacy policy"
        TERMS = "terms", "Terms of service"

    document = models.CharField(max_length=20, choices=Document.choices)
    # Numbered when published; a draft has no number yet.
    version = models.PositiveIntegerField(null=True, blank=True)
    effective_from = models.DateField()
    body = models.TextField(
        help_text="The full text, in Markdown: # for a heading, **bold**, *italic*, - or 1. for a list item, "
        "[text](https://address) for a link, a blank line between paragraphs. HTML is shown as text."
    )
    summary_of_changes = models.TextField(blank=True, help_text="In Markdown, like the text.")
    material_change = models.BooleanField(default=False, help_text="Customers are emailed before it takes effect.")
    published_at = models.DateTimeField(null=True, blank=True)
    notice_sent_at = models.DateTimeField(null=True, blank=True)

    # What may still change once a version is published: when its notice was sent.
    PUBLISHED_MUTABLE_FIELDS = frozenset({"notice_sent_at"})

    class Meta:
        ordering = ["document", "-version"]
        constraints = [models.UniqueConstraint(fields=["document", "version"], name="one_version_number")]

    def __str__(self) -> str:
        if self.version is None:
            return f"{self.get_document_display()} (draft)"
        return f"{self.get_document_display()} v{self.version}"

    def save(self, *args, **kwargs) -> None:
        # A published version is history: what was in force must stay as it was shown.
        update_fields = kwargs.get("update_fields")
        if (
            self.pk
            and (update_fields is None or not set(update_fields) <= self.PUBLISHED_MUTABLE_FIELDS)
            and PolicyVersion.objects.filter(pk=self.pk, published_at__isnull=False).exists()
        ):
            raise ValidationError("A published policy version cannot be changed; publish a new version instead.")
        super().save(*args, **kwargs)

    @property
    def is_draft(self) -> bool:
        return self.published_at is None


@personal_data(
    description="When you acknowledged a new version of a policy.",
    categories=[Category.PRIVACY],
    fields=["acknowledged_at"],
    context=["version__document", "version__version", "version__effective_from"],
    purpose="Show that you were told of material changes.",
    lawful_basis=LawfulBasis.LEGAL_OBLIGATION,
    person_path="person",
    retention=Retention(counted_from="acknowledged_at", years=6, description="Kept 6 years."),
    erasure=Erasure.delete(),
)
class PolicyAcknowledgement(models.Model):
    person = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey(PolicyVersion, on_delete=models.PROTECT, related_name="acknowledgements")
    acknowledged_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["person", "version"], name="acknowledge_once")]

    def __str__(self) -> str:
        return f"{self.person} acknowledged {self.version}"


# ---------------------------------------------------------------------------------------
# Data-subject requests
# ---------------------------------------------------------------------------------------


class DataSubjectRequestQuerySet(models.QuerySet):
    def visible_to_customer(self, customer, *, today=None) -> DataSubjectRequestQuerySet:
        """A customer's own requests: those about the whole account. A contact's request about
        themselves is theirs alone (their export finds it through ``person``), never the owner's."""
        return self.filter(customer=customer, person__isnull=True)


@personal_data(
    description="Your privacy requests and how we handled them.",
    categories=[Category.PRIVACY, Category.CONTACT],
    fields=[
        "requester_name",
        "requester_email",
        "agent_name",
        "agent_email",
        "agent_authority",
        "details",
        "notes",
        "refusal_reason",
        "extension_reason",
        "response",
    ],
    not_personal={},
    internal={
        "notes": "Staff's working notes on handling the request (who did what, and their assessment): "
        "they may record matters the requester must not be told, such as a legal hold.",
    },
    context=["kind", "regime", "received_at", "due_on", "closed_at"],
    purpose="Handle your data-protection rights and show that we did (UK GDPR Art 12; CCPA records).",
    lawful_basis=LawfulBasis.LEGAL_OBLIGATION,
    customer_path="customer",
    person_path="person",
    retention=Retention(
        counted_from="closed_at",
        months=24,
        description="Kept 24 months after the request is closed (CCPA record-keeping).",
    ),
    erasure=Erasure.keep("The record of a rights request is itself required (CCPA; UK GDPR Art 5(2))."),
)
class DataSubjectRequest(models.Model):
    """A request to exercise a data-protection right. Deadlines per regime (privacy.deadlines)."""

    class Kind(models.TextChoices):
        ACCESS = "access", "Access (a copy of your data)"
        PORTABILITY = "portability", "Portability (machine-readable export)"
        RECTIFICATION = "rectification", "Rectification (correct your data)"
        ERASURE = "erasure", "Erasure"
        RESTRICTION = "restriction", "Restriction of processing"
        OBJECTION = "objection", "Objection to processing"
        WITHDRAW_CONSENT = "withdraw_consent", "Withdrawal of consent"
        KNOW = "know", "Right to know (CCPA)"
        LIMIT_SENSITIVE = "limit_sensitive", "Limit use of sensitive information (CCPA)"

    class Regime(models.TextChoices):
        UK_GDPR = "uk_gdpr", "UK GDPR"
        EU_GDPR = "eu_gdpr", "EU GDPR"
        CCPA = "ccpa", "CCPA"

    class Channel(models.TextChoices):
        PORTAL = "portal", "Portal (logged in)"
        PUBLIC_FORM = "public_form", "Public form (confirmed by email)"
        STAFF = "staff", "Entered by staff (letter or call)"
        AGENT = "agent", "Authorised agent"

    class Status(models.TextChoices):
        AWAITING_CONFIRMATION = "awaiting_confirmation", "Awaiting confirmation"
        OPEN = "open", "Open"
        PAUSED = "paused", "Paused for clarification"
        EXTENDED = "extended", "Extended"
        # An erasure carried out as far as it could be, with records a legal hold keeps: it
        # stays open (staff see it) and returns to the queue when the hold is lifted. The
        # requester is never told of the hold: their pages say "Answered".
        HELD = "held", "Held: records under a legal hold remain"
        FULFILLED = "fulfilled", "Fulfilled"
        REFUSED = "refused", "Refused"
        WITHDRAWN = "withdrawn", "Withdrawn"

    kind = models.CharField(max_length=30, choices=Kind.choices)
    regime = models.CharField(max_length=10, choices=Regime.choices, default=Regime.UK_GDPR)
    channel = models.CharField(max_length=20, choices=Channel.choices)
    status = models.CharField(max_length=30, choices=Status.choices, default=Status.OPEN)
    customer = models.ForeignKey(
        "accounts.Customer", null=True, blank=True, on_delete=models.PROTECT, related_name="privacy_requests"
    )
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="privacy_requests"
    )
    requester_name = models.CharField(max_length=200, blank=True)
    requester_email = models.EmailField(blank=True)
    agent_name = models.CharField(max_length=200, blank=True)
    agent_email = models.EmailField(blank=True)
    agent_authority = models.FileField(
        upload_to="privacy/authorities/%Y/",  # under a random name: privacy.authority
        max_length=255,
        blank=True,
        help_text="The written authority to act for the person.",
    )
    agent_confirmed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the person confirmed the agent directly."
    )
    details = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    confirmed_at = models.DateTimeField(null=True, blank=True, help_text="Identity confirmed; the clock starts.")
    confirmation_token_hash = models.CharField(max_length=64, blank=True, db_index=True)
    paused_days = models.PositiveIntegerField(default=0, help_text="Days the clock stood still for clarification.")
    paused_at = models.DateTimeField(null=True, blank=True)
    extended = models.BooleanField(default=False)
    extension_reason = models.TextField(blank=True)
    due_on = models.DateField(null=True, blank=True)
    confirm_due_on = models.DateField(null=True, blank=True, help_text="CCPA: confirm receipt by this date.")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    notes = models.TextField(blank=True)
    fee_charged = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    refusal_reason = models.TextField(blank=True)
    response = models.TextField(blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    fulfilment_started_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set while an erasure is being carried out, so a second 'Fulfil' waits for it.",
    )

    objects = DataSubjectRequestQuerySet.as_manager()

    class Meta:
        ordering = ["due_on", "received_at"]
        permissions = [("fulfil_request", "Can fulfil data-subject requests (export, erasure)")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} request #{self.pk}"

    @property
    def status_for_requester(self) -> str:
        """The state the requester sees: a held erasure has been answered, and they are
        never told of a legal hold."""
        if self.status == self.Status.HELD:
            return "Answered"
        return self.get_status_display()


@personal_data(
    description="A request sent on the public form, for the moments it takes to look up its address.",
    categories=[Category.PRIVACY, Category.CONTACT],
    fields=["email", "details"],
    purpose="Find out, away from the web request, whether the address is a login's, and if so ask it to confirm.",
    lawful_basis=LawfulBasis.LEGAL_OBLIGATION,
    unattributed="Whose it is is not known until its task looks the address up; the task then deletes it.",
    retention=Retention(
        counted_from="submitted_at",
        days=1,
        description="Deleted by its task once the address is looked up; any left over by the next retention sweep.",
    ),
    erasure=Erasure.delete(),
)
class PublicRequestSubmission(models.Model):
    """A request from the public form, waiting for its task (``privacy.tasks.process_public_request``).

    The web request stores one whatever the address and queues the task with its primary
    key, so neither the answer nor the work done tells a visitor whether the address has
    a login, and the address and details never travel through the broker. The task opens
    a ``DataSubjectRequest`` only for a verified address of a login, and deletes the
    submission either way (``privacy.services.requests.process_public_request``).
    """

    email = models.EmailField()
    kind = models.CharField(max_length=30, choices=DataSubjectRequest.Kind.choices)
    regime = models.CharField(max_length=10, choices=DataSubjectRequest.Regime.choices)
    details = models.TextField(blank=True)
    link_base = models.URLField(max_length=300, help_text="The portal's address as the visitor reached it.")
    submitted_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Public request submission #{self.pk}"


class ProcessingRestrictionQuerySet(models.QuerySet):
    def active(self) -> ProcessingRestrictionQuerySet:
        return self.filter(lifted_at__isnull=True)


@personal_data(
    description="Restrictions of and objections to processing that you asked for.",
    categories=[Category.PRIVACY],
    fields=["scope"],
    context=["kind", "started_at", "lifted_at"],
    purpose="Honour restriction (UK GDPR Art 18) and objection (Art 21).",
    lawful_basis=LawfulBasis.LEGAL_OBLIGATION,
    customer_path="customer",
    person_path="person",
    retention=Retention(counted_from="lifted_at", years=2, description="Kept 2 years after it is lifted."),
    erasure=Erasure.keep("We must remember a restriction or objection to keep honouring it."),
)
class ProcessingRestriction(models.Model):
    """A flag that code honours: see docs/privacy.md for exactly what each kind stops."""

    class Kind(models.TextChoices):
        RESTRICTION = "restriction", "Restriction (Art 18): keep the data, use it for nothing optional"
        OBJECTION = "objection", "Objection (Art 21): stop processing based on legitimate interests"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    customer = models.ForeignKey(
        "accounts.Customer", null=True, blank=True, on_delete=models.PROTECT, related_name="processing_restrictions"
    )
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="processing_restrictions",
    )
    scope = models.TextField(blank=True, help_text="What the person asked to restrict or objected to.")
    request = models.ForeignKey(
        "privacy.DataSubjectRequest", null=True, blank=True, on_delete=models.PROTECT, related_name="restrictions"
    )
    started_at = models.DateTimeField(default=timezone.now)
    lifted_at = models.DateTimeField(null=True, blank=True)

    objects = ProcessingRestrictionQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.get_kind_display().split(':')[0]} for {self.customer or self.person}"


@personal_data(
    description="Instructions you left for your data after your death.",
    categories=[Category.PRIVACY],
    fields=["instructions"],
    context=["updated_at"],
    purpose="Follow your wishes for your data after death (French law, Loi Informatique et Libertés art. 85).",
    lawful_basis=LawfulBasis.CONSENT,
    person_path="person",
    retention=Retention(counted_from="person__deactivated_at", years=6, description="Kept until they can be acted on."),
    erasure=Erasure.delete(),
)
class PostMortemInstruction(models.Model):
    person = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    instructions = models.TextField()
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Instructions of {self.person}"


# ---------------------------------------------------------------------------------------
# Exports and erasures
# ---------------------------------------------------------------------------------------


@personal_data(
    description="Copies of your data we prepared for you to download.",
    categories=[Category.PRIVACY],
    fields=["file"],
    not_personal={"error": "Why building the export failed (a technical message)."},
    context=["created_at", "finished_at", "expires_at"],
    purpose="Give you your data (UK GDPR Art 15, 20).",
    lawful_basis=LawfulBasis.LEGAL_OBLIGATION,
    customer_path="customer",
    person_path="requested_by",
    retention=Retention(counted_from="expires_at", days=0, description="Deleted when the download link expires."),
    erasure=Erasure.delete(),
)
class DataExport(models.Model):
    """A ZIP of everything the registry declares for a customer or person, built in the background."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Being prepared"
        READY = "ready", "Ready to download"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired"

    customer = models.ForeignKey(
        "accounts.Customer", null=True, blank=True, on_delete=models.PROTECT, related_name="data_exports"
    )
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Export one person's data instead of a customer's.",
    )
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="data_exports")
    request = models.ForeignKey(
        DataSubjectRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="exports"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done.")
    file = models.FileField(upload_to="privacy/exports/%Y/%m/", max_length=255, blank=True)
    sha256 = models.CharField(verbose_name="SHA-256", max_length=64, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Export #{self.pk} of {self.customer or self.person}"

    def save(self, *args, **kwargs) -> None:
        # The archive and its SHA-256 are set once, when the export is ready; the one later
        # change is clearing the file as the export expires (``expire_exports``). A
        # PostgreSQL and SQLite trigger refuses the same for queryset updates and SQL.
        if self.pk:
            stored = DataExport.objects.filter(pk=self.pk).values_list("file", "sha256").first()
            if stored is not None and stored[1]:
                name = self.file.name or ""
                expiring = name == "" and self.status == self.Status.EXPIRED
                if self.sha256 != stored[1] or (name != stored[0] and not expiring):
                    raise ValidationError("An export's stored file and its SHA-256 are set once: they cannot change.")
        super().save(*args, **kwargs)


@no_personal_data("A record of what an erasure did; it names models and counts, not data.")
class ErasureRun(models.Model):
    """What an erasure did, per declaration: deleted, anonymised, or kept and why."""

    request = models.ForeignKey(
        DataSubjectRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="erasure_runs"
    )
    customer = models.ForeignKey("accounts.Customer", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    plan = models.JSONField(default=list)
    result = models.JSONField(default=list)
    run_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    ran_at = models.DateTimeField(default=timezone.now)
    dry_run = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"Erasure for {self.customer or self.person} on {self.ran_at:%Y-%m-%d}"
