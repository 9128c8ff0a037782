"""Billing records: number series, the catalogue and subscriptions, invoices, credit notes
and payment requests with their lines, payments, their allocations, refunds, billing runs
and billing's own settings. Written only through ``billing.issuing``,
``billing.receivables`` and ``billing.workflows`` (docs/architecture.md)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Case, CharField, DecimalField, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone
from stdnum import bic, iban
from stdnum.exceptions import ValidationError as NumberError

from accounts import roles
from accounts.correspondence.models import Message
from accounts.models import validate_currency
from billing.money import to_money
from billing.vat import VatCategory
from core.registry import (
    TAX_RECORDS_RULE,
    Category,
    Erasure,
    LawfulBasis,
    Retention,
    no_personal_data,
    personal_data,
)

# Money records are kept per record: 6 years from the end of the financial year each one
# belongs to (its issue, payment or refund date), which is what the VAT and HMRC
# record-keeping rules ask (TAX_RECORDS_RULE); the Companies Act 2006 s.388 minimum for a
# private company's accounting records is 3 years, shorter, so not the rule that decides.
# Records that settle each other go together (``kept_with``): deleting an old invoice but
# not the payment that settled it (or the reverse) would change the balance and conjure
# credit the next run spends. Money still on an open account (an invoice with something
# due, a payment not wholly allocated, a refund, a charge not yet billed) is kept while
# the account is open (``kept_while``): it is what the customer owes or has in credit.
OPEN_ACCOUNT_REASON = "money still on an open account: what the customer owes or has in credit"


def accounting_retention(
    counted_from: str,
    *,
    record: str,
    kept_with: tuple[str, ...] = (),
    kept_while=None,
    otherwise: str | None = None,
) -> Retention:
    together = " together with the records it settles or that settle it," if kept_with else ""
    still = " Kept while the account is open if it is money still on the account." if kept_while else ""
    return Retention(
        counted_from=counted_from,
        counted_from_otherwise=otherwise,
        years=6,
        from_financial_year_end=True,
        kept_with=kept_with,
        kept_while=kept_while,
        kept_while_reason=OPEN_ACCOUNT_REASON if kept_while else "",
        description=f"Kept 6 years from the end of the financial year of its {record},{together} as the VAT and "
        f"HMRC record-keeping rules require ({TAX_RECORDS_RULE}).{still}",
    )


def account_retention(customer: str = "customer") -> Retention:
    """For records that follow a customer's debts and usage rather than one document of
    their own (reminders, disputes, letters, usage samples): kept while the account is
    open, then 6 years from the end of the financial year in which it closed."""
    return Retention(
        counted_from=f"{customer}__closed_at",
        years=6,
        from_financial_year_end=True,
        description="Kept while the account is open, then 6 years from the end of the financial year in which "
        f"it closed, with the billing records they explain (VAT and HMRC record-keeping rules: {TAX_RECORDS_RULE}).",
    )


def _open_account(rows: models.QuerySet, customer: str = "customer") -> models.QuerySet:
    return rows.filter(**{f"{customer}__closed_at__isnull": True})


def documents_still_due(rows: models.QuerySet) -> models.QuerySet:
    """Invoices and payment requests with money still due on an open account."""
    return _open_account(rows).with_balance().exclude(balance=0)


def payments_not_wholly_allocated(rows: models.QuerySet) -> models.QuerySet:
    """Payments on an open account with money not allocated to any document (account credit)."""
    allocated = (
        PaymentAllocation.objects.filter(payment=OuterRef("pk"))
        .order_by()
        .values("payment")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return (
        _open_account(rows)
        .annotate(allocated_total=Coalesce(Subquery(allocated, output_field=_MONEY), _ZERO))
        .exclude(amount=models.F("allocated_total"))
    )


def refunds_on_open_accounts(rows: models.QuerySet) -> models.QuerySet:
    """Refunds on an open account: they count against the account's credit."""
    return _open_account(rows)


def charges_not_yet_billed(rows: models.QuerySet) -> models.QuerySet:
    """One-off charges on an open account that no invoice has billed yet."""
    return _open_account(rows).filter(invoice_line__isnull=True)


@no_personal_data("Counters and formats of document numbers.")
class NumberSeries(models.Model):
    """A gap-free counter for one series of documents (invoices, credit notes).

    VAT Regulations 1995 reg 14(1)(b): a unique sequential number. ``billing.numbering``
    takes numbers under a row lock inside the issuing transaction, so a rolled-back issue
    gives its number back and two concurrent issues never share one.
    """

    code = models.SlugField(max_length=20, unique=True, help_text="e.g. INV or CN")
    format = models.CharField(
        max_length=100,
        default="{code}-{year}-{number:06d}",
        help_text="Python format with {code}, {year} and {number}, e.g. INV-{year}-{number:06d}.",
    )
    next_number = models.PositiveBigIntegerField(default=1)
    last_issued_on = models.DateField(
        null=True,
        blank=True,
        editable=False,
        help_text="Date of issue of the latest document numbered in this series: a later number is never "
        "dated before it.",
    )

    class Meta:
        verbose_name_plural = "number series"

    def __str__(self) -> str:
        return self.code

    def save(self, *args, **kwargs) -> None:
        stored = NumberSeries.objects.filter(pk=self.pk).values_list("next_number", flat=True).first()
        if stored is not None and stored != self.next_number and self.has_issued():
            # Lowering it would repeat numbers; raising it would leave a gap (VAT reg 14(1)(b)).
            # billing.numbering moves it with an UPDATE under the row lock, never through here.
            raise ValidationError(f"Documents are numbered in series {self.code}: it continues from {stored}.")
        super().save(*args, **kwargs)

    def clean(self) -> None:
        try:
            first, second = (self.format.format(code=self.code, year=2026, number=n) for n in (1, 2))
        except (KeyError, ValueError, IndexError, AttributeError, TypeError) as exc:
            raise ValidationError(
                {"format": f"Not a usable format: {exc}. Use {{code}}, {{year}}, {{number}}."}
            ) from None
        if first == second:
            raise ValidationError({"format": "Put {number} in the format, or every document gets the same number."})
        if len(self.format.format(code=self.code, year=9999, number=max(self.next_number, 1) * 1000)) > 40:
            raise ValidationError({"format": "Numbers in this format would be longer than 40 characters."})

    def has_issued(self) -> bool:
        """Whether a document has taken a number of this series (then only issuing moves it)."""
        kinds = [kind for kind, code in SERIES.items() if code == self.code]
        return Invoice.objects.filter(kind__in=kinds).exclude(status=Invoice.Status.DRAFT).exists()

    def preview(self, issued_on=None) -> str:
        """The number the next document in this series will get."""
        year = (issued_on or timezone.localdate()).year
        return self.format.format(code=self.code, year=year, number=self.next_number)


