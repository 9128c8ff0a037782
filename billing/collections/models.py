"""Collections' records: the reminder schedule and what it sent, pauses, the reference
rates and late-payment charges, disputes, letters of claim and replies, collection
agencies, handoffs and write-offs (docs/collections.md).

They belong to the billing app but live here, registered by ``BillingConfig.ready``, so
``billing.models`` never imports the layer that uses it. Written only through the
services of ``billing.collections``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from billing.models import Invoice, account_retention
from core.registry import (
    TAX_RECORDS_RULE,
    Category,
    Erasure,
    LawfulBasis,
    no_personal_data,
    personal_data,
)

CLAIMS_KEPT = Erasure.keep(
    f"Records of a debt and its recovery are kept for 6 years, as the accounts they belong to ({TAX_RECORDS_RULE}), "
    "and while a claim could be brought (Limitation Act 1980 s.5)."
)


@no_personal_data("Collections policy: whether statutory charges apply, notice periods.")
class CollectionsSettings(models.Model):
    """How the provider collects: one row, kept by billing staff; the defaults apply until saved."""

    late_payment_charges = models.BooleanField(
        "charge statutory late-payment interest and compensation",
        default=False,
        help_text="Business customers only (Late Payment of Commercial Debts (Interest) Act 1998): consumers never.",
    )
    suspension_notice_days = models.PositiveSmallIntegerField(
        default=7, help_text="Days between the notice of suspension for non-payment and the suspension."
    )

    class Meta:
        verbose_name = verbose_name_plural = "collections settings"
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="collections_settings_singleton")]

    def __str__(self) -> str:
        return "Collections settings"

    def save(self, *args, **kwargs) -> None:
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def current(cls) -> CollectionsSettings:
        return cls.objects.filter(pk=1).first() or cls()


@no_personal_data("The reminder schedule.")
class DunningStep(models.Model):
    """One step of the reminder schedule: an email this many days after a document's due
    date (negative: before it)."""

    days_after_due = models.SmallIntegerField(
        unique=True, help_text="e.g. -3 for three days before the due date, 0 on it, 7 a week after."
    )
    name = models.CharField(max_length=100, help_text="Shown to staff and in the email, e.g. 'Second reminder'.")
    is_final = models.BooleanField(
        "final notice", default=False, help_text="The last notice before a letter of claim or letter before action."
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["days_after_due"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.days_after_due < -30:
            raise ValidationError({"days_after_due": "A reminder more than 30 days before the due date is not one."})


@personal_data(
    description="Payment reminders we sent you, for which invoice and when.",
    categories=[Category.FINANCIAL, Category.CORRESPONDENCE],
    fields=["sent_at"],
    context=["invoice__number", "step__name", "skipped"],
    purpose="Remind you of invoices falling due and overdue.",
    lawful_basis=LawfulBasis.CONTRACT,
    customer_path="invoice__customer",
    retention=account_retention("invoice__customer"),
    erasure=CLAIMS_KEPT,
)
class ReminderSent(models.Model):
    """A step done for a document: once, whatever reruns (the unique constraint)."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="reminders")
    step = models.ForeignKey(DunningStep, on_delete=models.PROTECT, related_name="+")
    sent_at = models.DateTimeField(default=timezone.now)
    message = models.ForeignKey("accounts.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    skipped = models.BooleanField(
        default=False, help_text="The step's day passed while a later step was due: it is never sent late."
    )

    class Meta:
        ordering = ["sent_at"]
        constraints = [models.UniqueConstraint(fields=["invoice", "step"], name="one_reminder_per_document_step")]

    def __str__(self) -> str:
        return f"{self.step} for {self.invoice}"


