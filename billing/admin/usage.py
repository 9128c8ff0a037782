"""Usage in the admin: a plan's usage terms (edited with the plan) and collector tokens,
issued (the secret shown once) and revoked."""

from __future__ import annotations

from django.contrib import admin, messages
from django.template.response import TemplateResponse

from billing.usage.models import CollectorToken, UsageTerms


class UsageTermsInline(admin.StackedInline):
    """The plan's usage component, if it bills bandwidth; measured per calendar month and
    billed in arrears (docs/usage.md)."""

    model = UsageTerms
    extra = 0
    max_num = 1
    fields = ["method", "directions", "allowance_gb", "price_per_gb", "commit_mbps", "price_per_mbps"]


@admin.register(CollectorToken)
class CollectorTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "created_at", "created_by", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix"]
    actions = ["revoke"]
    readonly_after_creation = ["prefix", "created_at", "created_by", "last_used_at", "revoked_at", "revoked_by"]

    def get_fields(self, request, obj=None):
        return ["name", *self.readonly_after_creation] if obj else ["name"]

    def get_readonly_fields(self, request, obj=None):
        return ["name", *self.readonly_after_creation] if obj else []

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoked, never deleted: its name and dates say which collector sent what

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm("billing.revoke_collectortoken")

    def save_model(self, request, obj, form, change) -> None:
        if change:
            return
        token, secret = CollectorToken.issue(name=obj.name, actor=request.user)
        obj.pk, obj.prefix, obj.created_at = token.pk, token.prefix, token.created_at
        request.collector_secret = secret  # shown once, by response_add; never stored

    def response_add(self, request, obj, post_url_continue=None):
        return TemplateResponse(
            request,
            "admin/billing/collector_token_created.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Token for {obj.name}",
                "token": obj,
                "secret": request.collector_secret,
                "opts": self.model._meta,
            },
        )

    @admin.action(description="Revoke the selected tokens (collectors using them are refused)", permissions=["revoke"])
    def revoke(self, request, queryset) -> None:
        revoked = [token.name for token in queryset if token.revoke(actor=request.user)]
        if revoked:
            self.message_user(request, f"Revoked: {', '.join(revoked)}.", messages.SUCCESS)
        else:
            self.message_user(request, "Those tokens were revoked already.", messages.WARNING)
