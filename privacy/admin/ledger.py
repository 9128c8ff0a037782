"""Staff read the disclosure ledger, verify its chain, and record Art 19 notifications.

The ledger is append-only (``privacy.services.ledger.record_disclosure`` is its only
writer), so its admin can neither add, change nor delete entries. Recipient notifications
are recorded from one page per data-subject request (``for-request/<request_id>/``), which
the data-subject request admin links to by the URL name
``admin:privacy_recipientnotification_for_request``.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from core.registry import Category
from privacy.models import DataSubjectRequest, DisclosureEntry, RecipientNotification
from privacy.services import ledger, recipients

_CATEGORY_DESCRIPTIONS = {category.value: category.description for category in Category}


def _verify_and_tell(model_admin: admin.ModelAdmin, request: HttpRequest) -> None:
    report = ledger.check_chain()
    if report.intact:
        model_admin.message_user(
            request,
            f"Ledger intact: {report.entries} entries. Head #{report.head_sequence}: {report.head_hash}",
            messages.SUCCESS,
        )
    else:
        model_admin.message_user(request, report.problem.message, messages.ERROR)


class WithheldFilter(admin.SimpleListFilter):
    title = "withheld from the customer"
    parameter_name = "withheld_now"

    def lookups(self, request, model_admin):
        return [("hidden", "Still hidden"), ("ended", "Duty ended"), ("never", "Never withheld")]

    def queryset(self, request, queryset):
        today = timezone.localdate()
        ended = Q(withheld=True, withheld_until__isnull=False, withheld_until__lte=today) | Q(
            withheld=True, release__ends_on__lte=today
        )
        match self.value():
            case "hidden":
                return queryset.filter(withheld=True).exclude(ended)
            case "ended":
                return queryset.filter(ended)
            case "never":
                return queryset.filter(withheld=False)
        return queryset


@admin.register(DisclosureEntry)
class DisclosureEntryAdmin(admin.ModelAdmin):
    change_list_template = "privacy/disclosures_admin_change_list.html"
    list_display = ("sequence", "created_at", "recipient_kind", "recipient", "purpose", "withheld", "withheld_until")
    list_filter = ("recipient_kind", "withheld", WithheldFilter)
    search_fields = ("recipient", "customers__registered_name", "customers__trading_name", "=sequence")
    date_hierarchy = "created_at"
    actions = ["verify_chain", "release_withheld"]
    fieldsets = (
        (None, {"fields": ("sequence", "created_at", "actor", "customer_links")}),
        (
            "What was disclosed",
            {
                "fields": (
                    "recipient_kind",
                    "recipient",
                    "recipient_address",
                    "purpose",
                    "legal_basis",
                    "category_descriptions",
                    "summary",
                    "artefact_sha256",
                )
            },
        ),
        ("Non-disclosure duty", {"fields": ("withheld", "withheld_until", "withheld_reason")}),
        ("Chain", {"fields": ("previous_hash", "entry_hash")}),
    )
    readonly_fields = (
        "sequence",
        "created_at",
        "actor",
        "customer_links",
        "recipient_kind",
        "recipient",
        "recipient_address",
        "purpose",
        "legal_basis",
        "category_descriptions",
        "summary",
        "artefact_sha256",
        "withheld",
        "withheld_until",
        "withheld_reason",
        "previous_hash",
        "entry_hash",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # entries come from privacy.services.ledger.record_disclosure only

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).prefetch_related("customers")

    @admin.display(description="Customers")
    def customer_links(self, obj: DisclosureEntry) -> str:
        links = ((reverse("admin:accounts_customer_change", args=[c.pk]), c) for c in obj.customers.all())
        return format_html_join(", ", '<a href="{}">{}</a>', links) or "—"

    @admin.display(description="Categories")
    def category_descriptions(self, obj: DisclosureEntry) -> str:
        return "; ".join(_CATEGORY_DESCRIPTIONS.get(c, c) for c in obj.categories) or "—"

    @admin.action(
        description="Verify the chain (checks the whole ledger, not just the selection)", permissions=["view"]
    )
    def verify_chain(self, request: HttpRequest, queryset) -> None:
        _verify_and_tell(self, request)

    @admin.action(description="Record that the non-disclosure duty has ended…", permissions=["release"])
    def release_withheld(self, request: HttpRequest, queryset):
        form = ReleaseForm(request.POST if "confirm" in request.POST else None)
        if "confirm" in request.POST and form.is_valid():
            for entry in queryset:
                try:
                    ledger.release_withheld(entry, actor=request.user, **form.cleaned_data)
                except ValueError as exc:
                    self.message_user(request, str(exc), messages.ERROR)
                else:
                    self.message_user(
                        request,
                        f"Disclosure #{entry.sequence} is shown to the customer from "
                        f"{form.cleaned_data['ends_on']:%d %B %Y}.",
                        messages.SUCCESS,
                    )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "End of a non-disclosure duty",
            "opts": self.model._meta,
            "queryset": queryset,
            "form": form,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return render(request, "privacy/disclosures_admin_release.html", context)

    def has_release_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("privacy.add_disclosurerelease")

    def get_urls(self):
        return [
            path("verify/", self.admin_site.admin_view(self.verify_view), name="privacy_disclosureentry_verify"),
            *super().get_urls(),
        ]

    def verify_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        _verify_and_tell(self, request)
        return redirect("admin:privacy_disclosureentry_changelist")


class ReleaseForm(forms.Form):
    ends_on = forms.DateField(help_text="From this date the customer sees the disclosure. YYYY-MM-DD.")
    reason = forms.CharField(max_length=300, help_text="e.g. the authority's letter of 3 March lifting the duty")


class NotifyRecipientForm(forms.Form):
    disclosure = forms.IntegerField(widget=forms.HiddenInput)
    how = forms.CharField(
        max_length=200,
        label="How they were told",
        help_text="e.g. email to the firm's data protection contact on 3 March",
    )


@admin.register(RecipientNotification)
class RecipientNotificationAdmin(admin.ModelAdmin):
    list_display = ("notified_at", "request_link", "disclosure", "how", "notified_by")
    list_select_related = ("request", "disclosure", "notified_by")
    search_fields = ("disclosure__recipient", "how", "=request__id")
    date_hierarchy = "notified_at"
    readonly_fields = ("request", "disclosure", "notified_by", "notified_at", "how")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # recorded from the request's page (for-request/<id>/), once per recipient

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def can_record(self, request: HttpRequest) -> bool:
        opts = self.model._meta
        return request.user.has_perm(f"{opts.app_label}.add_{opts.model_name}")

    @admin.display(description="Request", ordering="request")
    def request_link(self, obj: RecipientNotification) -> str:
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:privacy_recipientnotification_for_request", args=[obj.request_id]),
            obj.request,
        )

    def get_urls(self):
        return [
            path(
                "for-request/<int:request_id>/",
                self.admin_site.admin_view(self.for_request_view),
                name="privacy_recipientnotification_for_request",
            ),
            *super().get_urls(),
        ]

    def for_request_view(self, request: HttpRequest, request_id: int) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        subject_request = get_object_or_404(DataSubjectRequest.objects.select_related("customer"), pk=request_id)
        can_record = self.can_record(request)
        failed: tuple[int, NotifyRecipientForm] | None = None
        if request.method == "POST":
            if not can_record:
                raise PermissionDenied
            form = NotifyRecipientForm(request.POST)
            if form.is_valid():
                disclosure = get_object_or_404(DisclosureEntry, pk=form.cleaned_data["disclosure"])
                try:
                    recipients.record_recipient_notification(
                        subject_request, disclosure, actor=request.user, how=form.cleaned_data["how"]
                    )
                except ValueError as exc:
                    self.message_user(request, str(exc), messages.ERROR)
                else:
                    self.message_user(
                        request,
                        f"Recorded that {disclosure.recipient} was told (entry #{disclosure.sequence}).",
                        messages.SUCCESS,
                    )
                    return redirect(request.path)
            else:
                failed = (form.data.get("disclosure"), form)
        pending = recipients.recipients_to_notify(subject_request)
        rows = []
        for entry in pending:
            if failed and str(failed[0]) == str(entry.pk):
                form = failed[1]
            else:
                form = NotifyRecipientForm(initial={"disclosure": entry.pk}, auto_id=f"id_%s_{entry.pk}")
            rows.append(
                {
                    "entry": entry,
                    "categories": [_CATEGORY_DESCRIPTIONS.get(c, c) for c in entry.categories],
                    "form": form,
                }
            )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Recipients to tell about {subject_request}",
            "opts": self.model._meta,
            "subject_request": subject_request,
            "applies": subject_request.kind in recipients.NOTIFIABLE_KINDS,
            "rows": rows,
            "done": recipients.notifications_for(subject_request),
            "can_record": can_record,
        }
        return render(request, "privacy/disclosures_admin_notify.html", context)