# ---------------------------------------------------------------------------------------
# Catalogue and subscriptions
# ---------------------------------------------------------------------------------------


class BillingPeriod(models.TextChoices):
    MONTHLY = "monthly", "Monthly"
    QUARTERLY = "quarterly", "Quarterly"
    ANNUAL = "annual", "Annual"

    @property
    def months(self) -> int:
        return {"monthly": 1, "quarterly": 3, "annual": 12}[self.value]


@no_personal_data("The provider's catalogue: product names, not people.")
class Product(models.Model):
    """Something we sell (a VPS size, a dedicated server, a rack), priced by its plans:
    one per billing period and currency, e.g. £12.50 monthly or £135 annually."""

    name = models.CharField(max_length=200, unique=True)
    description = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


@no_personal_data("The provider's catalogue: product names, not people.")
class Plan(models.Model):
    """A price for one billing period (and currency), with an optional setup fee: usually
    one of a product's prices. A subscription is on a plan; to change a price, add a new
    plan and retire the old one (its subscribers keep their price until moved)."""

    product = models.ForeignKey(
        Product,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="plans",
        help_text="The product this is a price of (empty for a one-of-a-kind plan).",
    )
    name = models.CharField(max_length=200, blank=True, help_text="Empty: the product's name.")
    description = models.CharField(max_length=300, blank=True)
    period = models.CharField(max_length=10, choices=BillingPeriod.choices, default=BillingPeriod.MONTHLY)
    currency = models.CharField(max_length=3, default="GBP")
    price = models.DecimalField(max_digits=12, decimal_places=2)
    setup_fee = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    vat_category = models.CharField(
        verbose_name="VAT category", max_length=10, choices=VatCategory.choices, default=VatCategory.STANDARD
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            # On sale, a product has one price per period and currency (retired plans keep theirs).
            models.UniqueConstraint(
                fields=["product", "period", "currency"],
                condition=Q(active=True) & Q(product__isnull=False),
                name="one_active_price_per_product_period_currency",
                violation_error_message="This product already has an active plan for that period and currency: "
                "retire it first (untick Active).",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_period_display().lower()})"

    def save(self, *args, **kwargs) -> None:
        if not self.name and self.product is not None:
            self.name = self.product.name
        super().save(*args, **kwargs)

    def clean(self) -> None:
        # ``self.product``, not ``product_id``: in the product's form it is not saved yet.
        if not self.name:
            if self.product is None:
                raise ValidationError({"name": "Give the plan a name, or choose the product it is a price of."})
            self.name = self.product.name


@personal_data(
    description="What you are subscribed to, from when and at what price.",
    categories=[Category.FINANCIAL, Category.SERVICE],
    fields=["started_on", "ended_on"],
    context=["service__name", "plan__name", "plan__period", "plan__currency", "plan__price", "billed_until"],
    purpose="Bill the services you ordered.",
    lawful_basis=LawfulBasis.CONTRACT,
    customer_path="service__customer",
    belongs_to=["service"],
    retention=accounting_retention(
        "ended_on", record="end", kept_with=("invoice_lines__invoice",), otherwise="service__customer__closed_at"
    ),
    erasure=Erasure.keep(f"Records of services billed are business records kept for 6 years ({TAX_RECORDS_RULE})."),
)
class Subscription(models.Model):
    """A customer's service billed on a plan from a start date (prorated when it starts or ends mid-period)."""

    service = models.ForeignKey("accounts.Service", on_delete=models.PROTECT, related_name="subscriptions")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    started_on = models.DateField()
    ended_on = models.DateField(null=True, blank=True)
    billed_until = models.DateField(null=True, blank=True, help_text="Periods up to this date are invoiced.")
    setup_fee_invoiced = models.BooleanField(default=False)

    class Meta:
        ordering = ["service", "started_on"]

    def __str__(self) -> str:
        return f"{self.service} on {self.plan}"


@personal_data(
    description="One-off charges added to your account by our staff.",
    categories=[Category.FINANCIAL],
    fields=["description", "created_at"],
    context=["quantity", "unit_price", "vat_category"],
    purpose="Bill one-off work you asked for.",
    lawful_basis=LawfulBasis.CONTRACT,
    customer_path="customer",
    belongs_to=["invoice_line"],
    retention=accounting_retention(
        "created_at", record="date", kept_with=("invoice_line__invoice",), kept_while=charges_not_yet_billed
    ),
    erasure=Erasure.keep(f"Business records kept for 6 years ({TAX_RECORDS_RULE})."),
)
class OneOffCharge(models.Model):
    customer = models.ForeignKey("accounts.Customer", on_delete=models.PROTECT, related_name="one_off_charges")
    description = models.CharField(max_length=300)
    quantity = models.DecimalField(max_digits=12, decimal_places=3, default=1)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    vat_category = models.CharField(
        verbose_name="VAT category", max_length=10, choices=VatCategory.choices, default=VatCategory.STANDARD
    )
    created_at = models.DateTimeField(default=timezone.now)
    invoice_line = models.OneToOneField(
        "billing.InvoiceLine", null=True, blank=True, on_delete=models.PROTECT, related_name="one_off_charge"
    )

    def __str__(self) -> str:
        return self.description


# ---------------------------------------------------------------------------------------
# Invoices and credit notes
# ---------------------------------------------------------------------------------------


_MONEY = DecimalField(max_digits=14, decimal_places=2)
_ZERO = Value(Decimal("0.00"), output_field=_MONEY)


