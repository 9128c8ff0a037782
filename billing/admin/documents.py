"""Billing admin: catalogue, subscriptions, one-off charges and documents.

Issued documents are read-only here as in the model (VAT reg 15: corrections are
credit notes, never edits); staff issue drafts and credit invoices through
``billing.workflows.settlement``. Each issued document shows whether its email reached the
customer, derived from the stored ``Message`` related to it, and can be emailed again
when it has none.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Exists, Q, QuerySet, Subquery
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from accounts.adminkit import action_form, customer_filter
from accounts.correspondence.models import Message
from accounts.models import Customer
from accounts.staff_files import serve_to_staff
from billing.admin.base import RecordedThroughService
from billing.admin.usage import UsageTermsInline
from billing.delivery.email import billing_recipients
from billing.delivery.pdf import pdf_filename
from billing.documents.snapshots import BuyerSnapshot, SellerSnapshot
from billing.models import (
    BillingPeriod,
    Invoice,
    InvoiceLine,
    NumberSeries,
    OneOffCharge,
    Plan,
    Product,
    Subscription,
    document_emails,
)
from billing.money import format_money, to_money
from billing.tasks import render_and_send_invoice
from billing.vat import RULE_LABELS, VatRuleError
from billing.workflows.proforma import ProFormaError, cancel_payment_request
from billing.workflows.settlement import credit_invoice, issue_document
from billing.workflows.subscriptions import SubscriptionError, change_plan, end_service, start_subscription


@admin.register(NumberSeries)
class NumberSeriesAdmin(admin.ModelAdmin):
    """The format of each series' numbers (VAT reg 14(1)(b): unique and sequential).

    A series can start from any number before its first document (a provider moving here
    continues its old numbering); after that the counter moves only by issuing.
    """

    list_display = ["code", "format", "next_number", "next"]
    fields = ["code", "format", "next_number", "next"]
    readonly_fields = ["next"]

    @admin.display(description="Next number")
    def next(self, obj: NumberSeries | None) -> str:
        return obj.preview() if obj and obj.pk else "—"

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return self.readonly_fields
        return [*self.readonly_fields, "code", *(["next_number"] if obj.has_issued() else [])]

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            return super().save_model(request, obj, form, change)
        # Write only what staff may change, under the row lock: a full save would put back
        # the counter as it was when the page loaded, under a billing run taking numbers.
        with transaction.atomic():
            stored = NumberSeries.objects.select_for_update().get(pk=obj.pk)
            fields = {"format": obj.format}
            if not stored.has_issued():
                fields["next_number"] = obj.next_number
            NumberSeries.objects.filter(pk=obj.pk).update(**fields)
        return None

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a series' numbers stay taken


class ProductPlanFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        # The constraint is checked per row against the database; two new rows in one
        # save would only meet in the INSERT: catch them here, by name.
        super().clean()
        seen: set[tuple[str, str]] = set()
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if form.errors or not data or data.get("DELETE") or not data.get("active"):
                continue
            key = (data.get("period"), data.get("currency"))
            if key in seen:
                raise ValidationError(
                    f"Two active {BillingPeriod(key[0]).label.lower()} prices in {key[1]}: keep one, or untick Active."
                )
            seen.add(key)


class ProductPlanInline(admin.TabularInline):
    """A product's prices, one row per billing period and currency."""

    model = Plan
    formset = ProductPlanFormSet
    extra = 0
    fields = ["period", "currency", "price", "setup_fee", "vat_category", "active", "name", "subscribers"]
    readonly_fields = ["subscribers"]
    show_change_link = True

    def get_queryset(self, request):
        current = Count("subscriptions", filter=Q(subscriptions__ended_on__isnull=True))
        return super().get_queryset(request).annotate(current_subscribers=current)

    @admin.display(description="Subscribers")
    def subscribers(self, plan: Plan) -> int:
        return getattr(plan, "current_subscribers", 0)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # retire a plan (untick Active): subscriptions and invoice lines refer to it


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "prices"]
    search_fields = ["name"]
    inlines = [ProductPlanInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("plans")

    @admin.display(description="Prices on sale")
    def prices(self, product: Product) -> str:
        plans = sorted((p for p in product.plans.all() if p.active), key=lambda p: BillingPeriod(p.period).months)
        return ", ".join(f"{format_money(p.price, p.currency)} {p.get_period_display().lower()}" for p in plans) or "—"


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ["name", "product", "period", "currency", "price", "setup_fee", "vat_category", "active"]
    inlines = [UsageTermsInline]
    list_filter = ["period", "active", "currency", "product"]
    list_select_related = ["product"]
    search_fields = ["name", "product__name"]


def _errors(exc: ValidationError) -> str:
    return "; ".join(exc.messages)


class EndServiceForm(forms.Form):
    last_day = forms.DateField(
        label="Last day of service", widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Days already invoiced after it are credited with a credit note.",
    )  # fmt: skip


class ChangePlanForm(forms.Form):
    plan = forms.ModelChoiceField(queryset=Plan.objects.filter(active=True))
    on = forms.DateField(
        label="On the new plan from", widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The old plan's days already invoiced from this day are credited; the new plan's are charged.",
    )  # fmt: skip


@admin.register(Subscription)
class SubscriptionAdmin(RecordedThroughService):
    """Subscriptions start, change plan and end through ``billing.workflows.subscriptions`` so that days
    already invoiced are credited or charged; an existing one is not edited directly."""

    list_display = ["service", "customer", "plan", "started_on", "ended_on", "billed_until"]
    list_filter = [("ended_on", admin.EmptyFieldListFilter), "plan"]
    list_select_related = ["service__customer", "plan"]
    autocomplete_fields = ["service"]
    search_fields = ["service__name", "service__customer__registered_name"]
    actions = ["end_service", "change_plan"]
    fields = ["service", "plan", "started_on"]

    @admin.display(description="Customer", ordering="service__customer__registered_name")
    def customer(self, obj: Subscription):
        return obj.service.customer

    readonly_after_creation = ("ended_on", "billed_until", "setup_fee_invoiced")

    def create(self, request, data: dict) -> Subscription:
        return start_subscription(data["service"], data["plan"], on=data["started_on"], actor=request.user)

    def _add_view_errors(self, form, *, actor) -> None:
        data = form.cleaned_data
        try:
            with transaction.atomic():
                start_subscription(data["service"], data["plan"], on=data["started_on"], actor=actor)
                transaction.set_rollback(True)  # a dry run: only the checks
        except SubscriptionError as exc:
            form.add_error(None, exc)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change, **kwargs)
        if obj is not None:
            return form_class
        check = self._add_view_errors

        class StartForm(form_class):
            def clean(self):
                data = super().clean()
                if not self.errors:
                    check(self, actor=request.user)
                return data

        return StartForm

    @admin.action(description="End service…", permissions=["change"])
    def end_service(self, request, queryset):
        form = EndServiceForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return action_form(
                self, request, queryset, form=form, action="end_service", title="End service",
                intro="End these services and their billing after the day you give.",
                items=[f"{sub} (billed until {sub.billed_until or '—'})" for sub in queryset], submit="End service",
            )  # fmt: skip
        for sub in queryset.select_related("service__customer", "plan"):
            try:
                notes = end_service(sub, last_day=form.cleaned_data["last_day"], actor=request.user)
            except ValidationError as exc:
                messages.error(request, f"{sub}: {_errors(exc)}")
            else:
                credited = f"; credited by {', '.join(n.number for n in notes)}" if notes else ""
                messages.success(request, f"{sub.service}: {sub.service.state_label}{credited}.")
        return None

    @admin.action(description="Change plan…", permissions=["change"])
    def change_plan(self, request, queryset):
        form = ChangePlanForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return action_form(
                self, request, queryset, form=form, action="change_plan", title="Change plan",
                intro="Move these services to another plan from a day: the old subscription ends the day before.",
                items=list(queryset), submit="Change plan",
            )  # fmt: skip
        for sub in queryset.select_related("service__customer", "plan"):
            try:
                new = change_plan(sub, form.cleaned_data["plan"], on=form.cleaned_data["on"], actor=request.user)
            except ValidationError as exc:
                messages.error(request, f"{sub}: {_errors(exc)}")
            else:
                messages.success(request, f"{sub.service} is on {new.plan} from {new.started_on:%-d %B %Y}.")
        return None