@personal_data(
    description="Pauses of payment reminders and charges on your account, with the reason.",
    categories=[Category.FINANCIAL],
    fields=["reason", "created_at", "ended_at"],
    purpose="Hold back reminders while we agree a way forward with you.",
    lawful_basis=LawfulBasis.CONTRACT,
    customer_path="customer",
    retention=account_retention(),
    erasure=CLAIMS_KEPT,
)
class CollectionsPause(models.Model):
    customer = models.ForeignKey("accounts.Customer", on_delete=models.PROTECT, related_name="collection_pauses")
    reason = models.CharField(max_length=300)
    until = models.DateField(null=True, blank=True, help_text="Empty: until staff end it.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Reminders paused for {self.customer}: {self.reason}"

    @classmethod
    def active_q(cls, today: dt.date) -> Q:
        return Q(ended_at__isnull=True) & (Q(until__isnull=True) | Q(until__gte=today))


@no_personal_data("The Bank of England's Bank Rate history.")
class ReferenceRate(models.Model):
    """Bank of England Bank Rate from a date: the Late Payment Act's reference rate is the
    rate in force on 30 June or 31 December."""

    valid_from = models.DateField(unique=True)
    rate = models.DecimalField(max_digits=5, decimal_places=2, help_text="Percent, e.g. 4.25.")
    source = models.CharField(max_length=200, default="Bank of England, Official Bank Rate history")

    class Meta:
        ordering = ["-valid_from"]

    def __str__(self) -> str:
        return f"{self.rate}% from {self.valid_from:%-d %B %Y}"


@no_personal_data("Confirmations that the Bank Rate table is complete up to a day.")
class ReferenceRateCheck(models.Model):
    """Someone compared the reference rates with the Bank of England's published history and
    found every change up to ``checked_to`` recorded. Interest on a debt whose reference day
    (30 June or 31 December) is later than the latest check is not worked out: a missing
    change would make it wrong. Added through ``billing.collections.rates.confirm_rates``;
    never edited or deleted."""

    checked_to = models.DateField(
        unique=True, help_text="The table holds every Bank Rate change up to and including this day."
    )
    source = models.CharField(max_length=300, help_text="What it was checked against, and what it said.")
    checked_at = models.DateTimeField(default=timezone.now, editable=False)
    checked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )

    class Meta:
        ordering = ["-checked_to"]
        verbose_name = "reference rate check"

    def __str__(self) -> str:
        return f"Bank Rate checked up to {self.checked_to:%-d %B %Y}"


