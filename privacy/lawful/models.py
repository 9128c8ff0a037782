"""The lawful-access register's records. They belong to the privacy app
(``PrivacyConfig.ready`` imports this module); every write goes through
``privacy.lawful.services``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.registry import no_personal_data


class Instrument(models.TextChoices):
    """The legal instrument a demand relies on."""

    IPA_COMMUNICATIONS_DATA = (
        "ipa_communications_data",
        "Investigatory Powers Act 2016: communications data authorisation (Part 3)",
    )
    IPA_WARRANT = "ipa_warrant", "Investigatory Powers Act 2016: warrant (interception or equipment interference)"
    PACE_PRODUCTION_ORDER = "pace_production_order", "Production order under PACE 1984 Schedule 1"
    COURT_ORDER = "court_order", "Court order"
    DPA_SCHEDULE_2 = "dpa_schedule_2", "Request relying on the Data Protection Act 2018 Schedule 2 paragraph 2"
    FOREIGN = "foreign", "Foreign request"
    OTHER = "other", "Other"

    @classmethod
    def voluntary(cls) -> frozenset[str]:
        """No compulsion: we decide on necessity and proportionality, and may refuse."""
        return frozenset({cls.DPA_SCHEDULE_2, cls.FOREIGN, cls.OTHER})

    @classmethod
    def secret_by_statute(cls) -> frozenset[str]:
        """IPA 2016 ss.57, 82: the existence of the request must not be disclosed unless
        the authority permits; the customer is never told without that permission."""
        return frozenset({cls.IPA_COMMUNICATIONS_DATA, cls.IPA_WARRANT})


class Outcome(models.TextChoices):
    COMPLIED = "complied", "Complied"
    PARTLY = "partly", "Complied in part (narrowed)"
    REFUSED = "refused", "Refused"


_NO_PERSONAL_DATA = (
    "Staff records of a demand from a public authority and its handling. The customer learns of a "
    "disclosure through its entry in the disclosure ledger, never from these records: a demand may "
    "carry a lawful duty not to tell them (Investigatory Powers Act 2016 ss.57, 82), so they are "
    "never part of the customer's export or 'what we hold' page. The officer's name and work contact "
    "are the authority's business details. Kept, never swept, like the ledger they explain."
)


@no_personal_data(_NO_PERSONAL_DATA)
class LawfulDemand(models.Model):
    """A demand for customers' data from an authority, from receipt to decision.

    Steps, each by someone with ``privacy.handle_lawful_demand``: recorded (optionally with
    a legal hold on the customers in scope), verified (a checklist signed off), decided
    (comply, narrow or refuse, with reasons), approved by a second person, then, unless
    refused, disclosed once (``LawfulDisclosure``).
    """

    class Channel(models.TextChoices):
        SECURE_SYSTEM = "secure_system", "The authority's secure disclosure system"
        EMAIL = "email", "Email"
        POST = "post", "Post"
        IN_PERSON = "in_person", "Served in person"
        PHONE = "phone", "Telephone (followed by writing)"

    class Status(models.TextChoices):
        RECEIVED = "received", "Received: verification pending"
        VERIFIED = "verified", "Verified: decision pending"
        DECIDED = "decided", "Decided: second approval pending"
        APPROVED = "approved", "Approved: disclosure pending"
        DISCLOSED = "disclosed", "Disclosed"
        REFUSED = "refused", "Refused"

    authority = models.CharField(max_length=200, help_text="e.g. Metropolitan Police Service")
    officer_name = models.CharField(max_length=200)
    officer_contact = models.CharField(max_length=320, help_text="As given on the demand.")
    channel = models.CharField(max_length=20, choices=Channel.choices)
    instrument = models.CharField(max_length=30, choices=Instrument.choices)
    instrument_reference = models.CharField(max_length=200)
    instrument_date = models.DateField()
    received_at = models.DateTimeField(default=timezone.now)
    customers = models.ManyToManyField("accounts.Customer", related_name="+")
    data_requested = models.TextField(help_text="The data asked for, as the demand words it.")
    categories = models.JSONField(default=list, help_text="core.registry.Category values.")
    period_from = models.DateField(null=True, blank=True)
    period_to = models.DateField(null=True, blank=True)
    deadline = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RECEIVED)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)
    holds = models.ManyToManyField("privacy.LegalHold", blank=True, related_name="+")

    # The verification checklist.
    authenticity_checked = models.BooleanField(default=False)
    authenticity_note = models.TextField(
        blank=True,
        help_text="How it was confirmed, through a contact found independently (not the one on the request).",
    )
    instrument_valid = models.BooleanField(default=False)
    instrument_note = models.TextField(blank=True)
    scope_specific = models.BooleanField(default=False)
    scope_note = models.TextField(blank=True)
    necessity_assessment = models.TextField(
        blank=True, help_text="Voluntary requests: why disclosure is necessary and proportionate, or why not."
    )
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    verified_at = models.DateTimeField(null=True, blank=True)

    # The decision and its second approval.
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True)
    decision_reason = models.TextField(blank=True)
    disclosed_scope = models.TextField(blank=True, help_text="What will be disclosed (narrower than asked, if so).")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-pk"]
        permissions = [("handle_lawful_demand", "Can record, verify, decide and disclose lawful demands")]
        constraints = [
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True) | ~Q(approved_by=models.F("verified_by")),
                name="lawful_demand_second_approver_not_verifier",
            ),
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True) | ~Q(approved_by=models.F("decided_by")),
                name="lawful_demand_second_approver_not_decider",
            ),
        ]

    def __str__(self) -> str:
        return f"Demand #{self.pk} from {self.authority} ({self.instrument_reference})"

    @property
    def voluntary(self) -> bool:
        return self.instrument in Instrument.voluntary()


@no_personal_data(_NO_PERSONAL_DATA)
class LawfulDisclosure(models.Model):
    """What was sent in answer to a demand: packaged once, hashed, and in the ledger.

    ``duty`` records a non-disclosure duty: none (the customer is told at once), until a
    date (told that day by the daily task), or until staff record that it was lifted.
    """

    class Duty(models.TextChoices):
        NONE = "none", "No duty: tell the customer now"
        UNTIL = "until", "Until a known date"
        INDEFINITE = "indefinite", "Until the authority lifts it"

    demand = models.OneToOneField(LawfulDemand, on_delete=models.PROTECT, related_name="disclosure")
    package = models.FileField(max_length=300)
    package_name = models.CharField(max_length=255)
    package_sha256 = models.CharField(verbose_name="SHA-256 of the package", max_length=64)
    package_size = models.PositiveBigIntegerField()
    sent_to = models.CharField(max_length=320, help_text="Where it was sent.")
    sent_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    sent_at = models.DateTimeField(default=timezone.now)
    entry = models.OneToOneField("privacy.DisclosureEntry", on_delete=models.PROTECT, related_name="+")
    duty = models.CharField(max_length=20, choices=Duty.choices)
    duty_ends_on = models.DateField(null=True, blank=True)
    duty_basis = models.CharField(max_length=300, blank=True, help_text="e.g. IPA 2016 s.82; the order's paragraph 4")
    customers_told_at = models.DateTimeField(null=True, blank=True)
    last_reviewed_at = models.DateTimeField(null=True, blank=True)
    last_reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-sent_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(duty="until", duty_ends_on__isnull=False)
                | (~Q(duty="until") & Q(duty_ends_on__isnull=True)),
                name="lawful_disclosure_duty_end",
            ),
        ]

    def __str__(self) -> str:
        return f"Disclosure for demand #{self.demand_id}"


@no_personal_data("Published counts of lawful demands per year, with no customer details.")
class TransparencyReport(models.Model):
    """One year's counts of demands by instrument and outcome, as published on the public page.

    The counts are frozen when staff publish, so the page shows what was published."""

    year = models.PositiveIntegerField(unique=True)
    counts = models.JSONField(help_text="{instrument: {complied, partly, refused}}")
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    published_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-year"]
        permissions = [("publish_transparency_report", "Can publish the transparency report")]

    def __str__(self) -> str:
        return f"Transparency report {self.year}"