@admin.register(OneOffCharge)
class OneOffChargeAdmin(admin.ModelAdmin):
    list_display = ["description", "customer", "quantity", "unit_price", "created_at", "invoice_line"]
    list_select_related = ["customer", "invoice_line__invoice"]
    autocomplete_fields = ["customer"]
    readonly_fields = ["invoice_line"]

    def has_change_permission(self, request, obj=None) -> bool:
        # Once on an invoice the charge is part of an accounting record.
        if obj is not None and obj.invoice_line_id:
            return False
        return super().has_change_permission(request, obj)

    has_delete_permission = has_change_permission


def _is_draft(obj: Invoice | None) -> bool:
    return obj is None or obj.status == Invoice.Status.DRAFT


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    extra = 0
    fields = ["description", "quantity", "unit_price", "vat_category", "vat_rate", "net", "period_start", "period_end"]
    # The rate follows from the category when the document is issued (billing.issuing).
    readonly_fields = ["vat_rate", "net"]

    def has_add_permission(self, request, obj=None) -> bool:
        return _is_draft(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return _is_draft(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return _is_draft(obj) and super().has_delete_permission(request, obj)


def with_email_state(queryset: QuerySet[Invoice]) -> QuerySet[Invoice]:
    """Annotate each document with its email's state, in the one query that lists them."""
    email = document_emails()
    return queryset.annotate(
        email_message_id=Subquery(email.values("pk")[:1]),
        email_status=Subquery(email.values("status")[:1]),
        email_sent_at=Subquery(email.values("sent_at")[:1]),
        email_to=Subquery(email.values("to_addresses")[:1]),
        email_error=Subquery(email.values("last_error")[:1]),
        # The gateway's rule for who receives billing mail: so the page says whether
        # emailing it again would reach anyone today.
        has_billing_recipient=billing_recipients(),
    )


def email_state(invoice: Invoice) -> str:
    """What became of the document's email, in the correspondence admin's words."""
    if invoice.status == Invoice.Status.DRAFT:
        return "—"
    if invoice.email_message_id is None:
        if not invoice.pdf:
            return "Not yet"  # the task renders the PDF first, then stores the email
        if invoice.has_billing_recipient:
            # Someone was given the role after the task found nobody (or the task stopped).
            return (
                f"Not emailed; {invoice.customer} has a billing contact or owner now: "
                "use “Email to billing contacts (again)”"
            )
        return f"Not emailed: {invoice.customer} has no billing contact or owner"
    status = Message.Status(invoice.email_status)
    if status == Message.Status.SENT:
        sent_on = formats.date_format(timezone.localtime(invoice.email_sent_at), "j M Y")
        text = f"Sent {sent_on} to {', '.join(invoice.email_to)}"
    elif status == Message.Status.FAILED:
        text = f"Failed: {invoice.email_error}"
    elif invoice.email_error:
        text = f"{status.label} (last try: {invoice.email_error})"
    else:
        text = status.label
    return format_html(
        '<a href="{}">{}</a>', reverse("admin:accounts_message_change", args=[invoice.email_message_id]), text
    )


class EmailedFilter(admin.SimpleListFilter):
    """Find every issued document that did not reach the customer."""

    title = "emailed"
    parameter_name = "emailed"

    def lookups(self, request, model_admin):
        return [("no", "Not emailed"), ("queued", "Queued"), ("failed", "Delivery failed"), ("sent", "Sent")]

    def queryset(self, request, queryset):
        # Exists rather than the annotations: the database can answer it with one join
        # over all documents instead of a lookup per document.
        email = document_emails()
        issued = queryset.exclude(status=Invoice.Status.DRAFT)
        match self.value():
            case "no":
                return issued.filter(~Exists(email))
            case "queued":
                return issued.filter(Exists(email.filter(status__in=[Message.Status.QUEUED, Message.Status.SENDING])))
            case "failed":
                return issued.filter(Exists(email.filter(status=Message.Status.FAILED)))
            case "sent":
                return issued.filter(Exists(email.filter(status=Message.Status.SENT)))
        return queryset


class OverdueFilter(admin.SimpleListFilter):
    title = "overdue"
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", "Overdue")]

    def queryset(self, request, queryset):
        return queryset.overdue() if self.value() == "yes" else queryset


def _listed(items: Iterable[object], limit: int = 20) -> str:
    names = [str(item) for item in items]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


class CreditReasonForm(forms.Form):
    reason = forms.CharField(max_length=200, help_text="Printed on the credit note.")


class CancelRequestForm(forms.Form):
    reason = forms.CharField(max_length=300, help_text="Emailed to the customer's billing contacts.")


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "kind",
        "state",
        "emailed",
        "customer",
        "issued_on",
        "due_on",
        "total_gross",
        "currency",
    ]
    list_filter = ["kind", "status", OverdueFilter, EmailedFilter, "currency", customer_filter()]
    list_select_related = ["customer"]
    search_fields = ["number", "customer__registered_name", "customer__trading_name"]
    date_hierarchy = "issued_on"
    raw_id_fields = ["corrects"]
    autocomplete_fields = ["customer"]
    inlines = [InvoiceLineInline]
    change_form_template = "admin/billing/invoice/change_form.html"
    actions = ["issue_selected", "credit_in_full", "cancel_payment_requests", "email_to_billing_contacts"]
    draft_fields = ["kind", "customer", "currency", "period_start", "period_end", "corrects", "reason",
                    "gbp_rate", "gbp_rate_source", "gbp_rate_date"]  # fmt: skip

    def get_queryset(self, request):
        return with_email_state(super().get_queryset(request))

    def get_fields(self, request, obj=None):
        if _is_draft(obj):
            return self.draft_fields
        fields = [f.name for f in Invoice._meta.fields if f.name != "id"]
        fields[fields.index("pdf")] = "pdf_link"
        fields[fields.index("seller")] = "seller_address"
        fields[fields.index("buyer")] = "buyer_address"
        fields[fields.index("vat_rule")] = "vat_rule_label"
        fields.insert(fields.index("status") + 1, "emailed")
        if obj.kind == Invoice.Kind.CREDIT_NOTE:
            fields.insert(fields.index("reason") + 1, "refunds")
        return fields

    @admin.display(description="Emailed")
    def emailed(self, obj: Invoice) -> str:
        return email_state(obj)

    @admin.display(description="VAT rule")
    def vat_rule_label(self, obj: Invoice) -> str:
        return RULE_LABELS.get(obj.vat_rule, obj.vat_rule or "—")

    @admin.display(description="Seller (as printed)")
    def seller_address(self, obj: Invoice) -> str:
        seller = SellerSnapshot.from_json(obj.seller)
        lines = [seller.registered_name, *seller.registered_office]
        if seller.vat_number:
            lines.append(f"VAT number {seller.vat_number}")
        if seller.company_number:
            lines.append(f"Company number {seller.company_number}")
        return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines if line)) or "—"

    @admin.display(description="Buyer (as printed)")
    def buyer_address(self, obj: Invoice) -> str:
        buyer = BuyerSnapshot.from_json(obj.buyer)
        lines = list(buyer.addressee_lines())
        if buyer.vat_number:
            lines.append(f"VAT number {buyer.vat_number}")
        return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines if line)) or "—"

    @admin.display(description="PDF")
    def pdf_link(self, obj: Invoice) -> str:
        if not obj.pdf:
            return "Not rendered yet"
        return format_html(
            '<a href="{}">Open {}</a>', reverse("admin:billing_invoice_pdf", args=[obj.pk]), pdf_filename(obj)
        )

    def get_urls(self):
        return [
            path("<int:pk>/pdf/", self.admin_site.admin_view(self.pdf_view), name="billing_invoice_pdf"),
            *super().get_urls(),
        ]

    def pdf_view(self, request, pk: int):
        """The stored PDF, the bytes the customer was sent, to staff who may view documents."""
        invoice = get_object_or_404(Invoice, pk=pk)
        return serve_to_staff(
            request,
            obj=invoice,
            file=invoice.pdf,
            sha256=invoice.pdf_sha256,
            filename=pdf_filename(invoice),
            content_type="application/pdf",
            permission="billing.view_invoice",
            what=f"the PDF {pdf_filename(invoice)}",
            inline=True,
        )

    @admin.display(description="Status", ordering="status")
    def state(self, obj: Invoice) -> str:
        return obj.display_status

    @admin.display(description="Refunds")
    def refunds(self, obj: Invoice) -> str:
        """What has been paid back of a credit note, and the way to record a refund."""
        done = format_html_join(", ", "{} {} on {}", obj.refunds.values_list("amount", "currency", "paid_on"))
        add = format_html(
            '<a href="{}?credit_note={}">Record a refund</a>', reverse("admin:billing_refund_add"), obj.pk
        )
        return format_html("{} {}", done or "None yet.", add)

    def get_readonly_fields(self, request, obj=None):
        if _is_draft(obj):
            return []
        return self.get_fields(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        # The change page of an issued document is a view page: nothing posts to it.
        return _is_draft(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and not _is_draft(obj):
            return False
        return super().has_delete_permission(request, obj)

    def delete_queryset(self, request, queryset) -> None:
        for invoice in queryset:
            invoice.delete()  # the model refuses issued documents

    def response_change(self, request, obj: Invoice):
        # "Save and issue" on a draft's page: saved first (lines included), then issued.
        if "_issue" in request.POST and obj.status == Invoice.Status.DRAFT:
            try:
                issue_document(obj, actor=request.user)
            except (ValidationError, VatRuleError) as exc:
                messages.error(request, f"Saved, not issued: {'; '.join(getattr(exc, 'messages', [str(exc)]))}")
                return HttpResponseRedirect(request.path)
            messages.success(request, f"Issued {obj}.")
            return HttpResponseRedirect(reverse("admin:billing_invoice_change", args=[obj.pk]))
        return super().response_change(request, obj)

    def save_related(self, request, form, formsets, change) -> None:
        # Lines are saved through the inline; recompute each line's net for drafts.
        super().save_related(request, form, formsets, change)
        for line in form.instance.lines.all():
            line.net = to_money(line.quantity * line.unit_price, form.instance.currency)
            line.save(update_fields=["net"])

    @admin.action(description="Issue selected drafts", permissions=["change"])
    def issue_selected(self, request, queryset) -> None:
        issued = 0
        for invoice in queryset.filter(status=Invoice.Status.DRAFT):
            try:
                issue_document(invoice, actor=request.user)
            except (ValidationError, VatRuleError) as exc:
                messages.error(request, f"{invoice}: {'; '.join(getattr(exc, 'messages', [str(exc)]))}")
            else:
                issued += 1
        if issued:
            messages.success(request, f"Issued {issued} document(s).")

    @admin.action(description="Credit in full…", permissions=["change"])
    def credit_in_full(self, request, queryset):
        form = CreditReasonForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return action_form(
                self, request, queryset, form=form, action="credit_in_full", title="Credit in full",
                intro="Issue a credit note for the full amount of each of these invoices; each invoice becomes "
                "cancelled (its number stays used). Payments made on them go back to the account as credit.",
                items=[f"{inv} — {inv.customer} — {inv.total_gross} {inv.currency}" for inv in queryset],
                submit="Issue credit notes",
            )  # fmt: skip
        for invoice in queryset:
            try:
                note = credit_invoice(invoice, reason=form.cleaned_data["reason"], actor=request.user)
            except ValidationError as exc:
                messages.error(request, f"{invoice}: {_errors(exc)}")
            else:
                messages.success(request, f"{invoice} credited in full by {note.number}.")
        return None

    @admin.action(description="Cancel payment requests…", permissions=["change"])
    def cancel_payment_requests(self, request, queryset):
        form = CancelRequestForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return action_form(
                self, request, queryset, form=form, action="cancel_payment_requests", title="Cancel payment requests",
                intro="Withdraw each of these payment requests (not VAT invoices, so no credit note is needed). "
                "Its number stays used; anything paid towards it goes back to the account as credit; what it billed "
                "is unbilled again, for the next run (or a run for the customer now) to ask for what is still due. "
                "The customer's billing contacts are emailed the reason.",
                items=[f"{inv} — {inv.customer} — {inv.total_gross} {inv.currency}" for inv in queryset],
                submit="Cancel requests",
            )  # fmt: skip
        reason = form.cleaned_data["reason"]
        for invoice in queryset:
            try:
                cancel_payment_request(invoice, reason=reason, actor=request.user)
            except ProFormaError as exc:
                messages.error(request, str(exc))
            else:
                self.log_change(request, invoice, f"Cancelled: {reason}")
                messages.success(request, f"{invoice} cancelled; the customer is told why.")
        return None

    @admin.action(description="Email to billing contacts (again)", permissions=["change"])
    def email_to_billing_contacts(self, request, queryset) -> None:
        """Queue the email of documents that have none (the customer had nobody to send it to)."""
        queued: list[Invoice] = []
        already: list[Invoice] = []
        failed: list[Invoice] = []
        drafts = 0
        no_recipient: dict[Customer, list[Invoice]] = defaultdict(list)
        for invoice in queryset:
            if invoice.status == Invoice.Status.DRAFT:
                drafts += 1
            elif invoice.email_message_id is not None:
                (failed if invoice.email_status == Message.Status.FAILED else already).append(invoice)
            elif not invoice.has_billing_recipient:
                # Checked here as well as in the task, so staff learn now whom to add.
                no_recipient[invoice.customer].append(invoice)
            else:
                render_and_send_invoice.delay(invoice.pk)
                queued.append(invoice)

        if queued:
            messages.success(request, f"Queued {len(queued)} document(s) to email: {_listed(queued)}.")
        if already:
            messages.info(request, f"Skipped {len(already)} that already have an email: {_listed(already)}.")
        if failed:
            messages.warning(
                request,
                format_html(
                    "Skipped {} whose email failed: {}. Retry them from "
                    '<a href="{}?status__exact=failed">Messages</a> with “Retry delivery of failed messages”.',
                    len(failed),
                    _listed(failed),
                    reverse("admin:accounts_message_changelist"),
                ),
            )
        if no_recipient:
            customers = format_html_join(
                "; ", "{} ({})", ((customer, _listed(docs)) for customer, docs in no_recipient.items())
            )
            messages.warning(
                request,
                format_html(
                    "Not emailed, no billing contact or owner: {}. Give a contact the billing or owner role, "
                    "then run this again.",
                    customers,
                ),
            )
        if drafts:
            messages.info(request, f"Skipped {drafts} draft(s): a document is emailed when it is issued.")
