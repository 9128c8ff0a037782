"""Data-subject requests in the portal, and the public and agent forms that need no login.

Portal: any contact may make a request about their own data; only an owner (the role that
uses the privacy centre) may make one about the whole customer account. A person sees the
requests about themselves, and an owner also those about the customer; anything else,
including another customer's request, answers 404.

Public and agent forms: whatever address is typed, the answer is the same redirect to the
same page, so the forms cannot tell anyone whether an address has an account.
"""

from __future__ import annotations

from allauth.core.ratelimit import consume_or_429
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.views.decorators.http import require_http_methods

from accounts.access import kept_page, public_page
from accounts.models import Membership
from core.pagination import paginate
from core.timing import uniform_post_timing
from privacy import deadlines
from privacy.forms import AgentRequestForm, PortalRequestForm, PublicRequestForm
from privacy.models import DataSubjectRequest
from privacy.services import requests as services
from privacy.views.people import acts_for_customer, person_view


def _visible_requests(user, membership: Membership | None):
    """Requests about the person (whatever customer they were made under), and for an
    owner, those about the customer."""
    visible = Q(person=user)
    if acts_for_customer(membership):
        visible |= Q(customer=membership.customer, person__isnull=True)
    return DataSubjectRequest.objects.filter(visible).exclude(status=DataSubjectRequest.Status.AWAITING_CONFIRMATION)


def _customer(membership: Membership | None):
    return membership.customer if membership is not None else None


@person_view
@kept_page
def request_list(request: HttpRequest, membership: Membership | None) -> HttpResponse:
    visible = _visible_requests(request.user, membership).select_related("customer").order_by("-received_at", "-pk")
    page = paginate(request, visible)
    rows = [{"request": dsr, "days_left": deadlines.days_left(dsr)} for dsr in page]
    return render(request, "privacy/request_list.html", {"customer": _customer(membership), "rows": rows, "page": page})


@person_view
@kept_page
def request_detail(request: HttpRequest, membership: Membership | None, request_id: int) -> HttpResponse:
    dsr = get_object_or_404(_visible_requests(request.user, membership).select_related("customer"), pk=request_id)
    return render(
        request,
        "privacy/request_detail.html",
        {"customer": _customer(membership), "dsr": dsr, "days_left": deadlines.days_left(dsr)},
    )


@person_view
@require_http_methods(["GET", "POST"])
def request_new(request: HttpRequest, membership: Membership | None) -> HttpResponse:
    can_ask_for_customer = acts_for_customer(membership)
    form = PortalRequestForm(
        request.POST or None,
        can_ask_for_customer=can_ask_for_customer,
        customer_name=membership.customer.display_name if membership else "",
    )
    if request.method == "POST" and form.is_valid():
        try:
            dsr = services.open_request_from_portal(
                membership,
                form.cleaned_data["kind"],
                form.cleaned_data["details"],
                form.cleaned_data["regime"],
                about_customer=form.cleaned_data.get("about") == "customer",
                person=request.user,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request,
                f"We have your request. We will answer by {dsr.due_on:%-d %B %Y} at the latest, "
                f"and we have emailed you a receipt.",
            )
            return redirect("privacy:request_detail", request_id=dsr.pk)
    return render(
        request,
        "privacy/request_new.html",
        {"customer": _customer(membership), "form": form, "can_ask_for_customer": can_ask_for_customer},
    )


@public_page
@require_http_methods(["GET", "POST"])
@uniform_post_timing()
def public_request(request: HttpRequest) -> HttpResponse:
    if request.method == "POST" and (refused := consume_or_429(request, action="privacy_public_request")):
        return refused  # anyone may post this form: a limit per address stops it being used to spam people
    form = PublicRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.open_public_request(
                form.cleaned_data["email"],
                form.cleaned_data["kind"],
                form.cleaned_data["details"],
                form.cleaned_data["regime"],
                link_base=request.build_absolute_uri("/"),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            # The same redirect whatever happened: the answer must not reveal who has an account.
            return redirect("privacy:public_request_sent")
    return render(request, "privacy/request_public.html", {"form": form})


@public_page
def public_request_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "privacy/request_public_sent.html")


@public_page
@require_http_methods(["GET", "POST"])
@uniform_post_timing()
def agent_request(request: HttpRequest) -> HttpResponse:
    if request.method == "POST" and (refused := consume_or_429(request, action="privacy_agent_request")):
        return refused
    form = AgentRequestForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.open_agent_request(
                agent_name=data["agent_name"],
                agent_email=data["agent_email"],
                person_email=data["person_email"],
                authority_file=data["authority"],
                kind=data["kind"],
                details=data["details"],
                regime=data["regime"],
                link_base=request.build_absolute_uri("/"),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return redirect("privacy:agent_request_sent")
    return render(request, "privacy/request_agent.html", {"form": form})


@public_page
def agent_request_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "privacy/request_agent_sent.html")


@public_page
@require_http_methods(["GET", "POST"])
def confirm_request(request: HttpRequest, token: str) -> HttpResponse:
    """The link from a confirmation email. GET only shows a button: link scanners in mail
    systems follow links, and must not confirm a request on the person's behalf."""
    dsr = services.find_awaiting_confirmation(token)
    if dsr is None:
        return render(request, "privacy/request_confirm_invalid.html", status=404)
    if request.method == "POST":
        confirmed = services.confirm_public_request(token)
        if confirmed is None:
            return render(request, "privacy/request_confirm_invalid.html", status=404)
        return render(request, "privacy/request_confirmed.html", {"dsr": confirmed})
    return render(request, "privacy/request_confirm.html", {"dsr": dsr})


urlpatterns = [
    path("requests/", request_list, name="requests"),
    path("requests/new/", request_new, name="request_new"),
    path("requests/<int:request_id>/", request_detail, name="request_detail"),
    path("request/", public_request, name="public_request"),
    path("request/sent/", public_request_sent, name="public_request_sent"),
    path("request/agent/", agent_request, name="agent_request"),
    path("request/agent/sent/", agent_request_sent, name="agent_request_sent"),
    path("request/confirm/<str:token>/", confirm_request, name="confirm_request"),
]
