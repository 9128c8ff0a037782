"""Admin for policy versions, consents, acknowledgements and instructions for after death.

A policy version starts as a draft (``privacy.services.policies.save_draft``), which staff
edit and preview as the public page will show it, then publish (``policies.publish``); it
is read-only once published: the public history must show what was actually in force.
Consents, acknowledgements and instructions are the person's own records: staff read
them, and only the person changes them (in the privacy centre).
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from privacy import markdown
from privacy.models import ConsentRecord, PolicyAcknowledgement, PolicyVersion, PostMortemInstruction
from privacy.services import policies


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class PolicyDraftForm(forms.ModelForm):
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
    """New versions start as drafts: staff edit them, preview them as the public page will
    show them, then publish. A published version can be viewed, never changed or deleted."""

    list_display = [
        "__str__",
        "state",
        "effective_from",
        "material_change",
        "published_at",
        "notice_sent_at",
        "acknowledgement_count",
    ]
    list_filter = ["document", "material_change", ("published_at", admin.EmptyFieldListFilter)]
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
        "text_as_shown",
    ]

    def get_queryset(self, request: HttpRequest):
        from django.db.models import Count

        return super().get_queryset(request).annotate(ack_count=Count("acknowledgements"))

    @admin.display(description="Acknowledged by", ordering="ack_count")
    def acknowledgement_count(self, obj: PolicyVersion) -> int:
        return obj.ack_count

    @admin.display(description="State", ordering="published_at")
    def state(self, obj: PolicyVersion) -> str:
        return "Draft" if obj.is_draft else "Published"

    @admin.display(description="The text as customers see it")
    def text_as_shown(self, obj: PolicyVersion):
        return format_html('<div class="policy-text">{}</div>', markdown.to_html(obj.body))

    @admin.display(description="Next")
    def next_steps(self, obj: PolicyVersion):
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">Preview</a> (as the public page will show it) · '
            '<a href="{}">Publish…</a> · Save your changes first: the preview shows the saved draft.',
            reverse("admin:privacy_policyversion_preview", args=[obj.pk]),
            reverse("admin:privacy_policyversion_publish", args=[obj.pk]),
        )

    def get_form(self, request: HttpRequest, obj=None, change=False, **kwargs):
        if obj is None or obj.is_draft:
            kwargs["form"] = PolicyDraftForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        if obj is None:
            return []
        return ["next_steps"] if obj.is_draft else self.readonly_fields

    def get_fields(self, request: HttpRequest, obj=None):
        if obj is None:
            return PolicyDraftForm.Meta.fields
        return ["next_steps", *PolicyDraftForm.Meta.fields] if obj.is_draft else self.readonly_fields

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        # Published versions are history: never edited. Publish a new version instead.
        if obj is not None and not obj.is_draft:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        if obj is not None and not obj.is_draft:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: PolicyVersion, form, change: bool) -> None:
        saved = policies.save_draft(
            document=obj.document,
            body=obj.body,
            effective_from=obj.effective_from,
            material_change=obj.material_change,
            summary=obj.summary_of_changes,
            actor=request.user,
            draft=obj if change else None,
        )
        # The admin logs and redirects using ``obj``: make it the saved row.
        obj.pk = saved.pk
        obj._state.adding = False

    def response_add(self, request: HttpRequest, obj: PolicyVersion, post_url_continue=None):
        messages.success(request, "Draft saved. Preview it, change it if needed, then publish it.")
        return redirect("admin:privacy_policyversion_change", obj.pk)

    def get_urls(self):
        return [
            path(
                "<int:pk>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="privacy_policyversion_preview",
            ),
            path(
                "<int:pk>/publish/",
                self.admin_site.admin_view(self.publish_view),
                name="privacy_policyversion_publish",
            ),
            *super().get_urls(),
        ]

    def preview_view(self, request: HttpRequest, pk: int):
        """The draft in the public page's own template, so staff see exactly what customers will."""
        version = get_object_or_404(PolicyVersion, pk=pk)
        if not self.has_view_permission(request, version):
            raise PermissionDenied
        if not version.is_draft:
            return redirect("privacy:policy_version", version.document, version.version)
        return render(
            request,
            "privacy/policy_version.html",
            {
                "policy": version,
                "preview": True,
                "upcoming": version.effective_from > timezone.localdate(),
                "preview_back": reverse("admin:privacy_policyversion_change", args=[version.pk]),
            },
        )

    def publish_view(self, request: HttpRequest, pk: int):
        """Publishing is a step of its own: the rendered text and what will happen, then a button."""
        version = get_object_or_404(PolicyVersion, pk=pk)
        if not version.is_draft:
            messages.info(request, f"{version} is already published.")
            return redirect("admin:privacy_policyversion_change", version.pk)
        if not self.has_change_permission(request, version):
            raise PermissionDenied
        errors: list[str] = []
        if request.method == "POST":
            try:
                published = policies.publish(version, actor=request.user)
            except ValidationError as exc:
                errors = exc.messages
            else:
                messages.success(request, f"Published {published}.")
                return redirect("admin:privacy_policyversion_change", published.pk)
        notice_from = version.effective_from - dt.timedelta(days=policies.notice_days())
        context = {
            **self.admin_site.each_context(request),
            "title": f"Publish {version}",
            "opts": self.model._meta,
            "original": version,
            "version": version,
            "text": markdown.to_html(version.body),
            "summary": markdown.to_html(version.summary_of_changes),
            "notice_from": max(notice_from, timezone.localdate()),
            "preview_url": reverse("admin:privacy_policyversion_preview", args=[version.pk]),
            "errors": errors,
        }
        return render(request, "admin/privacy/policyversion/publish.html", context)


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