class InvoiceQuerySet(models.QuerySet):
    def visible_to(self, membership) -> InvoiceQuerySet:
        """Issued documents of the person's current customer (billing contacts and owners only)."""
        if membership is None or not membership.can(roles.Action.VIEW_BILLING):
            return self.none()
        return self.filter(customer=membership.customer).exclude(status=Invoice.Status.DRAFT)

    def overdue(self, today=None) -> InvoiceQuerySet:
        """Issued or part-paid invoices and payment requests past their due date (see ``Invoice.is_overdue``)."""
        return self.filter(
            status__in=(Invoice.Status.ISSUED, Invoice.Status.PART_PAID),
            kind__in=Invoice.PAYABLE_KINDS,
            due_on__lt=today or timezone.localdate(),
        )

    def posted(self) -> InvoiceQuerySet:
        """Documents on the account's books: issued, whatever has been paid or credited since."""
        return self.filter(status__in=Invoice.POSTED_STATUSES)

    def open(self) -> InvoiceQuerySet:
        """Documents still asking to be paid: issued or part-paid VAT invoices and payment requests."""
        return self.filter(
            kind__in=Invoice.PAYABLE_KINDS,
            status__in=(Invoice.Status.ISSUED, Invoice.Status.PART_PAID),
        )

    def with_balance(self) -> InvoiceQuerySet:
        """Each document with ``allocated`` (what payments settled of it), ``credited`` (what
        credit notes took off it) and ``balance`` (what is still due), in one query.

        The one rule for what is due: a document's total less payments allocated to it and
        credit notes issued against it. Nothing is due on a draft, a credit note (it is
        credited, not owed), a cancelled document, or a paid payment request (its payment
        moved to the VAT invoice issued for it).
        """
        allocated = (
            PaymentAllocation.objects.filter(invoice=OuterRef("pk"))
            .order_by()
            .values("invoice")
            .annotate(total=Sum("amount"))
            .values("total")
        )
        credited = (
            Invoice.objects.filter(corrects=OuterRef("pk"), kind=Invoice.Kind.CREDIT_NOTE)
            .posted()
            .order_by()
            .values("corrects")
            .annotate(total=Sum("total_gross"))
            .values("total")
        )
        return self.annotate(
            allocated=Coalesce(Subquery(allocated, output_field=_MONEY), _ZERO),
            credited=Coalesce(Subquery(credited, output_field=_MONEY), _ZERO),
        ).annotate(
            balance=Case(
                When(
                    Q(status__in=(Invoice.Status.DRAFT, Invoice.Status.CANCELLED))
                    | Q(kind=Invoice.Kind.CREDIT_NOTE)
                    | Q(kind=Invoice.Kind.PRO_FORMA, status=Invoice.Status.PAID),
                    then=_ZERO,
                ),
                default=models.F("total_gross") - models.F("allocated") - models.F("credited"),
                output_field=_MONEY,
            )
        )


@personal_data(
    description="Invoices, credit notes and payment requests, with the name and address they were issued to.",
    categories=[Category.FINANCIAL, Category.IDENTITY, Category.CONTACT],
    fields=["buyer", "pdf", "reason"],
    context=[
        "kind",
        "number",
        "status",
        "issued_on",
        "tax_point",
        "due_on",
        "period_start",
        "period_end",
        "currency",
        "total_net",
        "total_vat",
        "total_gross",
        "corrects__number",
    ],
    purpose="Bill you and keep the VAT records the law requires.",
    lawful_basis=LawfulBasis.LEGAL_OBLIGATION,
    customer_path="customer",
    retention=accounting_retention(
        "issued_on",
        record="issue",
        kept_with=(
            "allocations__payment",
            "released_allocations__payment",
            "corrects",
            "corrections",
            "settles",
            "settled_by",
            "refunds",
        ),
        kept_while=documents_still_due,
        otherwise="customer__closed_at",  # a draft, never issued: from the account's closure
    ),
    erasure=Erasure.keep(f"VAT invoices and credit notes must be kept for 6 years ({TAX_RECORDS_RULE})."),
)
class Invoice(models.Model):
    """A VAT invoice, a credit note, or a pro-forma payment request. Immutable once issued.

    Written by ``billing.issuing``: drafts are built by the billing run or staff, then
    ``issue_invoice`` (the run: ``issue_locked`` on its own draft) numbers them, copies
    seller and buyer snapshots on and freezes them.
    """

    class Kind(models.TextChoices):
        INVOICE = "invoice", "VAT invoice"
        CREDIT_NOTE = "credit_note", "Credit note"
        PRO_FORMA = "pro_forma", "Payment request (not a VAT invoice)"
        # Statutory interest and compensation on a business customer's late payment: not a
        # supply, so not a VAT invoice and outside the scope of VAT (billing.collections).
        LATE_PAYMENT_CLAIM = "late_claim", "Late-payment claim"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ISSUED = "issued", "Issued"
        PART_PAID = "part_paid", "Part paid"
        PAID = "paid", "Paid"
        CANCELLED = "cancelled", "Cancelled"  # an invoice by credit note; a payment request withdrawn

    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.INVOICE)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT)
    customer = models.ForeignKey("accounts.Customer", on_delete=models.PROTECT, related_name="invoices")
    number = models.CharField(max_length=40, unique=True, null=True, blank=True)
    corrects = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="corrections",
        help_text="For a credit note: the invoice it corrects.",
    )
    settles = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="settled_by",
        limit_choices_to={"kind": "pro_forma"},
        help_text="For the VAT invoice issued on payment of a payment request: that request.",
    )
    reason = models.CharField(
        max_length=300, blank=True, help_text="For a credit note: why it was issued (printed on it)."
    )
    currency = models.CharField(max_length=3, default="GBP")
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    tax_point = models.DateField(null=True, blank=True)
    issued_on = models.DateField(null=True, blank=True)
    due_on = models.DateField(null=True, blank=True)
    seller = models.JSONField(default=dict, blank=True, help_text="Copied from provider details at issue.")
    buyer = models.JSONField(default=dict, blank=True, help_text="Copied from the customer at issue.")
    vat_rule = models.CharField(verbose_name="VAT rule", max_length=30, blank=True)
    vat_wording = models.CharField(verbose_name="VAT wording", max_length=300, blank=True)
    total_net = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    total_vat = models.DecimalField(verbose_name="total VAT", max_digits=14, decimal_places=2, default=0)
    total_gross = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    # Foreign currency: sterling totals at a stored rate, where UK VAT is due.
    gbp_rate = models.DecimalField(
        verbose_name="sterling rate",
        max_digits=14,
        decimal_places=6,
        null=True,
        blank=True,
        help_text="Pounds per unit of the invoice currency.",
    )
    gbp_rate_source = models.CharField(verbose_name="sterling rate source", max_length=200, blank=True)
    gbp_rate_date = models.DateField(verbose_name="sterling rate date", null=True, blank=True)
    total_net_gbp = models.DecimalField(
        verbose_name="total net in sterling", max_digits=14, decimal_places=2, null=True, blank=True
    )
    total_vat_gbp = models.DecimalField(
        verbose_name="total VAT in sterling", max_digits=14, decimal_places=2, null=True, blank=True
    )
    pdf = models.FileField(verbose_name="PDF", upload_to="billing/pdf/%Y/", max_length=255, blank=True)
    pdf_sha256 = models.CharField(verbose_name="SHA-256 of the PDF", max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = InvoiceQuerySet.as_manager()

    # After issue only payment state and the stored PDF may be set (once).
    MUTABLE_AFTER_ISSUE = frozenset({"status", "pdf", "pdf_sha256"})
    # On the account's books: issued, whatever has been paid or credited since.
    POSTED_STATUSES = (Status.ISSUED, Status.PART_PAID, Status.PAID, Status.CANCELLED)
    # Documents that ask to be paid.
    PAYABLE_KINDS = (Kind.INVOICE, Kind.PRO_FORMA, Kind.LATE_PAYMENT_CLAIM)
    # Documents that are debts on the account's books (a payment request is not).
    DEBIT_KINDS = (Kind.INVOICE, Kind.LATE_PAYMENT_CLAIM)

    class Meta:
        ordering = ["-issued_on", "-pk"]
        constraints = [
            # The billing run's idempotency: one invoice per customer per period, whoever runs it.
            models.UniqueConstraint(
                fields=["customer", "period_start"],
                condition=Q(kind="invoice") & Q(period_start__isnull=False),
                name="one_invoice_per_customer_period",
            ),
            # The same in pro-forma mode, for the run's payment requests (billing.proforma);
            # a cancelled request gives its period back to be billed again.
            models.UniqueConstraint(
                fields=["customer", "period_start"],
                condition=Q(kind="pro_forma") & Q(period_start__isnull=False) & ~Q(status="cancelled"),
                name="one_payment_request_per_customer_period",
            ),
            models.CheckConstraint(
                condition=Q(status="draft") | Q(number__isnull=False), name="issued_documents_have_numbers"
            ),
        ]

    def __str__(self) -> str:
        return self.number or f"Draft {self.get_kind_display().lower()} #{self.pk}"

    def save(self, *args, **kwargs) -> None:
        # The stored status decides, not this copy's: a stale or edited copy saying
        # "draft" must not overwrite an issued document.
        if self.pk and self._stored_status() not in (None, self.Status.DRAFT):
            update_fields = kwargs.get("update_fields")
            if self.status == self.Status.DRAFT:
                raise ValidationError("An issued document cannot go back to draft: issue a credit note instead.")
            if update_fields is None or not set(update_fields) <= self.MUTABLE_AFTER_ISSUE:
                raise ValidationError("An issued document cannot be changed: issue a credit note instead.")
            stored_pdf = Invoice.objects.filter(pk=self.pk).values_list("pdf", "pdf_sha256").get()
            if stored_pdf[0] and stored_pdf != (self.pdf.name or "", self.pdf_sha256):
                # What the customer was sent is the file every later download returns.
                raise ValidationError("An issued document's stored PDF is set once: it cannot be replaced or cleared.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if self.status != self.Status.DRAFT or self._stored_status() not in (None, self.Status.DRAFT):
            raise ValidationError("Issued documents are kept: cancel with a credit note.")
        return super().delete(*args, **kwargs)

    def _stored_status(self) -> str | None:
        return Invoice.objects.filter(pk=self.pk).values_list("status", flat=True).first()

    @property
    def is_overdue(self) -> bool:
        """Issued or part paid, and past its due date. Derived, not stored: an issued
        document's row changes only with payments, and overdue is a matter of today's date."""
        return (
            self.status in (self.Status.ISSUED, self.Status.PART_PAID)
            and self.kind != self.Kind.CREDIT_NOTE
            and self.due_on is not None
            and self.due_on < timezone.localdate()
        )

    @property
    def status_key(self) -> str:
        return "overdue" if self.is_overdue else self.status

    @property
    def display_status(self) -> str:
        return f"Overdue ({self.get_status_display().lower()})" if self.is_overdue else self.get_status_display()


# The number series each kind of document is numbered in (VAT reg 14(1)(b): one
# sequence per kind, so a credit note's number never leaves a gap among invoices).
SERIES = {
    Invoice.Kind.INVOICE: "INV",
    Invoice.Kind.CREDIT_NOTE: "CN",
    Invoice.Kind.PRO_FORMA: "PR",
    Invoice.Kind.LATE_PAYMENT_CLAIM: "LPC",
}


def document_emails() -> models.QuerySet:
    """The email of the document in the outer query, for a subquery on invoices.

    ``billing.delivery.email.send_document`` stores it with ``related=invoice``; the
    earliest such message is the document's own email.
    """
    return Message.objects.filter(
        direction=Message.Direction.OUTBOUND,
        template="invoice",  # not, say, the later notice that a payment request was cancelled
        related_type=ContentType.objects.get_for_model(Invoice),
        related_id=Cast(OuterRef("pk"), CharField()),
    ).order_by("created_at", "pk")


@no_personal_data("Lines of invoices: descriptions of services supplied.", belongs_to=["invoice"])
class InvoiceLine(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    description = models.CharField(max_length=300)
    quantity = models.DecimalField(max_digits=12, decimal_places=3, default=1)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    vat_category = models.CharField(
        verbose_name="VAT category", max_length=10, choices=VatCategory.choices, default=VatCategory.STANDARD
    )
    vat_rate = models.DecimalField(
        verbose_name="VAT rate",
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Percent; set from the VAT category when the document is issued (empty on a draft until then).",
    )
    net = models.DecimalField(max_digits=14, decimal_places=2)
    subscription = models.ForeignKey(
        Subscription, null=True, blank=True, on_delete=models.PROTECT, related_name="invoice_lines"
    )
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.description

    def save(self, *args, **kwargs) -> None:
        self._refuse_if_issued()
        if self.net is None and self.quantity is not None and self.unit_price is not None:
            self.net = to_money(Decimal(self.quantity) * Decimal(self.unit_price), self.invoice.currency)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        self._refuse_if_issued()
        return super().delete(*args, **kwargs)

    def _refuse_if_issued(self) -> None:
        # The line's invoice as stored, and the one it would move to: neither may be issued.
        invoices = Q(pk=self.invoice_id)
        if self.pk:
            invoices |= Q(lines__pk=self.pk)
        if Invoice.objects.filter(invoices).exclude(status=Invoice.Status.DRAFT).exists():
            raise ValidationError("Lines of an issued document cannot be changed.")


# ---------------------------------------------------------------------------------------
# Payments
# ---------------------------------------------------------------------------------------


@personal_data(
    description="Payments you made to us and how they were allocated.",
    categories=[Category.FINANCIAL],
    fields=["reference", "received_on"],
    context=["method", "currency", "amount"],
    purpose="Record what you paid.",
    lawful_basis=LawfulBasis.LEGAL_OBLIGATION,
    customer_path="customer",
    retention=accounting_retention(
        "received_on",
        record="receipt",
        kept_with=("allocations__invoice", "allocations__released_by"),
        kept_while=payments_not_wholly_allocated,
    ),
    erasure=Erasure.keep(f"Business records kept for 6 years ({TAX_RECORDS_RULE})."),
)
class Payment(models.Model):
    class Method(models.TextChoices):
        BANK_TRANSFER = "bank_transfer", "Bank transfer"
        CARD = "card", "Card"
        OTHER = "other", "Other"

    customer = models.ForeignKey("accounts.Customer", on_delete=models.PROTECT, related_name="payments")
    method = models.CharField(max_length=20, choices=Method.choices)
    currency = models.CharField(max_length=3, default="GBP")
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    received_on = models.DateField()
    reference = models.CharField(max_length=200, blank=True)
    recorded_by = models.ForeignKey("accounts.User", null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_on", "-pk"]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} on {self.received_on}"


@no_personal_data("Links between payments and invoices.", belongs_to=["invoice", "payment", "released_by"])
class PaymentAllocation(models.Model):
    """Part of a payment settling an invoice. Append-only: when a credit note takes off an
    invoice more than was still due, a negative allocation (``released_by`` the credit note)
    gives that part of the payment back to the account as credit."""

    # CASCADE: an allocation is part of its payment and its invoice, which only the
    # retention sweep ever deletes (6 years on); PROTECT would keep every paid invoice forever.
    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="allocations")
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="allocations")
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    released_by = models.ForeignKey(
        Invoice,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="released_allocations",
        help_text="The credit note that gave this part of the payment back to the account.",
    )

    def __str__(self) -> str:
        if self.released_by_id:
            return f"{-self.amount} of {self.payment} released from {self.invoice} by {self.released_by}"
        return f"{self.amount} of {self.payment} to {self.invoice}"


@personal_data(
    description="Money we paid back to you, and the credit note it refunds.",
    categories=[Category.FINANCIAL],
    fields=["reference", "paid_on"],
    context=["method", "currency", "amount", "credit_note__number"],
    purpose="Record what we paid back to you.",
    lawful_basis=LawfulBasis.LEGAL_OBLIGATION,
    customer_path="customer",
    belongs_to=["credit_note"],
    retention=accounting_retention(
        "paid_on", record="payment", kept_with=("credit_note",), kept_while=refunds_on_open_accounts
    ),
    erasure=Erasure.keep(f"Business records kept for 6 years ({TAX_RECORDS_RULE})."),
)
class Refund(models.Model):
    """Money paid back to a customer out of their account credit (``billing.payments.record_refund``).

    Usually it pays out a credit note (an invoice cancelled or reduced after it was paid);
    it may also return an overpayment, with no credit note.
    """

    customer = models.ForeignKey("accounts.Customer", on_delete=models.PROTECT, related_name="refunds")
    credit_note = models.ForeignKey(
        Invoice,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="refunds",
        limit_choices_to={"kind": "credit_note"},
        help_text="The credit note refunded; empty when an overpayment is returned.",
    )
    method = models.CharField(max_length=20, choices=Payment.Method.choices)
    currency = models.CharField(max_length=3, default="GBP")
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    paid_on = models.DateField()
    reference = models.CharField(max_length=200, blank=True)
    recorded_by = models.ForeignKey("accounts.User", null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-paid_on", "-pk"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="refunds_are_positive")]

    def __str__(self) -> str:
        return f"Refund of {self.amount} {self.currency} on {self.paid_on}"


# ---------------------------------------------------------------------------------------
# VAT rates
# ---------------------------------------------------------------------------------------


@no_personal_data("VAT rates by country, category and date.")
class VatRate(models.Model):
    """The VAT rate of one country for one VAT category, from a date until a later rate.

    One dated table for every rate we charge: the UK's (country ``GB``, which covers the
    Isle of Man) and, for consumers outside the UK, their country's (EU rates under the One
    Stop Shop). A line's rate is the one in force on its document's tax point
    (``billing.vat.decide_vat``). Rates change on a date, so a rate already in force is
    never edited: staff add the new rate from the day it changes (the admin refuses edits
    and deletions of rates in force), and issued lines keep the rate they were charged.
    """

    country = models.CharField(
        max_length=2, help_text="ISO country code; GB for the UK VAT area (the Isle of Man included)."
    )
    category = models.CharField(max_length=10, choices=VatCategory.choices, default=VatCategory.STANDARD)
    valid_from = models.DateField(help_text="The first tax point the rate applies to; it applies until a later rate.")
    rate = models.DecimalField(
        "rate (%)",
        max_digits=5,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
    )
    source = models.CharField(max_length=200, help_text="Where the rate comes from, e.g. gov.uk 'VAT rates'.")

    class Meta:
        ordering = ["country", "category", "-valid_from"]
        verbose_name = "VAT rate"
        constraints = [
            models.UniqueConstraint(fields=["country", "category", "valid_from"], name="one_vat_rate_per_day"),
            models.CheckConstraint(condition=Q(rate__gte=0) & Q(rate__lte=100), name="vat_rates_are_percentages"),
        ]

    def __str__(self) -> str:
        return f"{self.country} {self.get_category_display().lower()} {self.rate}% from {self.valid_from}"

    def save(self, *args, **kwargs) -> None:
        stored = VatRate.objects.filter(pk=self.pk).first() if self.pk else None
        if stored is not None and stored.in_force:
            raise ValidationError(
                f"{stored} is in force and documents may have been issued at it: it cannot be changed. "
                "Add a new rate from the day the change applies."
            )
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        stored = VatRate.objects.filter(pk=self.pk).first()
        if stored is not None and stored.in_force:
            raise ValidationError(f"{stored} is in force: it is kept as the record of the rate charged.")
        return super().delete(*args, **kwargs)

    def clean(self) -> None:
        super().clean()
        self.country = (self.country or "").strip().upper()
        if len(self.country) != 2 or not self.country.isalpha():
            raise ValidationError({"country": f"“{self.country}” is not a two-letter country code (e.g. FR)."})

    @property
    def in_force(self) -> bool:
        """Whether tax points on or after ``valid_from`` have begun (so the row is history)."""
        return self.valid_from <= timezone.localdate()

    @classmethod
    def table(cls):
        """``rate_on`` over the whole table read once (one query): for a billing run's group."""
        rows = list(cls.objects.values_list("country", "category", "valid_from", "rate"))

        def rate_on(country: str, category: str, on: dt.date) -> Decimal | None:
            in_force = [
                (start, rate) for c, cat, start, rate in rows if (c, cat) == (country, category) and start <= on
            ]
            return max(in_force)[1] if in_force else None

        return rate_on

    @classmethod
    def rate_on(cls, country: str, category: str, on: dt.date) -> Decimal | None:
        """The rate for ``country`` and ``category`` in force on ``on``; None when none is."""
        return (
            cls.objects.filter(country=country, category=category, valid_from__lte=on)
            .order_by("-valid_from")
            .values_list("rate", flat=True)
            .first()
        )


# ---------------------------------------------------------------------------------------
# Exchange rates
# ---------------------------------------------------------------------------------------


@no_personal_data("Exchange rates for sterling totals on foreign-currency invoices.")
class ExchangeRate(models.Model):
    """Units of a currency per pound, from a date (HMRC's monthly VAT rates are quoted this way).

    The billing run puts the rate in force on the invoice date onto each invoice in that
    currency, with its source and date; where UK VAT is due the invoice then shows its net
    and VAT totals in sterling.
    """

    currency = models.CharField(max_length=3, validators=[validate_currency])
    valid_from = models.DateField(help_text="Used for invoices issued on or after this day, until a later rate.")
    units_per_gbp = models.DecimalField(
        "units per £1", max_digits=14, decimal_places=6, help_text="e.g. 1.1534 euros to the pound."
    )
    source = models.CharField(max_length=200, help_text="e.g. HMRC monthly exchange rate, December 2026.")

    class Meta:
        ordering = ["currency", "-valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["currency", "valid_from"], name="one_exchange_rate_per_currency_day"),
            models.CheckConstraint(condition=Q(units_per_gbp__gt=0), name="exchange_rates_are_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.currency} {self.units_per_gbp} per £1 from {self.valid_from}"

    @property
    def gbp_per_unit(self) -> Decimal:
        """Pounds per unit, as ``Invoice.gbp_rate`` stores it (6 decimal places)."""
        return (Decimal(1) / self.units_per_gbp).quantize(Decimal("0.000001"))

    @classmethod
    def in_force(cls, currency: str, on) -> ExchangeRate | None:
        return cls.objects.filter(currency=currency, valid_from__lte=on).order_by("-valid_from").first()


# ---------------------------------------------------------------------------------------
# The billing run
# ---------------------------------------------------------------------------------------


@no_personal_data("Progress of a billing run.")
class BillingRun(models.Model):
    """One run of the billing for a period, with its progress, visible to staff; resumable."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    period_start = models.DateField()
    customer = models.ForeignKey(
        "accounts.Customer",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Empty: every customer.",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    started_by = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    progressed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the run last finished a customer: a run that stops moving has died."
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    # A customer takes a fraction of a second; this long without progress means the
    # worker died (deploy, OOM, crash) and the run can be resumed.
    STALLED_AFTER = dt.timedelta(minutes=10)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Billing run for {self.period_start:%B %Y}"

    @property
    def is_stalled(self) -> bool:
        last = self.progressed_at or self.created_at
        return self.status == self.Status.RUNNING and timezone.now() - last > self.STALLED_AFTER

    @property
    def display_status(self) -> str:
        if self.is_stalled:
            return (
                f"Stalled: no progress since {timezone.localtime(self.progressed_at or self.created_at):%-d %b %H:%M}"
            )
        return self.get_status_display()


# ---------------------------------------------------------------------------------------
# Billing's settings
# ---------------------------------------------------------------------------------------


@no_personal_data("The provider's billing policy and bank details.")
class BillingSettings(models.Model):
    """How the provider bills: payment instructions printed on documents, payment terms,
    the billing day and pro-forma mode. One row, kept by billing staff in the admin; with
    none saved yet, the defaults apply.
    """

    bank_account_name = models.CharField(max_length=200, blank=True)
    bank_sort_code = models.CharField(max_length=8, blank=True)
    bank_account_number = models.CharField(max_length=8, blank=True)
    bank_iban = models.CharField("IBAN", max_length=34, blank=True)
    bank_bic = models.CharField("BIC", max_length=11, blank=True)
    payment_terms_days = models.PositiveSmallIntegerField(
        default=30, help_text="Invoices fall due this many days after issue (Late Payment Act default: 30)."
    )
    pro_forma_mode = models.BooleanField(
        default=False,
        help_text="Send payment requests marked 'This is not a VAT invoice' and issue the VAT invoice on payment "
        "(continuous supply, VAT reg 90).",
    )
    billing_day = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(31)],
        help_text="Day of the month the billing run issues invoices (the last day in shorter months).",
    )
    bill_in_advance = models.BooleanField(
        "allow billing in advance",
        default=False,
        help_text="Allow a billing run for a month that has not started yet. Its documents are dated the day "
        "they are issued and state the period they bill.",
    )

    class Meta:
        verbose_name = "billing settings"
        verbose_name_plural = "billing settings"
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="billing_settings_singleton")]

    def __str__(self) -> str:
        return "Billing settings"

    def save(self, *args, **kwargs) -> None:
        self.pk = 1
        super().save(*args, **kwargs)

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        # Payment instructions are copied onto every invoice: a typo sends money astray.
        sort_code = re.sub(r"[\s-]", "", self.bank_sort_code)
        if sort_code:
            if not re.fullmatch(r"\d{6}", sort_code):
                errors["bank_sort_code"] = [f"{self.bank_sort_code!r} is not a sort code: six digits, e.g. 12-34-56."]
            else:
                self.bank_sort_code = f"{sort_code[:2]}-{sort_code[2:4]}-{sort_code[4:]}"
        if self.bank_account_number and not re.fullmatch(r"\d{8}", self.bank_account_number.strip()):
            errors["bank_account_number"] = [f"{self.bank_account_number!r} is not a UK account number: eight digits."]
        for field, scheme in (("bank_iban", iban), ("bank_bic", bic)):
            value = getattr(self, field)
            if value:
                try:
                    # Stored compact (a 34-character IBAN fits); documents print it grouped.
                    setattr(self, field, scheme.validate(value))
                except NumberError as exc:
                    errors[field] = [f"{value!r} is not a valid {field.removeprefix('bank_').upper()}: {exc.message}"]
        # A sort code and an account number only work together.
        if sort_code and not self.bank_account_number and "bank_sort_code" not in errors:
            errors["bank_account_number"] = ["Give the account number that goes with the sort code."]
        if self.bank_account_number and not sort_code and "bank_account_number" not in errors:
            errors["bank_sort_code"] = ["Give the sort code that goes with the account number."]
        if self.bank_bic and not self.bank_iban and "bank_bic" not in errors:
            errors["bank_iban"] = ["Give the IBAN that goes with the BIC."]
        # No well-kept library checks a sort code and account number beyond their format (the
        # banks' modulus rules change with each clearing table); but a UK IBAN contains both
        # under its own check digits, so when both are given they must be the same account.
        account = self.bank_account_number.strip()
        if not errors and self.bank_iban.startswith("GB") and sort_code and account:
            in_iban = (self.bank_iban[8:14], self.bank_iban[14:22])
            if in_iban != (sort_code, account):
                errors["bank_iban"] = [
                    f"The IBAN is for sort code {in_iban[0][:2]}-{in_iban[0][2:4]}-{in_iban[0][4:]}, account "
                    f"{in_iban[1]}, not the sort code and account number given: correct whichever is wrong."
                ]
        if errors:
            raise ValidationError(errors)

    # What an invoice's "How to pay" needs: the account's name, and a UK account (sort code
    # and account number) or an IBAN.
    PAYMENT_METHOD = "the account name, and a sort code and account number or an IBAN"

    def missing_payment_method(self) -> str:
        """Why customers could not be told how to pay (naming the settings to fill in), or
        "" when they can."""
        has_account = bool(self.bank_account_name.strip()) and (
            bool(self.bank_sort_code and self.bank_account_number) or bool(self.bank_iban)
        )
        if has_account:
            return ""
        return (
            "No payment method is configured, so an invoice could not tell the customer how to pay: "
            f"give {self.PAYMENT_METHOD} in Billing → Billing settings."
        )

    @classmethod
    def current(cls) -> BillingSettings:
        """The saved settings, or the defaults while none are saved."""
        return cls.objects.filter(pk=1).first() or cls()


# ---------------------------------------------------------------------------------------
# The accountants: firms, their people, the codes their books use, and the exports
# (billing.accounting; docs/accounting.md)
# ---------------------------------------------------------------------------------------


@no_personal_data("The provider's firm of accountants: a business and its office details, kept by staff.")
class AccountingFirm(models.Model):
    """A firm of accountants the provider engages. Its accountants download the period
    exports at /accounting/; each download is a disclosure to the firm in the ledger."""

    name = models.CharField(max_length=200, unique=True)
    postal_address = models.TextField(help_text="One line per row of the address.")
    contact_email = models.EmailField()
    engaged_from = models.DateField(help_text="The first day of the engagement.")
    engaged_until = models.DateField(
        null=True, blank=True, help_text="The last day of the engagement; empty while it continues."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.engaged_until and self.engaged_from and self.engaged_until < self.engaged_from:
            raise ValidationError({"engaged_until": "The engagement cannot end before it starts."})

    def is_engaged(self, on: dt.date | None = None) -> bool:
        on = on or timezone.localdate()
        return self.engaged_from <= on and (self.engaged_until is None or on <= self.engaged_until)

    @property
    def address_line(self) -> str:
        return ", ".join(line.strip() for line in self.postal_address.splitlines() if line.strip())


@no_personal_data(
    "Links a login of the provider's accountants to their firm; the login is the firm's, not a customer's."
)
class Accountant(models.Model):
    """An accountant's login belongs to one firm (the user is in the Accountant group too)."""

    user = models.OneToOneField("accounts.User", on_delete=models.CASCADE, related_name="accountant")
    firm = models.ForeignKey(AccountingFirm, on_delete=models.PROTECT, related_name="accountants")

    def __str__(self) -> str:
        return f"{self.user} ({self.firm})"


class VatStagger(models.IntegerChoices):
    """HMRC's VAT quarter staggers: the month each quarter ends in."""

    MARCH = 1, "Quarters ending March, June, September and December"
    APRIL = 2, "Quarters ending April, July, October and January"
    MAY = 3, "Quarters ending May, August, November and February"


@no_personal_data("The provider's bookkeeping codes and export policy.")
class AccountingSettings(models.Model):
    """The codes the accountants' books use and how exports are made. One row, kept by
    billing staff in the admin; with none saved yet the UK defaults below apply."""

    vat_stagger = models.PositiveSmallIntegerField(
        verbose_name="VAT quarters", choices=VatStagger.choices, default=VatStagger.MARCH
    )
    year_end_month = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(12)],
        help_text="Financial year ends in this month.",
    )
    year_end_day = models.PositiveSmallIntegerField(
        default=31,
        validators=[MinValueValidator(1), MaxValueValidator(31)],
        help_text="…on this day (the month's last day if shorter).",
    )
    cash_accounting = models.BooleanField(
        default=False,
        help_text="VAT cash accounting scheme: the VAT return counts VAT on payments received, not on invoices issued.",
    )
    sales_nominal_code = models.CharField(max_length=8, default="4000", help_text="Sage: sales (turnover).")
    bank_nominal_code = models.CharField(max_length=8, default="1200", help_text="Sage: bank current account.")
    sage_department = models.CharField(max_length=3, default="0", help_text="Sage department code (0 for none).")
    xero_sales_account = models.CharField(max_length=10, default="200", help_text="Xero account code for sales.")
    account_reference_format = models.CharField(
        max_length=30,
        default="C{id:05d}",
        help_text="Customer account reference when none is set on the customer: Python format with {id}.",
    )
    background_above_rows = models.PositiveIntegerField(
        default=20000, help_text="Exports with more rows than this are prepared in the background."
    )
    keep_files_days = models.PositiveSmallIntegerField(
        default=7,
        validators=[MinValueValidator(1)],
        help_text="Prepared export files are deleted after this many days.",
    )

    class Meta:
        verbose_name = "accounting settings"
        verbose_name_plural = "accounting settings"
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="accounting_settings_singleton")]

    def __str__(self) -> str:
        return "Accounting settings"

    def save(self, *args, **kwargs) -> None:
        self.pk = 1
        super().save(*args, **kwargs)

    def clean(self) -> None:
        try:
            reference = self.account_reference_format.format(id=1)
        except (KeyError, ValueError, IndexError, AttributeError, TypeError) as exc:
            raise ValidationError({"account_reference_format": f"Not a usable format: {exc}. Use {{id}}."}) from None
        if reference == self.account_reference_format.format(id=2):
            raise ValidationError({"account_reference_format": "Put {id} in the format, or every customer shares one."})

    @classmethod
    def current(cls) -> AccountingSettings:
        return cls.objects.filter(pk=1).first() or cls()


class VatCode(models.TextChoices):
    """Our VAT codes: the treatment of a line, from the invoice's VAT rule and the line's category."""

    STANDARD = "S", "UK VAT, standard rate"
    REDUCED = "R", "UK VAT, reduced rate"
    ZERO = "Z", "UK VAT, zero rate"
    EXEMPT = "E", "Exempt from UK VAT"
    REVERSE_CHARGE = "RC", "Outside the scope of UK VAT: EU business customer (reverse charge)"
    OUTSIDE_SCOPE = "OS", "Outside the scope of UK VAT: business customer outside the UK and EU"
    CONSUMER_COUNTRY = "OSS", "Another country's VAT on a consumer's services (One Stop Shop), not UK VAT"


@no_personal_data("How our VAT codes map to Xero's tax rates and Sage's tax codes.")
class AccountingTaxCode(models.Model):
    """One VAT code's names in the accountants' software. Rows are created with UK
    defaults by a migration; an empty name means "not mapped" and an export needing it
    is refused, naming the document and the code."""

    vat_code = models.CharField(verbose_name="VAT code", max_length=3, choices=VatCode.choices, unique=True)
    xero_tax_type = models.CharField(
        max_length=50, blank=True, help_text="The tax rate's display name in Xero, e.g. 20% (VAT on Income)."
    )
    sage_tax_code = models.CharField(
        max_length=3, blank=True, help_text="Sage 50 tax code T0–T99, e.g. T1 for standard rate."
    )

    class Meta:
        ordering = ["vat_code"]

    def __str__(self) -> str:
        return f"{self.vat_code}: {self.get_vat_code_display()}"

    def clean(self) -> None:
        if self.sage_tax_code and not re.fullmatch(r"T\d{1,2}", self.sage_tax_code):
            raise ValidationError({"sage_tax_code": f"{self.sage_tax_code!r} is not a Sage tax code: T0 to T99."})


@no_personal_data("A customer's account reference in the accountants' books: a code, not personal data.")
class CustomerAccountReference(models.Model):
    """The customer's account reference in the books (Sage: at most 8 characters), when
    staff set one; otherwise the settings' format gives one from the customer's number."""

    customer = models.OneToOneField("accounts.Customer", on_delete=models.CASCADE, related_name="account_reference")
    reference = models.CharField(max_length=30, unique=True)

    def __str__(self) -> str:
        return self.reference


@no_personal_data(
    "A record of an accounting export: who made it, for whom, which period; the file is deleted when it expires."
)
class AccountingExport(models.Model):
    """One export for the accountants (or made by staff): its period, format, progress and
    file. Small ones are built while the person waits; large ones in the background."""

    class Kind(models.TextChoices):
        DAY_BOOK = "day_book", "Sales day book"
        RECEIPTS = "receipts", "Receipts and refunds"
        AGED_DEBTORS = "aged_debtors", "Aged debtors"
        LEDGER_CONTROL = "ledger_control", "Sales ledger control"
        VAT_RETURN = "vat_return", "VAT return figures"
        SERVICES = "services", "Services register"
        DOCUMENT_PACK = "document_pack", "Document pack (PDFs)"

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "Excel (XLSX)"
        XERO_INVOICES = "xero_invoices", "Xero sales invoice import"
        XERO_CREDIT_NOTES = "xero_credit_notes", "Xero credit note import"
        SAGE = "sage", "Sage 50 audit trail import"
        ZIP = "zip", "ZIP of PDFs with a manifest"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Being prepared"
        READY = "ready", "Ready to download"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    format = models.CharField(max_length=20, choices=Format.choices)
    period_start = models.DateField()
    period_end = models.DateField()
    as_at = models.DateField(null=True, blank=True, help_text="Balances as at this date (aged debtors).")
    period_label = models.CharField(max_length=100, blank=True)
    firm = models.ForeignKey(
        AccountingFirm,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="exports",
        help_text="The firm it was made for; empty when staff made it for themselves.",
    )
    made_by = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done.")
    rows = models.PositiveIntegerField(default=0)
    expected_rows = models.PositiveIntegerField(default=0)
    file = models.FileField(upload_to="billing/accounting/%Y/%m/", max_length=255, blank=True)
    filename = models.CharField(max_length=200, blank=True)
    sha256 = models.CharField(verbose_name="SHA-256", max_length=64, blank=True)
    note = models.CharField(max_length=500, blank=True, help_text="e.g. the period has no data.")
    error = models.TextField(blank=True)
    customers = models.PositiveIntegerField(default=0, help_text="How many customers' data the file holds.")
    disclosure_sequence = models.PositiveBigIntegerField(
        null=True, blank=True, editable=False, help_text="The disclosure ledger's entry for it (exports for a firm)."
    )
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        permissions = [("produce_accountingexport", "Can produce accounting exports")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.period_label or self.period_start} ({self.get_format_display()})"

    @property
    def is_expired(self) -> bool:
        return self.status == self.Status.EXPIRED or (self.expires_at is not None and self.expires_at <= timezone.now())
