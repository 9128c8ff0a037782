"""Legal holds in the admin, and the retention sweep's dry-run report.

Placing and lifting go through ``privacy.services.holds`` (one write path) and need the
``privacy.manage_legal_hold`` permission; a hold is never edited or deleted, only lifted,
so the record of who held what and why stays. The report page
(``admin:privacy_legalhold_retention_report``) shows what the next retention sweep will
delete or anonymise, and what holds and references keep back.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from accounts.adminkit import customer_filter
from core.registry import declarations
from privacy.models import LegalHold
from privacy.services import holds, retention
from privacy.services.erasure import model_of

MANAGE_PERMISSION = "privacy.manage_legal_hold"


def _holdable_content_types() -> list[int]:
    models = [model_of(d) for d in declarations() if holds.customer_route(d) is not None]
    return [ct.pk for ct in ContentType.objects.get_for_models(*models, for_concrete_models=True).values()]


class PlaceHoldForm(forms.ModelForm):
    """A hold on a whole customer (leave the record empty) or on one record of theirs."""

    class Meta:
        model = LegalHold
        fields = ("customer", "target_type", "target_id", "reason")
        labels = {"target_type": "Kind of record", "target_id": "Record id"}
        help_texts = {
            "target_type": "Leave empty to hold every record of the customer.",
            "target_id": "The id of the one record to hold, e.g. a service's number.",
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if "target_type" in self.fields:
            self.fields["target_type"].queryset = ContentType.objects.filter(pk__in=_holdable_content_types())

    def clean(self) -> dict:
        data = super().clean()
        target_type, target_id = data.get("target_type"), (data.get("target_id") or "").strip()
        data["target"] = None
        if bool(target_type) != bool(target_id):
            raise ValidationError("Give both the kind of record and its id, or neither to hold the whole customer.")
        if target_type and data.get("customer"):
            try:
                target = target_type.get_object_for_this_type(pk=target_id)
            except (ObjectDoesNotExist, ValueError, ValidationError):
                raise ValidationError({"target_id": f"There is no {target_type.name} with id {target_id}."}) from None
            holds.validate_target(data["customer"], target)
            data["target"] = target
        return data


@admin.register(LegalHold)
class LegalHoldAdmin(admin.ModelAdmin):
    form = PlaceHoldForm
    list_display = ("__str__", "customer", "short_reason", "placed_by", "placed_at", "is_active", "lifted_at")
    list_filter = (("lifted_at", admin.EmptyFieldListFilter), "placed_at", customer_filter())
    list_select_related = ("customer", "target_type", "placed_by")
    search_fields = ("reason", "customer__registered_name", "customer__trading_name", "target_id")
    autocomplete_fields = ("customer",)
    date_hierarchy = "placed_at"
    actions = ["lift_selected"]
    readonly_fields = ("placed_by", "placed_at", "lifted_by", "lifted_at")

    @admin.display(description="reason")
    def short_reason(self, hold: LegalHold) -> str:
        return hold.reason if len(hold.reason) <= 80 else hold.reason[:79] + "…"

    @admin.display(description="active", boolean=True)
    def is_active(self, hold: LegalHold) -> bool:
        return hold.lifted_at is None

    # -- permissions: place and lift through the services, never edit or delete ---------

    def has_manage_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(MANAGE_PERMISSION)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_manage_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: LegalHold | None = None) -> bool:
        # A hold is never edited (its reason is the record); the change view is read-only.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: LegalHold | None = None) -> bool:
        return False

    def get_fields(self, request: HttpRequest, obj: LegalHold | None = None):
        if obj is None:
            return ("customer", "target_type", "target_id", "reason")
        return ("customer", "target_type", "target_id", "reason", *self.readonly_fields)

    def save_model(self, request: HttpRequest, obj: LegalHold, form: forms.ModelForm, change: bool) -> None:
        if change:
            raise PermissionDenied("Holds are not edited; lift this one and place a new one.")
        hold = holds.place_hold(
            form.cleaned_data["customer"],
            reason=form.cleaned_data["reason"],
            actor=request.user,
            target=form.cleaned_data.get("target"),
        )
        # The admin logs and redirects to ``obj``: make it the hold the service created.
        obj.pk, obj.placed_by, obj.placed_at, obj.reason = hold.pk, hold.placed_by, hold.placed_at, hold.reason
        obj._state.adding = False

    @admin.action(description="Lift selected holds", permissions=["manage"])
    def lift_selected(self, request: HttpRequest, queryset) -> None:
        lifted = 0
        for hold in queryset.filter(lifted_at__isnull=True):
            try:
                holds.lift_hold(hold, actor=request.user)
            except ValidationError:
                continue
            lifted += 1
        skipped = queryset.count() - lifted
        self.message_user(request, f"Lifted {lifted} hold(s).", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"{skipped} hold(s) were already lifted.", messages.WARNING)

    # -- the retention sweep's dry run -----------------------------------------------------

    def get_urls(self):
        report = path(
            "retention-report/",
            self.admin_site.admin_view(self.retention_report_view),
            name="privacy_legalhold_retention_report",
        )
        return [report, *super().get_urls()]

    def retention_report_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_manage_permission(request):
            raise PermissionDenied
        report = retention.sweep(dry_run=True)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "What the next retention sweep will do",
            "report": report,
            "rows": sorted(report.models, key=lambda m: (-(m.due + m.held + m.blocked), m.model)),
            "active_holds": LegalHold.objects.active().count(),
            "generated_at": timezone.now(),
        }
        return TemplateResponse(request, "admin/privacy/legalhold/retention_report.html", context)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        extra_context = {**(extra_context or {}), "can_see_retention_report": self.has_manage_permission(request)}
        return super().changelist_view(request, extra_context)
