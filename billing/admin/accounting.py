"""The accountants in the admin: firms and their logins, the codes the books use, and
the exports, which staff with the named permission produce here too (e.g. when there is
no external firm). Only billing's views module serves files; the admin reuses it."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from accounts import roles
from accounts.access import private_download
from billing.accounting.codes import ExportError
from billing.accounting.exports import request_export
from billing.admin.base import SingletonAdmin
from billing.models import (
    Accountant,
    AccountingExport,
    AccountingFirm,
    AccountingSettings,
    AccountingTaxCode,
    CustomerAccountReference,
)
from billing.views.accounting import ExportForm, serve_export


class AccountantForm(forms.ModelForm):
    class Meta:
        model = Accountant
        fields = ["user"]

    def clean_user(self):
        user = self.cleaned_data["user"]
        if user.is_staff or user.memberships.exists():
            raise ValidationError(
                f"{user} is staff or a customer's contact: an accountant's login is used for nothing else."
            )
        return user


class AccountantInline(admin.TabularInline):
    model = Accountant
    form = AccountantForm
    extra = 0
    autocomplete_fields = ["user"]
    verbose_name = "accountant (login)"


@admin.register(AccountingFirm)
class AccountingFirmAdmin(admin.ModelAdmin):
    """A firm of accountants and its logins. A login added here joins the Accountant group,
    so it must set up two-factor authentication before it reaches /accounting/."""

    list_display = ["name", "contact_email", "engaged_from", "engaged_until"]
    search_fields = ["name"]
    inlines = [AccountantInline]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the disclosure ledger names the firm

    def save_formset(self, request, form, formset, change) -> None:
        super().save_formset(request, form, formset, change)
        group = Group.objects.get(name=roles.ACCOUNTANT_GROUP)
        for accountant in Accountant.objects.filter(firm=form.instance).select_related("user"):
            accountant.user.groups.add(group)
        for deleted in formset.deleted_objects:
            deleted.user.groups.remove(group)


@admin.register(AccountingSettings)
class AccountingSettingsAdmin(SingletonAdmin):
    """One row: the codes and periods of the provider's books, and how exports are made."""

    fieldsets = (
        ("Periods", {"fields": ("vat_stagger", "year_end_month", "year_end_day", "cash_accounting")}),
        ("Sage 50", {"fields": ("sales_nominal_code", "bank_nominal_code", "sage_department")}),
        ("Xero", {"fields": ("xero_sales_account",)}),
        ("Customers", {"fields": ("account_reference_format",)}),
        ("Exports", {"fields": ("background_above_rows", "keep_files_days")}),
    )


@admin.register(AccountingTaxCode)
class AccountingTaxCodeAdmin(admin.ModelAdmin):
    """Our VAT codes and their names in Xero and Sage; an empty name stops exports that need it."""

    list_display = ["vat_code", "description", "xero_tax_type", "sage_tax_code"]
    list_editable = ["xero_tax_type", "sage_tax_code"]
    fields = ["vat_code", "xero_tax_type", "sage_tax_code"]
    readonly_fields = ["vat_code"]

    @admin.display(description="Meaning")
    def description(self, row: AccountingTaxCode) -> str:
        return row.get_vat_code_display()

    def has_add_permission(self, request) -> bool:
        return False  # one row per VAT code, made by a migration

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CustomerAccountReference)
class CustomerAccountReferenceAdmin(admin.ModelAdmin):
    list_display = ["reference", "customer"]
    search_fields = ["reference", "customer__registered_name"]
    autocomplete_fields = ["customer"]


class StaffExportForm(ExportForm):
    firm = forms.ModelChoiceField(
        queryset=AccountingFirm.objects.all(),
        required=False,
        help_text="For a firm: the export is recorded as a disclosure to it. Empty: for our own use.",
    )


@admin.register(AccountingExport)
class AccountingExportAdmin(admin.ModelAdmin):
    """Every export, who made it and for whom. "Produce an export" needs the permission
    "Can produce accounting exports"; rows are records and never changed here."""

    list_display = [
        "__str__",
        "period_start",
        "period_end",
        "firm",
        "made_by",
        "state",
        "rows",
        "created_at",
        "file_link",
    ]
    list_filter = ["kind", "format", "status", "firm"]
    list_select_related = ["firm", "made_by"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in AccountingExport._meta.fields]
    change_list_template = "admin/billing/accountingexport/change_list.html"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Status", ordering="status")
    def state(self, export: AccountingExport) -> str:
        if export.status in (AccountingExport.Status.QUEUED, AccountingExport.Status.RUNNING):
            return f"{export.get_status_display()} ({export.progress}%)"
        return export.get_status_display()

    @admin.display(description="File")
    def file_link(self, export: AccountingExport) -> str:
        if export.status == AccountingExport.Status.READY and not export.is_expired:
            url = reverse("admin:billing_accountingexport_download", args=[export.pk])
            return format_html('<a href="{}">{}</a>', url, export.filename)
        return export.error[:80] if export.status == AccountingExport.Status.FAILED else "—"

    def get_urls(self):
        urls = [
            path("produce/", self.admin_site.admin_view(self.produce_view), name="billing_accountingexport_produce"),
            path(
                "<int:export_id>/download/",
                self.admin_site.admin_view(self.download_view),
                name="billing_accountingexport_download",
            ),
        ]
        return urls + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "may_produce": request.user.has_perm("billing.produce_accountingexport"),
        }
        return super().changelist_view(request, extra_context)

    def produce_view(self, request):
        if not request.user.has_perm("billing.produce_accountingexport"):
            raise PermissionDenied(
                "Producing accounting exports needs the permission “Can produce accounting exports”."
            )
        form = StaffExportForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                export = request_export(
                    kind=data["kind"],
                    fmt=data["format"],
                    period=data["resolved"],
                    as_at=data.get("as_at"),
                    actor=request.user,
                    firm=data.get("firm"),
                )
            except ExportError as exc:
                form.add_error(None, str(exc))
            else:
                if export.status == AccountingExport.Status.READY:
                    messages.success(request, f"{export} is ready: {export.note or 'download it from the list.'}")
                else:
                    messages.info(request, f"{export} is being prepared in the background; reload to follow it.")
                return HttpResponseRedirect(reverse("admin:billing_accountingexport_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Produce an accounting export",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/billing/accountingexport/produce.html", context)

    def download_view(self, request, export_id: int):
        if not self.has_view_permission(request):
            raise PermissionDenied
        return private_download(lambda req: self._serve(req, export_id))(request)

    def _serve(self, request, export_id: int):
        export = get_object_or_404(AccountingExport, pk=export_id, status=AccountingExport.Status.READY)
        if export.is_expired:
            messages.error(request, "This file has expired and was deleted: produce the export again.")
            return HttpResponseRedirect(reverse("admin:billing_accountingexport_changelist"))
        return serve_export(export)
