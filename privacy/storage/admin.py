"""Storage access in the admin: staff ask customers, open necessary access (which a
second member of staff approves), name staff on customers' requests, record sessions,
read every check, and manage the tools' tokens.

Every write goes through ``privacy.storage.services``; grants, checks and sessions are
never edited or deleted, so the record of who could reach a customer's data stays.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest

from accounts.admin import AuditHistoryMixin
from privacy.storage import services
from privacy.storage.models import (
    StorageAccessCheck,
    StorageAccessSession,
    StorageAccessTool,
    StorageGrant,
)

User = get_user_model()


def _staff_choices():
    return User.objects.filter(is_staff=True, is_active=True).order_by("email")


class NewGrantForm(forms.ModelForm):
    """Ask the customer, or open access necessary to provide the service."""

    ROUTES = [
        (StorageGrant.Route.STAFF_REQUEST, StorageGrant.Route.STAFF_REQUEST.label),
        (StorageGrant.Route.NECESSARY, StorageGrant.Route.NECESSARY.label),
    ]
    route = forms.ChoiceField(choices=ROUTES, help_text="Necessary access needs a second member of staff's approval.")
    staff = forms.ModelMultipleChoiceField(queryset=User.objects.none(), help_text="Who will access the storage.")

    class Meta:
        model = StorageGrant
        fields = ("service", "route", "staff", "purpose", "necessity_reason", "reason_detail", "starts_at", "ends_at")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["staff"].queryset = _staff_choices()

    def clean(self) -> dict:
        data = super().clean()
        if any(data.get(name) is None for name in ("service", "route", "starts_at", "ends_at")):
            return data  # the missing field has its own error
        try:
            services.validate_new_grant(
                service=data["service"],
                purpose=data.get("purpose", ""),
                starts_at=data["starts_at"],
                ends_at=data["ends_at"],
                staff=data.get("staff", []),
            )
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None
        if data["route"] == StorageGrant.Route.NECESSARY:
            if not data.get("necessity_reason"):
                self.add_error("necessity_reason", "Necessary access needs its reason from the list.")
            if not (data.get("reason_detail") or "").strip():
                self.add_error("reason_detail", "Describe the circumstances.")
        elif data.get("necessity_reason"):
            self.add_error("necessity_reason", "Only necessary access has a necessity reason.")
        return data

    def _post_clean(self) -> None:
        # The service function builds the grant; the model's own checks run there.
        pass


class RevokeForm(forms.Form):
    reason = forms.CharField(max_length=2000, required=False)


@admin.register(StorageGrant)
class StorageGrantAdmin(AuditHistoryMixin, admin.ModelAdmin):
    form = NewGrantForm
    list_display = ("__str__", "customer", "route", "status", "now", "starts_at", "ends_at", "requested_by")
    list_filter = ("route", "status", "necessity_reason")
    list_select_related = ("customer", "service", "requested_by")
    search_fields = ("=id", "service__name", "customer__registered_name", "customer__trading_name", "purpose")
    autocomplete_fields = ("service",)
    date_hierarchy = "requested_at"
    actions = ["approve_necessary", "decline_necessary", "name_me", "revoke_now"]
    readonly_fields = (
        "customer",
        "service",
        "route",
        "status",
        "purpose",
        "necessity_reason",
        "reason_detail",
        "staff_names",
        "starts_at",
        "ends_at",
        "requested_by",
        "requested_at",
        "approved_by",
        "approved_at",
        "declined_by",
        "declined_at",
        "decline_reason",
        "revoked_by",
        "revoked_at",
        "revoke_reason",
        "customer_told_at",
    )

    @admin.display(description="now")
    def now(self, grant: StorageGrant) -> str:
        return grant.state_label()

    @admin.display(description="staff")
    def staff_names(self, grant: StorageGrant) -> str:
        return ", ".join(str(person) for person in grant.staff.all()) or "Not named yet"

    def has_request_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(services.REQUEST_PERMISSION)

    def has_necessary_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(services.NECESSARY_PERMISSION)

    def has_end_permission(self, request: HttpRequest) -> bool:
        return self.has_request_permission(request) or self.has_necessary_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_end_permission(request)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # decisions go through the actions; the record itself never changes

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_fields(self, request: HttpRequest, obj=None):
        if obj is None:
            return NewGrantForm.Meta.fields
        return self.readonly_fields

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return () if obj is None else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: StorageGrant, form: NewGrantForm, change: bool) -> None:
        if change:
            raise PermissionDenied("Grants are not edited.")
        data = form.cleaned_data
        common = {
            "service": data["service"],
            "staff": data["staff"],
            "purpose": data["purpose"],
            "starts_at": data["starts_at"],
            "ends_at": data["ends_at"],
            "actor": request.user,
        }
        if data["route"] == StorageGrant.Route.NECESSARY:
            grant = services.open_necessary_access(
                necessity_reason=data["necessity_reason"], reason_detail=data["reason_detail"], **common
            )
            self.message_user(request, "Waiting for a second member of staff to approve it.", messages.WARNING)
        else:
            grant = services.ask_customer(link_base=request.build_absolute_uri("/"), **common)
            self.message_user(request, "The customer's owners and technical contacts were emailed.", messages.INFO)
        # The admin logs and redirects to ``obj``: make it the grant the service created.
        obj.pk, obj.customer_id, obj.service_id = grant.pk, grant.customer_id, grant.service_id
        obj._state.adding = False

    def save_related(self, request, form, formsets, change) -> None:
        pass  # the service named the staff

    def _each(self, request: HttpRequest, queryset, done: str, call) -> None:
        count = 0
        for grant in queryset:
            try:
                call(grant)
            except (ValidationError, PermissionDenied) as exc:
                text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
                self.message_user(request, f"{grant}: {text}", messages.ERROR)
            else:
                count += 1
        if count:
            self.message_user(request, f"{done}: {count} grant(s).", messages.SUCCESS)

    @admin.action(description="Approve necessary access (as the second member of staff)", permissions=["necessary"])
    def approve_necessary(self, request: HttpRequest, queryset) -> None:
        base = request.build_absolute_uri("/")
        self._each(
            request,
            queryset,
            "Approved; the customer was told",
            lambda g: services.approve_necessary_access(g, actor=request.user, link_base=base),
        )

    @admin.action(description="Decline necessary access", permissions=["necessary"])
    def decline_necessary(self, request: HttpRequest, queryset) -> None:
        def call(grant):
            if grant.route != StorageGrant.Route.NECESSARY:
                raise ValidationError("Only the customer decides on this one.")
            services.decline(grant, actor=request.user, reason="Declined by the second member of staff.")

        self._each(request, queryset, "Declined", call)

    @admin.action(description="Name me on the selected customer requests", permissions=["request"])
    def name_me(self, request: HttpRequest, queryset) -> None:
        self._each(
            request, queryset, "Named you", lambda g: services.assign_staff(g, staff=[request.user], actor=request.user)
        )

    @admin.action(description="End the selected grants now", permissions=["end"])
    def revoke_now(self, request: HttpRequest, queryset) -> None:
        self._each(
            request, queryset, "Ended", lambda g: services.revoke(g, actor=request.user, reason="Ended by our staff.")
        )


class SessionForm(forms.ModelForm):
    class Meta:
        model = StorageAccessSession
        fields = ("grant", "staff", "started_at", "ended_at", "what_was_done")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if "staff" in self.fields:
            self.fields["staff"].queryset = _staff_choices()
            self.fields["ended_at"].required = True
            self.fields["what_was_done"].required = True

    def _post_clean(self) -> None:
        pass  # the service checks the session against its grant


@admin.register(StorageAccessSession)
class StorageAccessSessionAdmin(AuditHistoryMixin, admin.ModelAdmin):
    form = SessionForm
    list_display = ("__str__", "staff", "started_at", "ended_at", "source", "tool")
    list_filter = ("source",)
    list_select_related = ("grant__service", "staff", "tool")
    raw_id_fields = ("grant",)
    search_fields = ("=grant__id", "grant__service__name", "staff__email", "what_was_done")
    readonly_fields = ("grant", "staff", "started_at", "ended_at", "what_was_done", "source", "tool", "recorded_by")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(services.REQUEST_PERMISSION)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_fields(self, request: HttpRequest, obj=None):
        return SessionForm.Meta.fields if obj is None else self.readonly_fields

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return () if obj is None else self.readonly_fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if obj is None:
            original_clean = form.clean

            def clean(self_form):
                data = original_clean(self_form)
                if not self_form.errors and data.get("grant") and data.get("staff"):
                    try:
                        services.check_session_fits(data["grant"], staff=data["staff"], started_at=data["started_at"])
                    except ValidationError as exc:
                        raise ValidationError(exc.messages) from None
                return data

            form.clean = clean
        return form

    def save_model(self, request: HttpRequest, obj, form, change: bool) -> None:
        if change:
            raise PermissionDenied("Sessions are not edited.")
        data = form.cleaned_data
        session = services.record_session(
            data["grant"],
            staff=data["staff"],
            started_at=data["started_at"],
            ended_at=data["ended_at"],
            what_was_done=data["what_was_done"],
            actor=request.user,
        )
        obj.pk, obj.grant_id = session.pk, session.grant_id
        obj._state.adding = False


@admin.register(StorageAccessCheck)
class StorageAccessCheckAdmin(admin.ModelAdmin):
    list_display = ("checked_at", "service", "staff_email", "allowed", "grant", "via")
    list_filter = ("allowed", "tool")
    list_select_related = ("service", "grant", "tool")
    search_fields = ("staff_email", "service__name", "=grant__id")
    date_hierarchy = "checked_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # made by the enforcement point only

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(StorageAccessTool)
class StorageAccessToolAdmin(AuditHistoryMixin, admin.ModelAdmin):
    list_display = ("name", "token_prefix", "created_by", "created_at", "last_used_at", "revoked_at")
    fields = ("name",)
    actions = ["revoke_tools"]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return ("name",) if obj else ()

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False if obj is not None else super().has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # checks refer to their tool; a tool is revoked instead

    def save_model(self, request: HttpRequest, obj: StorageAccessTool, form, change: bool) -> None:
        if change:
            raise PermissionDenied("A tool's name and token are not changed; revoke it and make another.")
        tool, token = services.create_tool(name=form.cleaned_data["name"], actor=request.user)
        self.message_user(
            request,
            f"The token of {tool} is {token} — copy it now into the tool's configuration: it is not shown again.",
            messages.WARNING,
        )
        obj.pk, obj.name = tool.pk, tool.name
        obj._state.adding = False

    @admin.action(description="Revoke the selected tools' tokens", permissions=["change"])
    def revoke_tools(self, request: HttpRequest, queryset) -> None:
        for tool in queryset:
            services.revoke_tool(tool, actor=request.user)
        self.message_user(request, f"Revoked {queryset.count()} tool(s).", messages.SUCCESS)
