"""Admin for policy versions, consents, acknowledgements and instructions for after death.

Policy versions are published through ``privacy.services.policies.publish_version`` and
are read-only once published: the public history must show what was actually in force.
Consents, acknowledgements and instructions are the person's own records: staff read
them, and only the person changes them (in the privacy centre).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from privacy.models import ConsentRecord, PolicyAcknowledgement, PolicyVersion, PostMortemInstruction
from privacy.services import policies


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class NewPolicyVersionForm(forms.ModelForm):
    class Meta:
        model = PolicyVersion
        fields = ["document", "effective_from", "material_change", "summary_of_changes", "body"]

    def clean(self) -> dict:
        data = super().clean()
        if not self.errors:
            try:
                policies.check_new_version(
                    document=data["document"],
                    effective_from=data["effective_from"],
                    material_change=data.get("material_change", False),
                    summary=data.get("summary_of_changes", ""),
                )
            except ValidationError as exc:
                self.add_error(None, exc)  # each message lands on the field it names
        return data


@admin.register(PolicyVersion)
class PolicyVersionAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "effective_from",
        "material_change",
        "published_at",
        "notice_sent_at",
        "acknowledgement_count",
    ]
    list_filter = ["document", "material_change"]
    date_hierarchy = "effective_from"
    readonly_fields = [
        "document",
        "version",
        "effective_from",
        "material_change",
        "summary_of_changes",
        "body",
        "published_at",
        "notice_sent_at",
    ]

    def get_queryset(self, request: HttpRequest):
        from django.db.models import Count

        return super().get_queryset(request).annotate(ack_count=Count("acknowledgements"))

    @admin.display(description="Acknowledged by", ordering="ack_count")
    def acknowledgement_count(self, obj: PolicyVersion) -> int:
        return obj.ack_count

    def get_form(self, request: HttpRequest, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = NewPolicyVersionForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return self.readonly_fields if obj is not None else []

    def get_fields(self, request: HttpRequest, obj=None):
        if obj is None:
            return NewPolicyVersionForm.Meta.fields
        return self.readonly_fields

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        # Published versions are history: never edited. Publish a new version instead.
        if obj is not None and obj.published_at is not None:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        if obj is not None and obj.published_at is not None:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: PolicyVersion, form, change: bool) -> None:
        if change:
            raise ValidationError("Published policy versions cannot be changed.")
        published = policies.publish_version(
            document=obj.document,
            body=obj.body,
            effective_from=obj.effective_from,
            material_change=obj.material_change,
            summary=obj.summary_of_changes,
            actor=request.user,
        )
        # The admin logs and redirects using ``obj``: make it the published row.
        obj.pk, obj.version, obj.published_at = published.pk, published.version, published.published_at
        obj._state.adding = False


@admin.register(ConsentRecord)
class ConsentRecordAdmin(ReadOnlyAdmin):
    list_display = ["person", "purpose", "wording_version", "method", "given_at", "withdrawn_at"]
    list_filter = ["purpose", ("withdrawn_at", admin.EmptyFieldListFilter)]
    search_fields = ["person__email"]
    list_select_related = ["person"]
    date_hierarchy = "given_at"


@admin.register(PolicyAcknowledgement)
class PolicyAcknowledgementAdmin(ReadOnlyAdmin):
    list_display = ["person", "version", "acknowledged_at"]
    list_filter = ["version__document"]
    search_fields = ["person__email"]
    list_select_related = ["person", "version"]


@admin.register(PostMortemInstruction)
class PostMortemInstructionAdmin(ReadOnlyAdmin):
    list_display = ["person", "updated_at"]
    search_fields = ["person__email"]
    list_select_related = ["person"]
    fields = ["person", "instructions", "updated_at"]
