"""The staff queue of data-subject requests, and processing restrictions.

Every change goes through ``privacy.services.requests``: the actions here collect what a
step needs (a reason, a question, a note) on an intermediate page and call the service.
Fulfilment and refusal need the named permission ``privacy.fulfil_request``.
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts.adminkit import ViewOnlyPage, customer_filter
from accounts.staff_files import serve_to_staff
from privacy import deadlines
from privacy.authority import CONTENT_TYPES
from privacy.forms import ExtendForm, FeeForm, FulfilForm, PauseForm, RefuseForm, RespondForm
from privacy.models import DataSubjectRequest, ProcessingRestriction
from privacy.services import requests as services

ART19_KINDS = {
    DataSubjectRequest.Kind.RECTIFICATION,
    DataSubjectRequest.Kind.ERASURE,
    DataSubjectRequest.Kind.RESTRICTION,
}


def days_left_text(dsr: DataSubjectRequest) -> tuple[str, str]:
    """How long is left to answer ``dsr``, in words, and how urgent that is ("", "soon", "overdue")."""
    if dsr.closed_at:
        return "—", ""
    paused = deadlines.paused_since(dsr)
    if paused is not None:
        return f"paused since {paused:%-d %b %Y}", ""
    left = deadlines.days_left(dsr)
    if left is None:
        return "not started", ""
    if left < 0:
        return f"{-left} overdue", "overdue"
    return str(left), "soon" if left <= 7 else "running"


def requester_of(dsr: DataSubjectRequest) -> str:
    """Who asked, as staff know them: the customer, the person, or the name and address given."""
    if dsr.customer_id:
        return str(dsr.customer)
    if dsr.person_id:
        return str(dsr.person)
    return dsr.requester_name or dsr.requester_email or "—"


class DueFilter(admin.SimpleListFilter):
    title = "deadline"
    parameter_name = "due"

    def lookups(self, request, model_admin):
        return [("overdue", "Overdue"), ("week", "Due within 7 days"), ("open", "All open")]

    def queryset(self, request, queryset):
        today = timezone.localdate()
        active = queryset.filter(status__in=services.ACTIVE_STATUSES)
        running = queryset.filter(status__in=services.RUNNING_STATUSES)  # a paused clock is not due
        match self.value():
            case "overdue":
                return running.filter(due_on__lt=today)
            case "week":
                return running.filter(due_on__gte=today, due_on__lte=today + dt.timedelta(days=7))
            case "open":
                return active
        return queryset


class StaffRequestForm(forms.ModelForm):
    """Entering a request that came by letter or telephone."""

    identity_confirmed = forms.BooleanField(
        required=False,
        initial=True,
        label="Identity confirmed",
        help_text="Ticked: the clock runs from the date received. Unticked: we email the requester a "
        "confirmation link and the clock starts when they follow it.",
    )

    class Meta:
        model = DataSubjectRequest
        fields = ["kind", "regime", "customer", "person", "requester_name", "requester_email", "details", "received_at"]

    def clean(self) -> dict:
        data = super().clean()
        try:
            services.check_kind_for_regime(data.get("kind", ""), data.get("regime", ""))
        except ValidationError as exc:
            self.add_error("kind", exc.message_dict["kind"])
        if data.get("received_at") and data["received_at"] > timezone.now():
            self.add_error("received_at", "The request cannot have been received in the future.")
        if not data.get("customer") and not data.get("person"):
            raise ValidationError("Choose the customer, the person, or both.")
        if not data.get("requester_email") and not data.get("person"):
            self.add_error("requester_email", "We need an address to answer the request.")
        return data


@admin.register(DataSubjectRequest)
class DataSubjectRequestAdmin(admin.ModelAdmin):
    # Fits 1280 px: the regime and channel are filters and on the request's page.
    list_display = ("id", "kind", "requester", "status", "due_on", "days_left", "assignee")
    list_display_links = ("id", "kind")
    list_filter = (
        "status", DueFilter, "kind", "regime", "channel", ("assignee", admin.RelatedOnlyFieldListFilter),
        customer_filter(),
    )  # fmt: skip
    list_select_related = ("customer", "assignee")
    search_fields = (
        "=id",
        "requester_email",
        "requester_name",
        "agent_email",
        "customer__registered_name",
        "customer__trading_name",
    )
    date_hierarchy = "received_at"
    autocomplete_fields = ("customer", "person")

    class Media:
        css = {"all": ["privacy/admin.css"]}

    def get_urls(self):
        own = [
            path(
                "<path:object_id>/authority/",
                self.admin_site.admin_view(self.authority_view),
                name="privacy_datasubjectrequest_authority",
            )
        ]
        return own + super().get_urls()

    def authority_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The agent's written authority, to staff who may see the request; never cached."""
        dsr = self.get_object(request, object_id)
        if dsr is None or not dsr.agent_authority:
            raise Http404("No written authority on this request.")
        kind = dsr.agent_authority.name.rsplit(".", 1)[-1].lower()
        return serve_to_staff(
            request,
            obj=dsr,
            file=dsr.agent_authority,
            sha256="",  # checked as a real PDF or image when received (privacy.authority)
            filename=f"authority-request-{dsr.pk}.{kind}",
            content_type=CONTENT_TYPES.get(kind, "application/octet-stream"),
            permission="privacy.view_datasubjectrequest",
            what="the written authority",
        )

    @admin.display(description="Written authority")
    def authority(self, obj: DataSubjectRequest):
        if not obj.agent_authority:
            return "—"
        url = reverse("admin:privacy_datasubjectrequest_authority", args=[obj.pk])
        return format_html('<a href="{}">Open the written authority</a>', url)

    actions = ["assign_to_me", "pause", "resume", "extend", "charge_fee", "fulfil", "respond", "refuse"]
    readonly_fields = (
        "kind",
        "regime",
        "channel",
        "status",
        "customer",
        "person",
        "requester_name",
        "requester_email",
        "agent_name",
        "agent_email",
        "authority",
        "agent_confirmed_at",
        "details",
        "received_at",
        "confirmed_at",
        "due_on",
        "days_left",
        "confirm_due_on",
        "paused_days",
        "paused_at",
        "extended",
        "extension_reason",
        "assignee",
        "fee_charged",
        "refusal_reason",
        "response",
        "closed_at",
        "recipients_to_notify",
        "restrictions_in_force",
        "exports_and_erasures",
        "notes",
    )
    fieldsets = (
        ("Request", {"fields": ("kind", "regime", "channel", "status", "details", "recipients_to_notify")}),
        ("Whose data", {"fields": ("customer", "person", "requester_name", "requester_email")}),
        (
            "Agent",
            {
                "fields": ("agent_name", "agent_email", "authority", "agent_confirmed_at"),
                "classes": ("collapse",),
            },
        ),
        (
            "Deadlines",
            {
                "fields": (
                    "received_at",
                    "confirmed_at",
                    "due_on",
                    "days_left",
                    "confirm_due_on",
                    "paused_days",
                    "paused_at",
                    "extended",
                    "extension_reason",
                )
            },
        ),
        (
            "Handling",
            {
                "fields": (
                    "assignee",
                    "fee_charged",
                    "refusal_reason",
                    "response",
                    "closed_at",
                    "restrictions_in_force",
                    "exports_and_erasures",
                    "notes",
                    "add_note",
                )
            },
        ),
    )

    class NoteForm(forms.ModelForm):
        add_note = forms.CharField(
            required=False,
            widget=forms.Textarea(attrs={"rows": 3}),
            help_text="Appended to the notes with your name and the time.",
        )

        class Meta:
            model = DataSubjectRequest
            fields: list[str] = []

    form = NoteForm

    # -- add: staff intake ------------------------------------------------------------

    def get_form(self, request: HttpRequest, obj=None, change: bool = False, **kwargs):
        if obj is None:
            kwargs["form"] = StaffRequestForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj=None):
        if obj is None:
            return [(None, {"fields": [*StaffRequestForm.Meta.fields, "identity_confirmed"]})]
        return self.fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return () if obj is None else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: DataSubjectRequest, form, change: bool) -> None:
        if change:
            if form.cleaned_data.get("add_note"):
                services.add_note(obj, text=form.cleaned_data["add_note"], actor=request.user)
            return
        data = form.cleaned_data
        created = services.open_staff_request(
            kind=data["kind"],
            regime=data["regime"],
            customer=data.get("customer"),
            person=data.get("person"),
            requester_name=data.get("requester_name", ""),
            requester_email=data.get("requester_email", ""),
            details=data.get("details", ""),
            received_at=data.get("received_at"),
            identity_confirmed=data.get("identity_confirmed", False),
            actor=request.user,
            link_base=request.build_absolute_uri("/"),
        )
        obj.pk = created.pk
        obj._state.adding = False
        obj.refresh_from_db()

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # request records are kept 24 months after closing (retention sweep)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("customer", "person", "assignee")

    # -- columns ----------------------------------------------------------------------

    @admin.display(description="Days left", ordering="due_on")
    def days_left(self, obj: DataSubjectRequest) -> str:
        text, urgency = days_left_text(obj)
        return format_html('<strong class="days-left {}">{}</strong>', urgency, text) if urgency else text

    @admin.display(description="Requester", ordering="customer__registered_name")
    def requester(self, obj: DataSubjectRequest) -> str:
        return requester_of(obj)

    @admin.display(description="Recipients to notify (Art 19)")
    def recipients_to_notify(self, obj: DataSubjectRequest) -> str:
        if obj.kind not in ART19_KINDS:
            return "Not applicable to this kind of request."
        try:
            url = reverse("admin:privacy_recipientnotification_for_request", args=[obj.pk])
        except NoReverseMatch:
            return "The recipient notification page is not available yet."
        return format_html('<a href="{}">Tell each recipient of this customer\'s data (UK GDPR Art 19)</a>', url)

    @admin.display(description="Restrictions")
    def restrictions_in_force(self, obj: DataSubjectRequest) -> str:
        items = [
            f"#{r.pk} {r.get_kind_display().split(':')[0]}" + (" (lifted)" if r.lifted_at else " (in force)")
            for r in obj.restrictions.all()
        ]
        return ", ".join(items) or "—"

    @admin.display(description="Exports and erasures")
    def exports_and_erasures(self, obj: DataSubjectRequest) -> str:
        items = [f"Export #{e.pk}: {e.get_status_display()}" for e in obj.exports.all()]
        items += [f"Erasure run #{r.pk} on {r.ran_at:%Y-%m-%d}" for r in obj.erasure_runs.all()]
        return "; ".join(items) or "—"

    # -- actions ----------------------------------------------------------------------

    def has_fulfil_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("privacy.fulfil_request")

    def _each(self, request: HttpRequest, queryset: QuerySet, step, done: str) -> None:
        ok = 0
        for dsr in queryset:
            try:
                step(dsr)
            except (ValidationError, ValueError) as exc:
                text = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
                self.message_user(request, f"{dsr}: {text}", messages.ERROR)
            else:
                ok += 1
        if ok:
            self.message_user(request, f"{done}: {ok} request(s).", messages.SUCCESS)

    def _with_form(
        self,
        request: HttpRequest,
        queryset: QuerySet,
        form_class,
        *,
        action: str,
        title: str,
        intro: str,
        step,
        done: str,
        extra_context: dict | None = None,
    ) -> HttpResponse | None:
        """An intermediate page asking for what the step needs (Django admin action pattern)."""
        form = form_class(request.POST if "confirm" in request.POST else None)
        if "confirm" in request.POST and form.is_valid():
            self._each(request, queryset, lambda dsr: step(dsr, form.cleaned_data), done)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "intro": intro,
            "opts": self.model._meta,
            "queryset": queryset,
            "form": form,
            "action": action,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            **(extra_context or {}),
        }
        return render(request, "privacy/request_admin_action.html", context)

    @admin.action(description="Assign to me", permissions=["change"])
    def assign_to_me(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(
            request,
            queryset,
            lambda dsr: services.assign(dsr, assignee=request.user, actor=request.user),
            "Assigned to you",
        )

    @admin.action(description="Pause for clarification…", permissions=["change"])
    def pause(self, request: HttpRequest, queryset: QuerySet):
        return self._with_form(
            request,
            queryset,
            PauseForm,
            action="pause",
            title="Pause for clarification",
            intro="The requester is emailed your question; the clock stands still until you resume.",
            step=lambda dsr, data: services.pause_for_clarification(dsr, question=data["question"], actor=request.user),
            done="Paused",
        )

    @admin.action(description="Resume (clarification or fee received)", permissions=["change"])
    def resume(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(request, queryset, lambda dsr: services.resume(dsr, actor=request.user), "Resumed")

    @admin.action(description="Extend, with reasons…", permissions=["change"])
    def extend(self, request: HttpRequest, queryset: QuerySet):
        return self._with_form(
            request,
            queryset,
            ExtendForm,
            action="extend",
            title="Extend the deadline",
            intro="Two further months (CCPA: 45 days), once, and only before the original deadline. "
            "The requester is emailed the new date and your reasons.",
            step=lambda dsr, data: services.extend(dsr, reason=data["reason"], actor=request.user),
            done="Extended",
        )

    @admin.action(description="Ask for a fee…", permissions=["fulfil"])
    def charge_fee(self, request: HttpRequest, queryset: QuerySet):
        return self._with_form(
            request,
            queryset,
            FeeForm,
            action="charge_fee",
            title="Ask for a fee",
            intro="Only for manifestly unfounded or excessive requests, or further copies. The clock waits for "
            "the fee: resume the request when it arrives.",
            step=lambda dsr, data: services.charge_fee(
                dsr, amount=data["amount"], ground=data["ground"], actor=request.user
            ),
            done="Fee asked for",
        )

    @admin.action(description="Fulfil and respond…", permissions=["fulfil"])
    def fulfil(self, request: HttpRequest, queryset: QuerySet):
        return self._with_form(
            request,
            queryset,
            FulfilForm,
            action="fulfil",
            title="Fulfil",
            intro="Access, portability and right to know: a data export is prepared. Erasure: the erasure "
            "engine runs and the person is told what was erased and what was kept. Restriction, objection: a "
            "flag the portal honours. Withdrawal of consent: live consents are withdrawn. Rectification: "
            "correct the data in the customer admin first, then say here what you changed. The requester is "
            "emailed and the request closed.",
            step=lambda dsr, data: services.fulfil(dsr, actor=request.user, note=data["note"]),
            done="Fulfilled",
            # Staff see what an erasure will do before it runs.
            extra_context={
                "erasure_plans": [
                    (dsr, services.erasure_plan_for(dsr))
                    for dsr in queryset
                    if dsr.kind == DataSubjectRequest.Kind.ERASURE and (dsr.customer_id or dsr.person_id)
                ]
            },
        )

    @admin.action(description="Respond and close…", permissions=["change"])
    def respond(self, request: HttpRequest, queryset: QuerySet):
        return self._with_form(
            request,
            queryset,
            RespondForm,
            action="respond",
            title="Respond and close",
            intro="Your text is emailed to the requester through the mail gateway, and the request is closed.",
            step=lambda dsr, data: services.respond(dsr, text=data["text"], actor=request.user),
            done="Answered",
        )

    @admin.action(description="Refuse, with the ground…", permissions=["fulfil"])
    def refuse(self, request: HttpRequest, queryset: QuerySet):
        return self._with_form(
            request,
            queryset,
            RefuseForm,
            action="refuse",
            title="Refuse",
            intro="Only when the request is manifestly unfounded or excessive, or an exemption applies. The "
            "requester is emailed the ground and their right to complain.",
            step=lambda dsr, data: services.refuse(dsr, reason=data["reason"], actor=request.user),
            done="Refused",
        )


class ActiveFilter(admin.SimpleListFilter):
    title = "in force"
    parameter_name = "in_force"

    def lookups(self, request, model_admin):
        return [("yes", "In force"), ("no", "Lifted")]

    def queryset(self, request, queryset):
        match self.value():
            case "yes":
                return queryset.filter(lifted_at__isnull=True)
            case "no":
                return queryset.filter(lifted_at__isnull=False)
        return queryset


@admin.register(ProcessingRestriction)
class ProcessingRestrictionAdmin(ViewOnlyPage, admin.ModelAdmin):
    list_display = ("id", "kind", "customer", "person", "scope", "request", "started_at", "lifted_at")
    list_filter = (ActiveFilter, "kind")
    list_select_related = ("customer", "person", "request")
    search_fields = ("customer__registered_name", "person__email", "scope")
    readonly_fields = ("kind", "customer", "person", "scope", "request", "started_at", "lifted_at")
    actions = ["lift"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # created by fulfilling a restriction or objection request

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.action(description="Lift the selected restrictions", permissions=["change"])
    def lift(self, request: HttpRequest, queryset: QuerySet) -> None:
        lifted = sum(services.lift_restriction(r, actor=request.user) for r in queryset)
        self.message_user(request, f"Lifted {lifted} restriction(s).", messages.SUCCESS)
