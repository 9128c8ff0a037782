"""Request-level rules: MFA for staff and accountants, the accountants' area, the current customer."""

from __future__ import annotations

from allauth.mfa.utils import is_mfa_enabled
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

SESSION_CUSTOMER_KEY = "portal_customer_id"

# What a person who must set up MFA may still reach: allauth's MFA setup, the
# reauthentication it asks for, logout, email confirmation, and static files.
_MFA_SETUP_PREFIXES = (
    "/accounts/2fa/",
    "/accounts/reauthenticate/",
    "/accounts/logout/",
    "/accounts/confirm-email/",
    "/static/",
)
# Accountants reach only their own area and their login settings.
_ACCOUNTANT_PREFIXES = ("/accounting/", "/accounts/", "/static/")


class RequireMFAMiddleware:
    """Staff and accountants reach nothing but MFA setup and logout until MFA is on (issue 2)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated and user.must_use_mfa:
            path = request.path_info
            if not is_mfa_enabled(user) and not path.startswith(_MFA_SETUP_PREFIXES):
                return HttpResponseRedirect(reverse("mfa_index"))
            if (
                user.is_accountant
                and not user.is_staff
                and not user.is_superuser
                and not path.startswith(_ACCOUNTANT_PREFIXES)
            ):
                return HttpResponseRedirect(reverse("accounting:home"))
        return self.get_response(request)


def current_membership(request: HttpRequest):
    """The membership the person acts through now, or None; cached on the request.

    A person may belong to several customers; the choice lives in the session and is
    changed by the customer switcher. Without a choice, the first customer by name.
    """
    if hasattr(request, "_portal_membership"):
        return request._portal_membership
    from accounts.models import Membership

    membership = None
    user = request.user
    if user.is_authenticated:
        memberships = (
            Membership.objects.filter(user=user).select_related("customer").order_by("customer__registered_name", "pk")
        )
        wanted = request.session.get(SESSION_CUSTOMER_KEY)
        if wanted is not None:
            membership = memberships.filter(customer_id=wanted).first()
        if membership is None:
            membership = memberships.first()
    request._portal_membership = membership
    return membership
