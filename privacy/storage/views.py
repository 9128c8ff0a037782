"""The customer's Storage access page: every grant, request, session and check about
their services, and the forms to ask for access, approve, decline or revoke.

Owners and technical contacts use it (``roles.Action.MANAGE_STORAGE_ACCESS``). Another
customer's grant answers 404, looked up before the role is checked so that nothing about
it shows.
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from accounts import roles
from accounts.access import customer_view, kept_page, require_permission
from accounts.models import Membership, Service
from privacy.storage import services
from privacy.storage.models import StorageAccessCheck, StorageAccessSession, StorageGrant

app_name = "storage_access"

RECENT_CHECKS = 100


class RequestAccessForm(forms.Form):
    service = forms.ModelChoiceField(queryset=Service.objects.none(), label="Which server?")
    purpose = forms.CharField(
        label="What would you like us to do?",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="For example: the web server will not start after an update; please look at its logs.",
    )
    starts_at = forms.DateTimeField(
        label="From",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Leave empty for now.",
    )
    hours = forms.IntegerField(label="For how many hours?", min_value=1, initial=24)

    def __init__(self, *args, customer, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["service"].queryset = (
            Service.objects.for_customer(customer)
            .filter(platform=Service.Platform.VIRTUAL)
            .exclude(status=Service.Status.ENDED)
        )
        self.fields["hours"].help_text = f"At most {services.max_duration() // dt.timedelta(hours=1)} hours."

    def clean_hours(self) -> int:
        hours = self.cleaned_data["hours"]
        limit = services.max_duration() // dt.timedelta(hours=1)
        if hours > limit:
            raise ValidationError(f"Access lasts at most {limit} hours; ask again afterwards if needed.")
        return hours


class DecisionForm(forms.Form):
    action = forms.ChoiceField(choices=[("approve", "Approve"), ("decline", "Decline"), ("revoke", "Revoke")])
    reason = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))


def _grants(membership: Membership):
    return services.grants_of(membership.customer)


@customer_view
@kept_page
def overview(request: HttpRequest, membership: Membership) -> HttpResponse:
    require_permission(membership, roles.Action.MANAGE_STORAGE_ACCESS)
    now = timezone.now()
    grants = list(_grants(membership))
    sessions = (
        StorageAccessSession.objects.filter(grant__customer=membership.customer)
        .select_related("grant__service", "staff", "tool")
        .order_by("-started_at")
    )
    checks = (
        StorageAccessCheck.objects.filter(customer=membership.customer)
        .select_related("service", "tool")
        .order_by("-checked_at")[:RECENT_CHECKS]
    )
    return render(
        request,
        "storage_access/overview.html",
        {
            "customer": membership.customer,
            "services": list(services.services_of(membership.customer)),
            "rows": [{"grant": grant, "state": grant.state(now), "label": grant.state_label(now)} for grant in grants],
            "waiting": [
                g for g in grants if g.status == StorageGrant.Status.PENDING and g.route == g.Route.STAFF_REQUEST
            ],
            "sessions": sessions,
            "checks": checks,
            "max_hours": services.max_duration() // dt.timedelta(hours=1),
        },
    )


@customer_view
@require_http_methods(["GET", "POST"])
def new_request(request: HttpRequest, membership: Membership) -> HttpResponse:
    require_permission(membership, roles.Action.MANAGE_STORAGE_ACCESS)
    form = RequestAccessForm(request.POST or None, customer=membership.customer)
    if request.method == "POST" and form.is_valid():
        starts_at = form.cleaned_data["starts_at"] or timezone.now()
        try:
            grant = services.request_access(
                service=form.cleaned_data["service"],
                purpose=form.cleaned_data["purpose"],
                starts_at=starts_at,
                ends_at=starts_at + dt.timedelta(hours=form.cleaned_data["hours"]),
                actor=request.user,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Your request is recorded: our staff may access {grant.service} as you asked.")
            return redirect("storage_access:grant", grant_id=grant.pk)
    physical = services.services_of(membership.customer).filter(platform=Service.Platform.PHYSICAL)
    return render(
        request,
        "storage_access/request.html",
        {"customer": membership.customer, "form": form, "physical": physical},
    )


@customer_view
@require_http_methods(["GET", "POST"])
@kept_page
def grant_detail(request: HttpRequest, membership: Membership, grant_id: int) -> HttpResponse:
    grant = get_object_or_404(_grants(membership), pk=grant_id)
    require_permission(membership, roles.Action.MANAGE_STORAGE_ACCESS)
    form = DecisionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        action, reason = form.cleaned_data["action"], form.cleaned_data["reason"]
        try:
            if action == "approve":
                services.approve(grant, actor=request.user)
                messages.success(request, "Approved: the named staff may access the storage in the time given.")
            elif action == "decline":
                services.decline(grant, actor=request.user, reason=reason)
                messages.success(request, "Declined: our staff will not access the storage.")
            else:
                services.revoke(grant, actor=request.user, reason=reason)
                messages.success(request, "Revoked: from now on our staff cannot access the storage under it.")
        except (ValidationError, PermissionDenied) as exc:
            form.add_error(None, exc.messages if isinstance(exc, ValidationError) else str(exc))
        else:
            return redirect("storage_access:grant", grant_id=grant.pk)
    now = timezone.now()
    return render(
        request,
        "storage_access/grant.html",
        {
            "customer": membership.customer,
            "grant": grant,
            "state": grant.state(now),
            "label": grant.state_label(now),
            "form": form,
            "sessions": grant.sessions.select_related("staff", "tool").order_by("-started_at"),
            "checks": grant.checks.select_related("tool").order_by("-checked_at"),
        },
    )


urlpatterns = [
    path("", overview, name="overview"),
    path("request/", new_request, name="request"),
    path("<int:grant_id>/", grant_detail, name="grant"),
]
