"""Staff see data-subject exports and start one when fulfilling a request.

Exports are written only by ``privacy.services.export``: the list is read-only. Staff
with the ``fulfil_request`` permission start an export from a small form ("Start an
export") and download it here to send it on, until it expires; a colleague with the same
permission can pick the work up. Each download is recorded in the export's history
(``accounts.staff_files``), and the ledger entry names the data subject of the request
as the recipient.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts.adminkit import customer_choice
from accounts.models import User
from accounts.staff_files import serve_to_staff
from privacy.models import DataExport, DataSubjectRequest
from privacy.services import export as export_service

FULFIL_PERMISSION = "privacy.fulfil_request"


class StartExportForm(forms.Form):
    customer = customer_choice(
        DataExport._meta.get_field("customer"), required=False, help_text="Export a customer's data…"
    )
    person = forms.ModelChoiceField(User.objects.all(), required=False, help_text="…or one person's.")
    request = forms.ModelChoiceField(
        DataSubjectRequest.objects.all(), required=False, help_text="The data-subject request this fulfils."
    )

    def clean(self):
        data = super().clean()
        if bool(data.get("customer")) == bool(data.get("person")):
            raise forms.ValidationError("Choose a customer or a person, not both.")
        return data


@admin.register(DataExport)
class DataExportAdmin(admin.ModelAdmin):
    list_display = ("id", "customer", "person", "requested_by", "status", "progress", "created_at", "expires_at")
    list_filter = ("status",)
    list_select_related = ("customer", "person", "requested_by")
    search_fields = ("customer__registered_name", "customer__trading_name", "requested_by__email", "person__email")
    date_hierarchy = "created_at"
    readonly_fields = (
        "customer",
        "person",
        "requested_by",
        "request",
        "status",
        "progress",
        "sha256",
        "error",
        "created_at",
        "finished_at",
        "expires_at",
        "download",
    )
    exclude = ("file",)
    change_list_template = "privacy/export_admin_change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="Download")
    def download(self, obj: DataExport) -> str:
        if obj.status != DataExport.Status.READY:
            return "—"
        url = reverse("admin:privacy_dataexport_download", args=[obj.pk])
        return format_html('<a href="{}">Download</a>', url)

    def get_urls(self):
        urls = [
            path("start/", self.admin_site.admin_view(self.start_view), name="privacy_dataexport_start"),
            path(
                "<int:export_id>/download/",
                self.admin_site.admin_view(self.download_view),
                name="privacy_dataexport_download",
            ),
        ]
        return urls + super().get_urls()

    def changelist_view(self, request: HttpRequest, extra_context=None):
        extra_context = {**(extra_context or {}), "can_start": request.user.has_perm(FULFIL_PERMISSION)}
        return super().changelist_view(request, extra_context)

    def start_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm(FULFIL_PERMISSION):
            raise PermissionDenied
        form = StartExportForm(request.POST or None, initial=request.GET.dict() or None)
        if request.method == "POST" and form.is_valid():
            export = export_service.request_export(
                requested_by=request.user,
                customer=form.cleaned_data["customer"],
                person=form.cleaned_data["person"],
                request=form.cleaned_data["request"],
            )
            self.message_user(request, f"Export #{export.pk} is being prepared.", messages.SUCCESS)
            return redirect("admin:privacy_dataexport_change", export.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": "Start a data export",
            "form": form,
            "opts": self.model._meta,
        }
        return render(request, "privacy/export_admin_start.html", context)

    def download_view(self, request: HttpRequest, export_id: int) -> HttpResponse:
        # Staff who fulfil requests, before it expires; who opened it is recorded.
        export = get_object_or_404(DataExport, pk=export_id)
        if export.status != DataExport.Status.READY or not export.file or export.expires_at <= timezone.now():
            raise Http404("This export is not available.")
        return serve_to_staff(
            request,
            obj=export,
            file=export.file,
            sha256=export.sha256,
            filename=export_service.download_filename(export),
            content_type="application/zip",
            permission=FULFIL_PERMISSION,
            what="the export",
        )
