"""The privacy centre's landing page, the public policy history and policy acknowledgement."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from accounts import roles
from accounts.access import kept_page, public_page
from accounts.middleware import current_membership
from privacy.middleware import remember_pending
from privacy.models import PolicyVersion, ProcessingRestriction
from privacy.services import policies


@login_required
@kept_page
def centre(request: HttpRequest) -> HttpResponse:
    """Every section of the privacy centre. The customer's sections are for those whose role
    allows it (accounts.roles USE_PRIVACY_CENTRE); a person's own choices are for everyone."""
    membership = current_membership(request)
    customer_sections = membership is not None and membership.can(roles.Action.USE_PRIVACY_CENTRE)
    scope = Q(person=request.user)
    if customer_sections:
        scope |= Q(customer=membership.customer)
    restrictions = ProcessingRestriction.objects.active().filter(scope).order_by("started_at")
    return render(
        request,
        "privacy/centre.html",
        {
            "membership": membership,
            "customer": membership.customer if membership else None,
            "customer_sections": customer_sections,
            "restrictions": restrictions,
            "current_policies": policies.current_versions(),
            "upcoming_policies": policies.upcoming_versions(),
        },
    )


@public_page
def policy_history(request: HttpRequest) -> HttpResponse:
    """Public: every published version of every policy, with its dates."""
    versions = list(policies.published().order_by("document", "-version"))
    current = {v.pk for v in policies.current_of(versions)}
    today = timezone.localdate()
    documents = [
        {
            "label": label,
            "versions": [
                {"version": v, "current": v.pk in current, "upcoming": v.effective_from > today}
                for v in versions
                if v.document == value
            ],
        }
        for value, label in PolicyVersion.Document.choices
    ]
    return render(request, "privacy/policies.html", {"documents": documents})


@public_page
def policy_version(request: HttpRequest, document: str, version: int) -> HttpResponse:
    shown = get_object_or_404(policies.published(), document=document, version=version)
    current = {v.pk for v in policies.current_versions()}
    return render(
        request,
        "privacy/policy_version.html",
        {
            "policy": shown,
            "current": shown.pk in current,
            "upcoming": shown.effective_from > timezone.localdate(),
        },
    )


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("portal:dashboard")


@login_required
@require_http_methods(["GET", "POST"])
def acknowledge_policy(request: HttpRequest) -> HttpResponse:
    """Show what changed in each material version the person has not yet acknowledged."""
    pending = policies.pending_acknowledgements(request.user)
    next_url = _safe_next(request)
    if request.method == "POST":
        chosen = pending.filter(pk__in=[v for v in request.POST.getlist("version") if v.isdigit()])
        policies.acknowledge(request.user, chosen)
        remember_pending(request, request.user)  # a version published meanwhile is still asked about
        return redirect(next_url)
    versions = list(pending)
    if not versions:
        remember_pending(request, request.user)
        return redirect(next_url)
    return render(request, "privacy/policy_acknowledge.html", {"versions": versions, "next": next_url})


urlpatterns = [
    path("", centre, name="centre"),
    path("policies/", policy_history, name="policies"),
    path("policies/acknowledge/", acknowledge_policy, name="acknowledge_policy"),
    path("policies/<slug:document>/<int:version>/", policy_version, name="policy_version"),
]