@personal_data(
    description="Late-payment interest and compensation we charged you, or waived, per invoice.",
    categories=[Category.FINANCIAL],
    fields=["created_at"],
    context=["debt__number", "claim__number", "principal", "interest", "compensation", "interest_from", "interest_to"],
    purpose="Claim what the Late Payment of Commercial Debts (Interest) Act 1998 allows.",
    lawful_basis=LawfulBasis.LEGAL_OBLIGATION,
    customer_path="debt__customer",
    retention=account_retention("debt__customer"),
    erasure=CLAIMS_KEPT,
)
class LatePaymentCharge(models.Model):
    """What one late-payment claim charged on one debt: interest for a span of days and,
    once per debt, the fixed-sum compensation."""

    claim = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="late_payment_charges")
    debt = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="late_payment_charged")
    principal = models.DecimalField(max_digits=14, decimal_places=2)
    annual_rate = models.DecimalField(max_digits=5, decimal_places=2)
    reference_rate = models.DecimalField(max_digits=5, decimal_places=2)
    reference_day = models.DateField()
    interest_from = models.DateField()
    interest_to = models.DateField()
    interest = models.DecimalField(max_digits=14, decimal_places=2)
    compensation = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0.00"))
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["debt", "interest_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["debt"], condition=Q(compensation__gt=0), name="compensation_once_per_debt"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.claim} on {self.debt}"


@personal_data(
    description="Late-payment charges we decided not to claim, and why.",
    categories=[Category.FINANCIAL],
    fields=["reason", "created_at"],
    context=["invoice__number"],
    purpose="Record a decision not to claim late-payment charges.",
    lawful_basis=LawfulBasis.LEGITIMATE_INTERESTS,
    customer_path="invoice__customer",
    retention=account_retention("invoice__customer"),
    erasure=CLAIMS_KEPT,
)
class LatePaymentWaiver(models.Model):
    invoice = models.OneToOneField(Invoice, on_delete=models.CASCADE, related_name="late_payment_waiver")
    reason = models.CharField(max_length=300)
    waived_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Charges waived on {self.invoice}"


class DisputeQuerySet(models.QuerySet):
    def open(self) -> DisputeQuerySet:
        return self.filter(status=Dispute.Status.OPEN)


@personal_data(
    description="Your disputes of invoices: which lines, why, and how we decided.",
    categories=[Category.FINANCIAL, Category.CORRESPONDENCE],
    fields=["reason", "decision", "raised_at", "decided_at"],
    context=["invoice__number", "status"],
    person_path="raised_by",
    purpose="Hear and decide a dispute over what we billed.",
    lawful_basis=LawfulBasis.CONTRACT,
    customer_path="invoice__customer",
    retention=account_retention("invoice__customer"),
    erasure=CLAIMS_KEPT,
)
class Dispute(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved with a credit note"
        REJECTED = "rejected", "Rejected"

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="disputes")
    lines = models.ManyToManyField("billing.InvoiceLine", related_name="disputes", blank=True)
    reason = models.TextField()
    raised_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    raised_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    decision = models.TextField(blank=True, help_text="The credit's reason, or the reasons for rejecting.")
    credit_note = models.ForeignKey(
        Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="resolved_disputes"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    # Never shown to the customer: the hold keeping their records while the dispute lasts.
    hold = models.ForeignKey("privacy.LegalHold", null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    objects = DisputeQuerySet.as_manager()

    class Meta:
        ordering = ["-raised_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["invoice"], condition=Q(status="open"), name="one_open_dispute_per_document"
            )
        ]

    def __str__(self) -> str:
        return f"Dispute of {self.invoice}"


@personal_data(
    description="Files you attached to a dispute.",
    categories=[Category.CORRESPONDENCE],
    fields=["filename", "file"],
    purpose="Evidence for a dispute over what we billed.",
    lawful_basis=LawfulBasis.CONTRACT,
    customer_path="dispute__invoice__customer",
    retention=account_retention("dispute__invoice__customer"),
    erasure=CLAIMS_KEPT,
)
class DisputeAttachment(models.Model):
    dispute = models.ForeignKey(Dispute, on_delete=models.CASCADE, related_name="attachments")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(verbose_name="SHA-256", max_length=64)
    file = models.CharField(max_length=500, help_text="Name in private storage.")

    def __str__(self) -> str:
        return self.filename


@personal_data(
    description="Letters of claim and letters before action we sent you, and their posting.",
    categories=[Category.FINANCIAL, Category.IDENTITY, Category.CONTACT],
    fields=["pdf", "dated", "posted_on"],
    context=["kind", "amount", "currency"],
    purpose="Give notice of a debt before recovery, as the pre-action rules require.",
    lawful_basis=LawfulBasis.LEGITIMATE_INTERESTS,
    customer_path="customer",
    retention=account_retention(),
    erasure=CLAIMS_KEPT,
)
class Letter(models.Model):
    class Kind(models.TextChoices):
        LETTER_OF_CLAIM = "claim", "Letter of Claim (Pre-Action Protocol for Debt Claims)"
        BEFORE_ACTION = "before_action", "Letter before action (Practice Direction on Pre-Action Conduct)"

    customer = models.ForeignKey("accounts.Customer", on_delete=models.PROTECT, related_name="collection_letters")
    kind = models.CharField(max_length=15, choices=Kind.choices)
    invoices = models.ManyToManyField(Invoice, related_name="collection_letters")
    dated = models.DateField()
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    pdf = models.CharField(verbose_name="PDF", max_length=500, blank=True)
    pdf_sha256 = models.CharField(verbose_name="SHA-256 of the PDF", max_length=64, blank=True)
    message = models.ForeignKey("accounts.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    posted_on = models.DateField(null=True, blank=True, help_text="The day staff posted it (first class).")
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-dated", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display().split(' (')[0]} of {self.dated:%-d %B %Y} to {self.customer}"

    @property
    def reply_days(self) -> int:
        return 30 if self.kind == self.Kind.LETTER_OF_CLAIM else 14


# The Financial Statement's monthly headings (as on the paper form), by field.
INCOME_FIELDS = [
    "income_earnings", "income_partner_earnings", "income_self_employed", "income_benefits",
    "income_pensions", "income_maintenance", "income_contributions", "income_other",
]  # fmt: skip
SPENDING_FIELDS = [
    "spending_home", "spending_communications", "spending_food", "spending_travel",
    "spending_personal", "spending_savings", "spending_priority_debts", "spending_other",
]  # fmt: skip

# The paper Reply Form's and Financial Statement's sections, by field: the online form
# and the admin's reply page follow them.
REPLY_SECTIONS = [
    ("Section 1: do you owe the debt?", ["response", "amount_accepted", "dispute_reason"]),
    ("Section 2: paying", ["payment", "paid_on", "paid_amount", "paid_how", "pay_in_full_by",
                           "instalment_amount", "instalment_frequency", "instalments_from", "payment_offer"]),
    ("Section 3: debt advice and more time", ["seeking_advice", "advice_from", "advice_appointment",
                                              "needs_more_time", "more_time_until", "more_time_why"]),
    ("Section 4: documents and information", ["wants_documents", "documents_agreement", "documents_statement",
                                              "documents_invoices", "documents_wanted"]),
    ("Section 5: anything else", ["notes", "contact_details"]),
    ("Financial Statement: your household", ["household_adults", "household_children", "household_vehicles",
                                             "housing"]),
    ("Financial Statement: income each month", INCOME_FIELDS),
    ("Financial Statement: spending each month", SPENDING_FIELDS),
    ("Financial Statement: other debts, savings and assets", ["other_debts", "savings_assets"]),
]  # fmt: skip


def _money(verbose_name: str, **kwargs) -> models.DecimalField:
    return models.DecimalField(
        verbose_name, max_digits=12, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(Decimal("0"), "Amounts cannot be negative.")], **kwargs,
    )  # fmt: skip


@personal_data(
    description="Your replies to a letter of claim, with your financial statement.",
    categories=[Category.FINANCIAL, Category.CORRESPONDENCE],
    fields=[
        "submitted_at",
        "response",
        "amount_accepted",
        "dispute_reason",
        "payment",
        "paid_on",
        "paid_amount",
        "paid_how",
        "pay_in_full_by",
        "instalment_amount",
        "instalment_frequency",
        "instalments_from",
        "payment_offer",
        "seeking_advice",
        "advice_from",
        "advice_appointment",
        "needs_more_time",
        "more_time_until",
        "more_time_why",
        "wants_documents",
        "documents_agreement",
        "documents_statement",
        "documents_invoices",
        "documents_wanted",
        "notes",
        "contact_details",
        "household_adults",
        "household_children",
        "household_vehicles",
        "housing",
        *INCOME_FIELDS,
        "monthly_income",
        *SPENDING_FIELDS,
        "monthly_outgoings",
        "other_debts",
        "savings_assets",
        "answered_on",
    ],
    person_path="submitted_by",
    purpose="Hear your answer to a letter of claim before any recovery.",
    lawful_basis=LawfulBasis.LEGITIMATE_INTERESTS,
    customer_path="letter__customer",
    retention=account_retention("letter__customer"),
    erasure=CLAIMS_KEPT,
)
class LetterReply(models.Model):
    """The Reply Form and Financial Statement, completed in the portal: the same questions
    as the paper forms enclosed with the Letter of Claim."""

    class Response(models.TextChoices):
        OWE_ALL = "owe_all", "I agree I owe the debt"
        OWE_PART = "owe_part", "I agree I owe part of the debt"
        DONT_KNOW = "dont_know", "I do not know whether I owe the debt"
        DISPUTE = "dispute", "I do not owe the debt"

    class Payment(models.TextChoices):
        ALREADY_PAID = "paid", "I have already paid the debt"
        IN_FULL = "in_full", "I will pay the amount I owe in full"
        INSTALMENTS = "instalments", "I want to pay by instalments"

    class Frequency(models.TextChoices):
        WEEK = "week", "each week"
        MONTH = "month", "each month"

    letter = models.ForeignKey(Letter, on_delete=models.PROTECT, related_name="replies")
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    submitted_at = models.DateTimeField(default=timezone.now)
    # Section 1: do you owe the debt?
    response = models.CharField(max_length=10, choices=Response.choices)
    amount_accepted = _money("The amount I accept I owe")
    dispute_reason = models.TextField("Why I do not owe it", blank=True)
    # Section 2: paying.
    payment = models.CharField("Paying", max_length=12, choices=Payment.choices, blank=True)
    paid_on = models.DateField("Paid on", null=True, blank=True)
    paid_amount = _money("Amount paid")
    paid_how = models.CharField("How I paid", max_length=200, blank=True)
    pay_in_full_by = models.DateField("I will pay in full on or before", null=True, blank=True)
    instalment_amount = _money("Instalments of")
    instalment_frequency = models.CharField("How often", max_length=5, choices=Frequency.choices, blank=True)
    instalments_from = models.DateField("Instalments starting on", null=True, blank=True)
    payment_offer = models.CharField("Anything more about my offer", max_length=300, blank=True)
    # Section 3: debt advice and more time.
    seeking_advice = models.BooleanField("I am getting debt advice", default=False)
    advice_from = models.CharField("Debt advice from", max_length=200, blank=True)
    advice_appointment = models.DateField("Appointment on (if you have one)", null=True, blank=True)
    needs_more_time = models.BooleanField("I need more time to get debt advice, or to reply", default=False)
    more_time_until = models.DateField("I need until", null=True, blank=True)
    more_time_why = models.TextField("Because", blank=True)
    # Section 4: documents and information.
    wants_documents = models.BooleanField("I need documents", default=False)
    documents_agreement = models.BooleanField("The agreement", default=False)
    documents_statement = models.BooleanField("The statement of account", default=False)
    documents_invoices = models.BooleanField("The invoices", default=False)
    documents_wanted = models.TextField("Other documents or information", blank=True)
    # Section 5: anything else, and how to reach the customer.
    notes = models.TextField("Anything else", blank=True)
    contact_details = models.TextField("Contact details (address, telephone) if not as on the account", blank=True)
    # The Financial Statement.
    household_adults = models.PositiveSmallIntegerField("Adults in the household", null=True, blank=True)
    household_children = models.CharField("Children in the household, and their ages", max_length=200, blank=True)
    household_vehicles = models.PositiveSmallIntegerField("Vehicles in the household", null=True, blank=True)
    housing = models.CharField("Your housing (owner, tenant, living with family, other)", max_length=200, blank=True)
    income_earnings = _money("Earnings from work, after tax (yours)")
    income_partner_earnings = _money("Earnings from work, after tax (a partner's)")
    income_self_employed = _money("Self-employed income, after tax and business costs")
    income_benefits = _money("Benefits and tax credits")
    income_pensions = _money("Pensions (state, work and private)")
    income_maintenance = _money("Maintenance or child support received")
    income_contributions = _money("Contributions from lodgers or others living with you")
    income_other = _money("Other income")
    monthly_income = _money("Total monthly income")
    spending_home = _money("Home and contents")
    spending_communications = _money("Communications and leisure")
    spending_food = _money("Food and housekeeping")
    spending_travel = _money("Travel")
    spending_personal = _money("Personal costs")
    spending_savings = _money("Savings")
    spending_priority_debts = _money("Priority debts")
    spending_other = _money("Other spending")
    monthly_outgoings = _money("Total monthly spending")
    other_debts = models.TextField("Other debts (who, how much, what you pay each month)", blank=True)
    savings_assets = models.TextField("Savings and assets", blank=True)
    answered_on = models.DateField(
        null=True, blank=True, help_text="The day we sent the documents asked for, or answered the reply."
    )
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The form's own one-time key: the same form sent twice (a double click, a resent
    # request) is one reply.
    submission_key = models.CharField(max_length=32, blank=True, default="", editable=False)

    class Meta:
        ordering = ["-submitted_at"]
        verbose_name_plural = "letter replies"
        constraints = [
            models.UniqueConstraint(
                fields=["letter", "submission_key"], condition=~Q(submission_key=""), name="letter_reply_sent_once"
            )
        ]

    def __str__(self) -> str:
        return f"Reply to {self.letter}"

    @property
    def holds_handoff(self) -> bool:
        """Asks for documents, or for time: the Protocol's wait runs from our answer."""
        return self.wants_documents or self.seeking_advice or self.needs_more_time

    @property
    def documents_list(self) -> list[str]:
        named = [
            label
            for field, label in (
                ("documents_agreement", "the agreement"),
                ("documents_statement", "the statement of account"),
                ("documents_invoices", "the invoices"),
            )
            if getattr(self, field)
        ]
        return named + ([self.documents_wanted.strip()] if self.documents_wanted.strip() else [])


@no_personal_data("Collection agencies and solicitors: businesses the provider instructs.")
class CollectionAgency(models.Model):
    class Kind(models.TextChoices):
        AGENCY = "agency", "Debt collection agency"
        SOLICITOR = "solicitor", "Solicitors"

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    address = models.TextField()
    email = models.EmailField()
    phone = models.CharField(max_length=40, blank=True)
    reference = models.CharField(max_length=100, help_text="Our account or client reference with them.")
    payment_instructions = models.TextField(
        blank=True, help_text="How a customer pays them (shown to the customer once the debt is passed to them)."
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "collection agencies"

    def __str__(self) -> str:
        return self.name


@personal_data(
    description="Debts we passed to a collection agency or solicitors, and what happened after.",
    categories=[Category.FINANCIAL],
    fields=["created_at", "pack_sha256", "recalled_at", "settled_at", "note"],
    context=["agency__name", "status", "amount", "currency"],
    purpose="Recover debts that were not paid after notice.",
    lawful_basis=LawfulBasis.LEGITIMATE_INTERESTS,
    customer_path="customer",
    retention=account_retention(),
    erasure=CLAIMS_KEPT,
)
class Handoff(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "With the agency"
        RECALLED = "recalled", "Recalled"
        SETTLED = "settled", "Settled"

    customer = models.ForeignKey("accounts.Customer", on_delete=models.PROTECT, related_name="handoffs")
    agency = models.ForeignKey(CollectionAgency, on_delete=models.PROTECT, related_name="handoffs")
    invoices = models.ManyToManyField(Invoice, related_name="handoffs")
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    pack = models.CharField(max_length=500, help_text="The handoff pack in private storage.")
    pack_sha256 = models.CharField(verbose_name="SHA-256 of the pack", max_length=64)
    disclosure = models.ForeignKey("privacy.DisclosureEntry", on_delete=models.PROTECT, related_name="+")
    hold = models.ForeignKey("privacy.LegalHold", on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    recalled_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Debt of {self.customer} passed to {self.agency} on {timezone.localdate(self.created_at):%-d %B %Y}"


@personal_data(
    description="What happened to a debt after it was passed on: payments, recall, settlement.",
    categories=[Category.FINANCIAL],
    fields=["on", "note"],
    context=["kind", "amount"],
    purpose="Keep the account true after a debt was passed on.",
    lawful_basis=LawfulBasis.LEGITIMATE_INTERESTS,
    customer_path="handoff__customer",
    retention=account_retention("handoff__customer"),
    erasure=CLAIMS_KEPT,
)
class HandoffEvent(models.Model):
    class Kind(models.TextChoices):
        PAYMENT = "payment", "Payment collected by the agency"
        RECALL = "recall", "Recalled from the agency"
        SETTLEMENT = "settlement", "Settled"

    handoff = models.ForeignKey(Handoff, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    on = models.DateField()
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    payment = models.ForeignKey("billing.Payment", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    note = models.CharField(max_length=300, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["on", "pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.on:%-d %B %Y}"


@personal_data(
    description="Debts we wrote off, and why.",
    categories=[Category.FINANCIAL],
    fields=["reason", "written_off_on"],
    context=["invoice__number", "amount"],
    purpose="Keep accounts that show debts we no longer expect to recover.",
    lawful_basis=LawfulBasis.LEGAL_OBLIGATION,
    customer_path="invoice__customer",
    retention=account_retention("invoice__customer"),
    erasure=CLAIMS_KEPT,
)
class WriteOff(models.Model):
    invoice = models.OneToOneField(Invoice, on_delete=models.PROTECT, related_name="write_off")
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    reason = models.CharField(max_length=300)
    written_off_on = models.DateField()
    written_off_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.invoice} written off"

    @property
    def bad_debt_relief_from(self) -> dt.date | None:
        """VAT bad-debt relief: claimable once the debt is 6 months overdue and written off."""
        return self.invoice.due_on + relativedelta(months=6) if self.invoice.due_on else None


@personal_data(
    description="Notices that your services would be suspended for non-payment, and what followed.",
    categories=[Category.FINANCIAL, Category.SERVICE],
    fields=["noticed_at", "suspend_on", "suspended_at", "restored_at", "cancelled_at"],
    purpose="Warn you before suspending services for non-payment, and restore them on payment.",
    lawful_basis=LawfulBasis.CONTRACT,
    customer_path="customer",
    retention=account_retention(),
    erasure=CLAIMS_KEPT,
)
class SuspensionNotice(models.Model):
    customer = models.ForeignKey("accounts.Customer", on_delete=models.PROTECT, related_name="suspension_notices")
    invoices = models.ManyToManyField(Invoice, related_name="+")
    noticed_at = models.DateTimeField(default=timezone.now)
    suspend_on = models.DateField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    suspended_at = models.DateTimeField(null=True, blank=True)
    restored_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-noticed_at"]

    def __str__(self) -> str:
        return f"Suspension notice to {self.customer} for {self.suspend_on:%-d %B %Y}"
