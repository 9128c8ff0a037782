"""The lawful-access register in the admin.

Staff with ``privacy.handle_lawful_demand`` record a demand (the add form, which can place
a legal hold), then take it through its steps on one page per demand
(``admin:privacy_lawfuldemand_step``): the verification checklist, the decision, the second
person's approval, the disclosure package and its non-disclosure duty, the lifting of a
duty, and reviews. Records are never edited or deleted. Staff with
``privacy.publish_transparency_report`` publish a year's counts.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts.admin import AuditHistoryMixin
from core.registry import Category
from privacy.lawful import services
from privacy.lawful.models import LawfulDemand, LawfulDisclosure, Outcome, TransparencyReport

CATEGORY_CHOICES = [(category.value, category.description) for category in Category]


class RecordDemandForm(forms.ModelForm):
    categories = forms.MultipleChoiceField(choices=CATEGORY_CHOICES, widget=forms.CheckboxSelectMultiple)
    place_hold = forms.BooleanField(
        required=False,
        initial=True,
        label="Place a legal hold on the customers in scope",
        help_text="Nothing of theirs is erased or swept while the demand is pending.",
    )

    class Meta:
        model = LawfulDemand
        fields = (
            "authority",
            "officer_name",
            "officer_contact",
            "channel",
            "instrument",
            "instrument_reference",
            "instrument_date",
            "received_at",
            "customers",
            "data_requested",
            "categories",
            "period_from",
            "period_to",
            "deadline",
        )

    def _post_clean(self) -> None:
        pass  # the service checks the demand and creates it


class VerificationForm(forms.Form):
    authenticity_checked = forms.BooleanField(
        required=False, label="Authenticity confirmed through a contact we found ourselves (not the one on the request)"
    )
    authenticity_note = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="Whom you contacted, how you found them."
    )
    instrument_valid = forms.BooleanField(required=False, label="The instrument is valid and in force")
    instrument_note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    scope_specific = forms.BooleanField(required=False, label="The scope is specific (customers, data, dates)")
    scope_note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    necessity_assessment = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Voluntary requests (no compulsion): is disclosure necessary and proportionate? "
        "Disclose the minimum.",
    )


class DecisionForm(forms.Form):
    outcome = forms.ChoiceField(choices=Outcome.choices)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    disclosed_scope = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Exactly what will be sent (not for a refusal).",
    )


class DisclosureForm(forms.Form):
    package = forms.FileField(help_text="Exactly what is sent, as one file (a ZIP for several).")
    sent_to = forms.CharField(max_length=320, help_text="Where it is sent: the address checked during verification.")
    duty = forms.ChoiceField(choices=LawfulDisclosure.Duty.choices)
    duty_ends_on = forms.DateField(required=False, help_text="For a duty until a known date. YYYY-MM-DD.")
    duty_basis = forms.CharField(required=False, max_length=300, help_text="What imposes the duty.")


class LiftDutyForm(forms.Form):
    evidence = forms.CharField(max_length=300, help_text="e.g. the authority's letter of 3 March permitting notice")
    ends_on = forms.DateField(required=False, help_text="Leave empty for today.")


STEP_FORMS = {
    LawfulDemand.Status.RECEIVED: ("verify", VerificationForm, "Sign off the verification"),
    LawfulDemand.Status.VERIFIED: ("decide", DecisionForm, "Record the decision"),
    LawfulDemand.Status.DECIDED: ("approve", None, "Approve the decision (second person)"),
    LawfulDemand.Status.APPROVED: ("disclose", DisclosureForm, "Record the disclosure"),
}


@admin.register(LawfulDemand)
class LawfulDemandAdmin(AuditHistoryMixin, admin.ModelAdmin):
    form = RecordDemandForm
    list_display = ("__str__", "instrument", "status", "outcome", "received_at", "deadline", "step_link")
    list_filter = ("status", "instrument", "outcome")
    search_fields = ("=id", "authority", "instrument_reference", "customers__registered_name")
    filter_horizontal = ("customers",)
    date_hierarchy = "received_at"

    def has_handle_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(services.PERMISSION)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_handle_permission(request)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # steps go through the step page

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_fields(self, request: HttpRequest, obj=None):
        if obj is None:
            return (*RecordDemandForm.Meta.fields, "place_hold")
        return [f.name for f in LawfulDemand._meta.fields if f.name != "id"] + ["customers", "step_link"]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return () if obj is None else self.get_fields(request, obj)

    @admin.display(description="next step")
    def step_link(self, demand: LawfulDemand) -> str:
        return format_html(
            '<a href="{}">Open the steps</a>', reverse("admin:privacy_lawfuldemand_step", args=[demand.pk])
        )

    def save_model(self, request: HttpRequest, obj: LawfulDemand, form: RecordDemandForm, change: bool) -> None:
        if change:
            raise PermissionDenied("Demands are not edited.")
        data = form.cleaned_data
        fields = {name: data.get(name) for name in RecordDemandForm.Meta.fields}
        demand = services.record_demand(actor=request.user, place_hold=data["place_hold"], **fields)
        obj.pk, obj.authority, obj.instrument_reference = demand.pk, demand.authority, demand.instrument_reference
        obj._state.adding = False

    def save_related(self, request, form, formsets, change) -> None:
        pass  # the service set the customers

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if obj is None:
            base_clean = form.clean

            def clean(self_form):
                data = base_clean(self_form)
                # The service's own checks, so a problem is a form error, not a crash.
                if not self_form.errors:
                    fields = _fields(data)
                    for unchecked in ("officer_contact", "instrument_date", "received_at", "deadline"):
                        fields.pop(unchecked)
                    try:
                        services.validate_demand(**fields)
                    except ValidationError as exc:
                        raise ValidationError(exc.messages) from None
                return data

            form.clean = clean
        return form

    def get_urls(self):
        return [
            path("<int:demand_id>/step/", self.admin_site.admin_view(self.step_view), name="privacy_lawfuldemand_step"),
            *super().get_urls(),
        ]

    def step_view(self, request: HttpRequest, demand_id: int) -> HttpResponse:
        if not self.has_handle_permission(request):
            raise PermissionDenied
        demand = get_object_or_404(LawfulDemand, pk=demand_id)
        step, form_class, label = STEP_FORMS.get(demand.status, (None, None, ""))
        disclosure = LawfulDisclosure.objects.filter(demand=demand).select_related("entry").first()
        form = form_class() if form_class else None
        lift_form = LiftDutyForm() if disclosure and disclosure.duty == LawfulDisclosure.Duty.INDEFINITE else None
        if request.method == "POST":
            action = request.POST.get("step")
            try:
                if action == "lift" and lift_form is not None:
                    lift_form = LiftDutyForm(request.POST)
                    if lift_form.is_valid():
                        services.lift_duty(disclosure, actor=request.user, **lift_form.cleaned_data)
                        return self._done(request, demand, "The end of the duty is recorded.")
                elif action == "review" and disclosure is not None:
                    services.mark_reviewed(disclosure, actor=request.user)
                    return self._done(request, demand, "Recorded that the duty still applies.")
                elif action == step:
                    form = form_class(request.POST, request.FILES) if form_class else None
                    if form is None or form.is_valid():
                        self._take_step(request, demand, step, form)
                        return self._done(request, demand, f"{label}: done.")
            except ValidationError as exc:
                for message in exc.messages:
                    self.message_user(request, message, messages.ERROR)
            except services.DutyInForce as exc:
                self.message_user(request, str(exc), messages.ERROR)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": str(demand),
            "demand": demand,
            "customers": demand.customers.all(),
            "holds": demand.holds.all(),
            "disclosure": disclosure,
            "duty_in_force": disclosure is not None and services.duty_in_force(disclosure),
            "step": step,
            "label": label,
            "form": form,
            "lift_form": lift_form,
        }
        return TemplateResponse(request, "admin/privacy/lawfuldemand/step.html", context)

    def _done(self, request: HttpRequest, demand: LawfulDemand, message: str) -> HttpResponse:
        self.message_user(request, message, messages.SUCCESS)
        return redirect("admin:privacy_lawfuldemand_step", demand.pk)

    def _take_step(self, request: HttpRequest, demand: LawfulDemand, step: str, form) -> None:
        actor = request.user
        if step == "verify":
            services.sign_off_verification(demand, actor=actor, **form.cleaned_data)
        elif step == "decide":
            services.decide(demand, actor=actor, **form.cleaned_data)
        elif step == "approve":
            services.approve_decision(demand, actor=actor)
        elif step == "disclose":
            upload = form.cleaned_data.pop("package")
            services.disclose(demand, actor=actor, content=upload.read(), filename=upload.name, **form.cleaned_data)


def _fields(data: dict) -> dict:
    fields = {name: data.get(name) for name in RecordDemandForm.Meta.fields}
    fields["customers"] = list(fields["customers"] or [])
    fields["categories"] = fields["categories"] or []
    for text in ("authority", "officer_name", "officer_contact", "instrument_reference", "data_requested"):
        fields[text] = fields[text] or ""
    return fields


@admin.register(LawfulDisclosure)
class LawfulDisclosureAdmin(AuditHistoryMixin, admin.ModelAdmin):
    list_display = ("__str__", "sent_at", "duty", "duty_ends_on", "customers_told_at", "last_reviewed_at")
    list_filter = ("duty", ("customers_told_at", admin.EmptyFieldListFilter))
    list_select_related = ("demand",)
    actions = ["mark_reviewed", "tell_customers"]
    readonly_fields = [f.name for f in LawfulDisclosure._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # recorded from the demand's step page

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_handle_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(services.PERMISSION)

    @admin.action(description="Reviewed: the non-disclosure duty still applies", permissions=["handle"])
    def mark_reviewed(self, request: HttpRequest, queryset) -> None:
        for disclosure in queryset:
            services.mark_reviewed(disclosure, actor=request.user)
        self.message_user(request, f"Marked {queryset.count()} as reviewed.", messages.SUCCESS)

    @admin.action(description="Tell the customers now (refused while a duty applies)", permissions=["handle"])
    def tell_customers(self, request: HttpRequest, queryset) -> None:
        for disclosure in queryset:
            try:
                sent = services.notify_customers(disclosure, actor=request.user)
            except services.DutyInForce as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(request, f"{disclosure}: {sent} customer(s) emailed.", messages.SUCCESS)


class PublishForm(forms.ModelForm):
    class Meta:
        model = TransparencyReport
        fields = ("year",)

    def clean_year(self) -> int:
        year = self.cleaned_data["year"]
        if year >= timezone.localdate().year:
            raise ValidationError(f"{year} is not over yet: a year is published once it has ended.")
        return year

    def validate_unique(self) -> None:
        pass  # publishing a year again replaces its counts


@admin.register(TransparencyReport)
class TransparencyReportAdmin(AuditHistoryMixin, admin.ModelAdmin):
    form = PublishForm
    list_display = ("year", "published_at", "published_by")
    actions = ["republish"]

    def has_publish_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(services.PUBLISH_PERMISSION)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_publish_permission(request)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_fields(self, request: HttpRequest, obj=None):
        return ("year",) if obj is None else ("year", "counts", "published_by", "published_at")

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return () if obj is None else ("year", "counts", "published_by", "published_at")

    def save_model(self, request: HttpRequest, obj: TransparencyReport, form, change: bool) -> None:
        report = services.publish_transparency_report(form.cleaned_data["year"], actor=request.user)
        obj.pk, obj.year = report.pk, report.year
        obj._state.adding = False

    @admin.action(description="Publish again with today's counts", permissions=["publish"])
    def republish(self, request: HttpRequest, queryset) -> None:
        for report in queryset:
            services.publish_transparency_report(report.year, actor=request.user)
        self.message_user(request, f"Published {queryset.count()} year(s) again.", messages.SUCCESS)
