"""Billing admin: catalogue, subscriptions, one-off charges and documents (issue 4).

Issued documents are read-only here as in the model (VAT reg 15: corrections are
credit notes, never edits); staff issue drafts and credit invoices through
``billing.services``.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse

from billing import services
from billing.models import Invoice, InvoiceLine, OneOffCharge, Plan, Subscription
from billing.money import to_money
from billing.vat import VatRuleError


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ["name", "period", "currency", "price", "setup_fee", "vat_category", "active"]
    list_filter = ["period", "active", "currency"]
    search_fields = ["name"]


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ["service", "plan", "started_on", "ended_on", "billed_until"]
    list_select_related = ["service__customer", "plan"]
    raw_id_fields = ["service"]
    search_fields = ["service__name", "service__customer__registered_name"]


@admin.register(OneOffCharge)
class OneOffChargeAdmin(admin.ModelAdmin):
    list_display = ["description", "customer", "quantity", "unit_price", "created_at", "invoice_line"]
    list_select_related = ["customer", "invoice_line__invoice"]
    raw_id_fields = ["customer"]
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
    fields = ["description", "quantity", "unit_price", "vat_rate", "net", "period_start", "period_end"]
    readonly_fields = ["net"]

    def has_add_permission(self, request, obj=None) -> bool:
        return _is_draft(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return _is_draft(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return _is_draft(obj) and super().has_delete_permission(request, obj)


class CreditReasonForm(forms.Form):
    reason = forms.CharField(max_length=200, help_text="Printed on the credit note.")


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = ["__str__", "kind", "status", "customer", "issued_on", "due_on", "total_gross", "currency"]
    list_filter = ["kind", "status", "currency"]
    list_select_related = ["customer"]
    search_fields = ["number", "customer__registered_name", "customer__trading_name"]
    date_hierarchy = "issued_on"
    raw_id_fields = ["customer", "corrects"]
    inlines = [InvoiceLineInline]
    actions = ["issue_selected", "credit_in_full"]
    draft_fields = ["kind", "customer", "currency", "period_start", "period_end", "corrects",
                    "gbp_rate", "gbp_rate_source", "gbp_rate_date"]  # fmt: skip

    def get_fields(self, request, obj=None):
        if _is_draft(obj):
            return self.draft_fields
        return [f.name for f in Invoice._meta.fields if f.name != "id"]

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
                services.issue_invoice(invoice, actor=request.user)
            except (ValidationError, VatRuleError) as exc:
                messages.error(request, f"{invoice}: {'; '.join(getattr(exc, 'messages', [str(exc)]))}")
            else:
                issued += 1
        if issued:
            messages.success(request, f"Issued {issued} document(s).")

    @admin.action(description="Credit in full…", permissions=["change"])
    def credit_in_full(self, request, queryset):
        form = CreditReasonForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            for invoice in queryset:
                try:
                    note = services.create_credit_note(invoice, reason=form.cleaned_data["reason"], actor=request.user)
                except ValidationError as exc:
                    messages.error(request, f"{invoice}: {'; '.join(exc.messages)}")
                else:
                    messages.success(request, f"{invoice} credited in full by {note.number}.")
            return None
        return TemplateResponse(
            request,
            "admin/billing/credit_in_full.html",
            {
                **self.admin_site.each_context(request),
                "title": "Credit in full",
                "form": form,
                "queryset": queryset,
                "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )
