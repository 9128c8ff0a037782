"""The portal shell: dashboard, customer switcher and the accountants' home page."""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts import roles
from accounts.forms import CustomerChoiceForm
from accounts.middleware import SESSION_CUSTOMER_KEY, current_membership
from accounts.models import Service
from accounts.views import require_permission


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """What the person's current customer holds and who acts for it."""
    membership = current_membership(request)
    if membership is None:
        if request.user.is_accountant:
            return redirect("accounting:home")
        return render(request, "portal/no_membership.html")
    require_permission(membership, roles.Action.VIEW_DASHBOARD)
    customer = membership.customer
    return render(
        request,
        "portal/dashboard.html",
        {
            "customer": customer,
            "membership": membership,
            "services": Service.objects.for_customer(customer).exclude(status=Service.Status.ENDED),
            "ended_services": Service.objects.for_customer(customer).filter(status=Service.Status.ENDED).count(),
            "contacts": customer.memberships.select_related("user").order_by("user__email"),
        },
    )


@require_POST
@login_required
def switch_customer(request: HttpRequest) -> HttpResponse:
    """Act for another of the person's customers. Only their own customers: others are 404."""
    form = CustomerChoiceForm(request.POST)
    if not form.is_valid():
        raise Http404("No such customer.")
    membership = get_object_or_404(request.user.memberships.all(), customer_id=form.cleaned_data["customer"])
    request.session[SESSION_CUSTOMER_KEY] = membership.customer_id
    # Always to the dashboard: the page the person was on may belong to the other customer.
    return redirect("portal:dashboard")


@login_required
def accounting_home(request: HttpRequest) -> HttpResponse:
    """The accountants' area. Its exports come later; for now, whose data and whose login."""
    if not request.user.is_accountant:
        raise Http404("Not an accountant.")
    authenticators = Authenticator.objects.filter(user=request.user).order_by("type")
    return render(
        request,
        "portal/accounting_home.html",
        {"authenticators": [a.get_type_display() for a in authenticators]},
    )
