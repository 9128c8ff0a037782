"""The abuse desk in the admin: the report queue, the staff form, and working cases.

Every change goes through ``privacy.abuse.cases`` or ``privacy.abuse.intake``. A case's
actions (tell the customer, answer the complainant, notify operators, suspend, restore,
add a note) are buttons on the case, each a small form; they need
``privacy.change_abusecase``, and suspending or restoring ``privacy.contain_service``.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts.correspondence.forms import MultipleFileField
from accounts.models import ProviderDetails, Service
from privacy.abuse import cases, intake, parsers
from privacy.abuse.models import (
    CATEGORIES,
    CATEGORY_LABELS,
    TYPE_LABELS,
    AbuseCase,
    AbuseEvidence,
    AbuseReport,
    CaseEntry,
    Severity,
)

CHANGE = "privacy.change_abusecase"
CONTAIN = "privacy.contain_service"
SECURITY_TXT_WARNING_DAYS = 30


# --- reports --------------------------------------------------------------------------


class QueueFilter(admin.SimpleListFilter):
    title = "queue"
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return [("waiting", "Waiting for a person (unmatched or malformed)")]

    def queryset(self, request, queryset):
        if self.value() == "waiting":
            return queryset.filter(status__in=AbuseReport.QUEUED)
        return queryset


TYPE_PAIRS = [
    (f"{c}/{t}", f"{CATEGORY_LABELS[c]} — {TYPE_LABELS[t]}") for c, types in CATEGORIES.items() for t in types
]


class StaffReportForm(forms.Form):
    """A report taken by phone or from the web: entered by staff, filed like any other."""

    reporter_org = forms.CharField(label="Reporter's organisation", max_length=200, required=False)
    reporter_contact = forms.CharField(label="Reporter's email or phone", max_length=320, required=False)
    reporter_is_organisation = forms.BooleanField(label="The reporter is an organisation", required=False, initial=True)
    reporter_may_be_named = forms.BooleanField(
        label="A person who reported agreed to be named to the customer", required=False
    )
    kind = forms.ChoiceField(label="Category and type", choices=TYPE_PAIRS)
    source_ip = forms.GenericIPAddressField(label="Source IP address", unpack_ipv4=True)
    source_port = forms.IntegerField(min_value=1, max_value=65535, required=False)
    event_time = forms.DateTimeField(label="When it happened", help_text="In the portal's time zone; stored in UTC.")
    summary = forms.CharField(label="What was reported", widget=forms.Textarea(attrs={"rows": 5}), max_length=1000)
    evidence = MultipleFileField(label="Evidence", required=False)
    share_evidence = forms.BooleanField(
        label="The customer needs this evidence to act (it is attached when they are told)", required=False
    )


class EvidenceInline(admin.TabularInline):
    model = AbuseEvidence
    fields = ("description", "content_type", "size", "sha256", "shared_with_customer")
    readonly_fields = ("description", "content_type", "size", "sha256")
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AbuseReport)
class AbuseReportAdmin(admin.ModelAdmin):
    list_display = ("__str__", "received_at", "format", "status", "reporter_org", "event_time", "service", "case")
    list_filter = (QueueFilter, "status", "format", "category", "sender_verified")
    list_select_related = ("service", "case")
    search_fields = ("source_ip", "reporter_org", "reporter_contact", "report_id", "problem")
    date_hierarchy = "received_at"
    inlines = [EvidenceInline]
    actions = ["dismiss_selected"]
    readonly_fields = [f.name for f in AbuseReport._meta.concrete_fields if f.name not in {"id"}]
    fieldsets = (
        ("Where it stands", {"fields": ("status", "problem", "case", "service", "customer", "duplicate_of")}),
        (
            "What was reported",
            {"fields": ("category", "type", "source_ip", "source_port", "event_time", "summary", "confirmed")},
        ),
        (
            "Who reported it",
            {
                "fields": (
                    "reporter_org",
                    "reporter_contact",
                    "reporter_is_organisation",
                    "reporter_may_be_named",
                    "sender_verified",
                )
            },
        ),
        (
            "As it arrived",
            {"fields": ("format", "report_id", "content_sha256", "message", "received_at", "details", "entered_by")},
        ),
    )

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # reports are kept; the retention sweep removes them

    def get_urls(self):
        return [
            path(
                "<int:report_id>/match/", self.admin_site.admin_view(self.match_view), name="privacy_abusereport_match"
            ),
            *super().get_urls(),
        ]

    def add_view(self, request: HttpRequest, form_url="", extra_context=None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = StaffReportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            report = intake.file_report(
                _staff_report(form.cleaned_data),
                actor=request.user,
                extra_evidence=[
                    parsers.Evidence(upload.read(), upload.content_type or "application/octet-stream", upload.name)
                    for upload in form.cleaned_data["evidence"]
                ],
                shared_evidence=form.cleaned_data["share_evidence"],
            )
            self.log_addition(request, report, "Entered by staff")
            where = f"case #{report.case_id}" if report.case_id else f"the queue: {report.problem}"
            messages.success(request, f"Report filed in {where}.")
            return HttpResponseRedirect(reverse("admin:privacy_abusereport_change", args=[report.pk]))
        return _form_page(self, request, form, "Enter an abuse report", "Taken by phone or from the web.")

    def match_view(self, request: HttpRequest, report_id: int) -> HttpResponse:
        report = get_object_or_404(AbuseReport, pk=report_id)
        if not self.has_change_permission(request, report):
            raise PermissionDenied
        form = MatchForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                cases.assign_report(report, service=form.cleaned_data["service"], actor=request.user)
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                self.log_change(request, report, "Matched to a service by staff")
                messages.success(request, "The report joined a case for that service.")
                return HttpResponseRedirect(reverse("admin:privacy_abusereport_change", args=[report.pk]))
        return _form_page(self, request, form, f"Put report #{report.pk} on a service", report.problem)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        report = AbuseReport.objects.filter(pk=object_id).first()
        if report and report.status == AbuseReport.Status.UNMATCHED:
            extra_context["match_url"] = reverse("admin:privacy_abusereport_match", args=[report.pk])
        return super().change_view(request, object_id, form_url, extra_context)

    change_form_template = "admin/privacy/abusereport/change_form.html"

    @admin.action(description="Dismiss selected queued reports (kept, with the reason)", permissions=["change"])
    def dismiss_selected(self, request, queryset):
        form = ReasonForm(request.POST if "confirm" in request.POST else None)
        if form.is_valid():
            done = 0
            for report in queryset.filter(status__in=AbuseReport.QUEUED):
                cases.dismiss_report(report, actor=request.user, reason=form.cleaned_data["reason"])
                self.log_change(request, report, "Dismissed")
                done += 1
            messages.success(request, f"{done} report(s) dismissed.")
            return None
        return _action_page(self, request, queryset, form, "dismiss_selected", "Dismiss reports")


def _staff_report(data: dict) -> parsers.ReportData:
    category, _, kind = data["kind"].partition("/")
    summary = data["summary"].strip()
    return parsers.ReportData(
        format=AbuseReport.Format.STAFF,
        content_sha256=hashlib.sha256(
            f"{data['source_ip']}|{data['event_time'].isoformat()}|{data['kind']}|{summary}".encode()
        ).hexdigest(),
        reporter_org=data["reporter_org"],
        reporter_contact=data["reporter_contact"],
        reporter_is_organisation=data["reporter_is_organisation"],
        category=category,
        type=kind,
        source_ip=data["source_ip"],
        source_port=data.get("source_port"),
        event_time=data["event_time"].astimezone(dt.UTC),
        summary=summary,
        reporter_may_be_named=data["reporter_may_be_named"],
    )


class MatchForm(forms.Form):
    service = forms.ModelChoiceField(queryset=Service.objects.select_related("customer"), label="Service")


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)


# --- cases ----------------------------------------------------------------------------


class OverdueFilter(admin.SimpleListFilter):
    title = "deadline"
    parameter_name = "deadline"

    def lookups(self, request, model_admin):
        return [("overdue", "Overdue"), ("open", "All open")]

    def queryset(self, request, queryset):
        if self.value() == "overdue":
            return queryset.overdue()
        if self.value() == "open":
            return queryset.open()
        return queryset


class ReportInline(admin.TabularInline):
    model = AbuseReport
    fk_name = "case"
    fields = ("received_at", "status", "format", "source_ip", "event_time", "reporter_org", "reporter_contact")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    max_num = 0


class EntryInline(admin.TabularInline):
    model = CaseEntry
    fields = ("created_at", "kind", "author", "text", "recipient", "disclosure")
    readonly_fields = fields
    extra = 0
    can_delete = False
    max_num = 0


class CaseForm(forms.ModelForm):
    note = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why the status changes (kept in the history).",
    )

    class Meta:
        model = AbuseCase
        fields = ("status", "severity", "assignee", "deadline")


class TellCustomerForm(forms.Form):
    instructions = forms.CharField(
        label="What the customer must do",
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="The email lists what was reported (reporters who are people are not named) and the deadline "
        "for the case's severity. Evidence marked 'shared with customer' on the reports is attached.",
    )


class ComplainantForm(forms.Form):
    report = forms.ModelChoiceField(queryset=AbuseReport.objects.none(), label="Answer the reporter of")
    text = forms.CharField(label="What was done", widget=forms.Textarea(attrs={"rows": 6}))
    identity_needed = forms.BooleanField(
        required=False, label="The complainant needs to know who the customer is (say why in the text)"
    )

    def __init__(self, *args, case: AbuseCase, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["report"].queryset = case.reports.exclude(reporter_contact="").exclude(
            status=AbuseReport.Status.DUPLICATE
        )
        self.fields["report"].label_from_instance = lambda r: (
            f"{r.reporter_org or r.reporter_contact} ({r.reporter_contact}) — "
            f"{'verified sender' if r.sender_verified else 'sender NOT verified: check before answering'}"
        )


class OperatorForm(forms.Form):
    operator = forms.CharField(label="Affected operator", max_length=200)
    address = forms.EmailField(label="Its abuse contact")
    text = forms.CharField(
        label="Note to the operator (optional)", required=False, widget=forms.Textarea(attrs={"rows": 3})
    )


ACTIONS = {
    "tell": ("Tell the customer", TellCustomerForm, CHANGE),
    "complainant": ("Answer the complainant", ComplainantForm, CHANGE),
    "operators": ("Notify affected operators", OperatorForm, CHANGE),
    "suspend": ("Suspend the service", ReasonForm, CONTAIN),
    "restore": ("Restore the service", ReasonForm, CONTAIN),
    "note": ("Add a note", ReasonForm, CHANGE),
}


@admin.register(AbuseCase)
class AbuseCaseAdmin(admin.ModelAdmin):
    form = CaseForm
    list_display = (
        "__str__",
        "customer",
        "status",
        "severity",
        "report_count",
        "last_report_at",
        "deadline_shown",
        "assignee",
    )
    list_filter = (OverdueFilter, "status", "severity", "category", "assignee")
    list_select_related = ("customer", "service", "assignee")
    search_fields = ("service__name", "customer__registered_name", "customer__trading_name", "reports__source_ip")
    date_hierarchy = "opened_at"
    inlines = [EntryInline, ReportInline]
    actions = ["resolve_selected", "no_action_selected"]
    readonly_fields = (
        "customer",
        "service",
        "category",
        "type",
        "opened_at",
        "last_report_at",
        "report_count",
        "customer_told_at",
        "closed_at",
    )
    fieldsets = (
        (None, {"fields": ("customer", "service", "category", "type", "report_count", "opened_at", "last_report_at")}),
        (
            "Working the case",
            {"fields": ("status", "note", "severity", "assignee", "customer_told_at", "deadline", "closed_at")},
        ),
    )
    change_form_template = "admin/privacy/abusecase/change_form.html"

    def has_add_permission(self, request) -> bool:
        return False  # cases are opened by reports

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="answer by", ordering="deadline")
    def deadline_shown(self, case: AbuseCase):
        if case.deadline is None:
            return "—"
        when = timezone.localtime(case.deadline).strftime("%d %b %Y %H:%M")
        return format_html("<strong>{} (overdue)</strong>", when) if case.is_overdue else when

    def save_model(self, request, obj: AbuseCase, form, change) -> None:
        saved = AbuseCase.objects.get(pk=obj.pk)
        if obj.severity != saved.severity or obj.assignee_id != saved.assignee_id or obj.deadline != saved.deadline:
            cases.update_case(
                saved, actor=request.user, severity=obj.severity, assignee=obj.assignee, deadline=obj.deadline
            )
        if obj.status != saved.status:
            cases.set_status(saved, status=obj.status, actor=request.user, note=form.cleaned_data.get("note", ""))
        elif form.cleaned_data.get("note"):
            cases.add_note(saved, actor=request.user, text=form.cleaned_data["note"])
        obj.refresh_from_db()

    def get_urls(self):
        return [
            path(
                "<int:case_id>/do/<str:action>/",
                self.admin_site.admin_view(self.action_view),
                name="privacy_abusecase_action",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        extra_context["case_actions"] = [
            (reverse("admin:privacy_abusecase_action", args=[object_id, key]), title)
            for key, (title, _, permission) in ACTIONS.items()
            if request.user.has_perm(permission)
        ]
        return super().change_view(request, object_id, form_url, extra_context)

    def action_view(self, request: HttpRequest, case_id: int, action: str) -> HttpResponse:
        case = get_object_or_404(AbuseCase.objects.select_related("customer", "service"), pk=case_id)
        if action not in ACTIONS:
            raise PermissionDenied
        title, form_class, permission = ACTIONS[action]
        if not request.user.has_perm(permission):
            raise PermissionDenied
        kwargs = {"case": case} if form_class is ComplainantForm else {}
        form = form_class(request.POST or None, **kwargs)
        if request.method == "POST" and form.is_valid():
            try:
                self._do(request, case, action, form.cleaned_data)
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                self.log_change(request, case, title)
                messages.success(request, f"{title}: done.")
                return HttpResponseRedirect(reverse("admin:privacy_abusecase_change", args=[case.pk]))
        return _form_page(self, request, form, f"{title} — {case}", _intro(case, action))

    @staticmethod
    def _do(request, case: AbuseCase, action: str, data: dict) -> None:
        actor = request.user
        if action == "tell":
            cases.tell_customer(case, actor=actor, instructions=data["instructions"])
        elif action == "complainant":
            cases.answer_complainant(
                case, report=data["report"], actor=actor, text=data["text"], identity_needed=data["identity_needed"]
            )
        elif action == "operators":
            cases.notify_operators(
                case, actor=actor, operator=data["operator"], address=data["address"], text=data["text"]
            )
        elif action == "suspend":
            cases.contain(case, actor=actor, reason=data["reason"])
        elif action == "restore":
            cases.restore(case, actor=actor, reason=data["reason"])
        else:
            cases.add_note(case, actor=actor, text=data["reason"])

    def _close(self, request, queryset, status: str) -> None:
        for case in queryset.open():
            cases.set_status(case, status=status, actor=request.user)
            self.log_change(request, case, f"Status: {status}")
        messages.success(request, "Done.")

    @admin.action(description="Mark selected cases resolved", permissions=["change"])
    def resolve_selected(self, request, queryset):
        self._close(request, queryset, AbuseCase.Status.RESOLVED)

    @admin.action(description="Close selected cases with no action", permissions=["change"])
    def no_action_selected(self, request, queryset):
        self._close(request, queryset, AbuseCase.Status.NO_ACTION)


def _intro(case: AbuseCase, action: str) -> str:
    deadline_hours = {s.value: s.label for s in Severity}
    return {
        "tell": f"To {case.customer}'s owners and technical contacts, about {case.service}. "
        f"Severity {deadline_hours[case.severity].lower()}: the deadline is set from now.",
        "complainant": "Recorded in the disclosure ledger. Do not name the customer unless the complainant needs it.",
        "operators": "The operator is sent the addresses, ports, times and type only — never the customer's name. "
        "Recorded in the disclosure ledger; the customer is told that the operator was informed.",
        "suspend": f"{case.service} is suspended now; its status history records the reason and the customer is told.",
        "restore": f"{case.service} is restored now; the customer is told.",
        "note": "A note for the abuse desk: the customer never sees it.",
    }[action]


def _form_page(model_admin, request, form, title: str, intro: str) -> HttpResponse:
    return TemplateResponse(
        request,
        "admin/privacy/abuse_form.html",
        {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.model._meta,
            "title": title,
            "intro": intro,
            "form": form,
        },
    )


def _action_page(model_admin, request, queryset, form, action: str, title: str) -> HttpResponse:
    return TemplateResponse(
        request,
        "admin/privacy/abuse_action.html",
        {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.model._meta,
            "title": title,
            "queryset": queryset,
            "form": form,
            "action": action,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        },
    )


# --- warnings on the admin's home page --------------------------------------------------

_site_index = admin.site.index


def index_with_abuse_warnings(request, extra_context=None):
    provider = ProviderDetails.current()
    if provider is not None and request.user.is_staff:
        expires = provider.security_txt_expires
        if expires is None:
            messages.warning(request, "security.txt is not published: set its expiry in Provider details.")
        elif expires <= timezone.now() + timezone.timedelta(days=SECURITY_TXT_WARNING_DAYS):
            state = "expired" if expires <= timezone.now() else "expires"
            messages.warning(
                request,
                format_html(
                    'security.txt {} on {}: <a href="{}">set a new expiry</a> in Provider details.',
                    state,
                    timezone.localtime(expires).strftime("%d %B %Y"),
                    reverse("admin:accounts_providerdetails_change", args=[provider.pk]),
                ),
            )
    if request.user.has_perm("privacy.view_abusecase"):
        overdue = AbuseCase.objects.overdue().count()
        if overdue:
            messages.warning(
                request,
                format_html(
                    '{} abuse case(s) are past the customer\'s deadline: <a href="{}?deadline=overdue">see them</a>.',
                    overdue,
                    reverse("admin:privacy_abusecase_changelist"),
                ),
            )
    return _site_index(request, extra_context)


admin.site.index = index_with_abuse_warnings
