"""Request-level rules: MFA for staff and accountants, the accountants' area, the current customer."""

from __future__ import annotations

from allauth.mfa.utils import is_mfa_enabled
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import ResolverMatch, reverse

from accounts.models import Membership

SESSION_CUSTOMER_KEY = "portal_customer_id"

# allauth's views (mounted without a namespace) that a person who must set up MFA may
# still use: every MFA page (mfa_*), the reauthentication allauth asks for before
# adding an authenticator, logout, and email management and confirmation, because
# allauth refuses to add an authenticator while an address is unverified.
_MFA_SETUP_VIEWS = frozenset(
    {
        "account_logout",
        "account_reauthenticate",
        "account_email",
        "account_email_verification_sent",
        "account_confirm_email",
    }
)


def _allauth_view_name(match: ResolverMatch) -> str:
    return "" if match.namespaces else (match.url_name or "")


def _is_mfa_setup(match: ResolverMatch) -> bool:
    name = _allauth_view_name(match)
    return name in _MFA_SETUP_VIEWS or name.startswith("mfa_")


def _is_accountant_area(match: ResolverMatch) -> bool:
    # Accountants reach only their own area and their login settings (allauth).
    return "accounting" in match.namespaces or _allauth_view_name(match).startswith(("account_", "mfa_"))


class RequireMFAMiddleware:
    """Staff and accountants reach nothing but MFA setup and logout until MFA is on.

    Decided per view rather than per path, so the rules follow the URL names
    wherever allauth and the accountants' area are mounted. Must come after
    AuthenticationMiddleware. Logging in is not affected: a person is only
    authenticated once every login stage, including allauth's MFA code, has passed.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> HttpResponse | None:
        user = request.user
        if not user.is_authenticated or not user.must_use_mfa:
            return None
        match = request.resolver_match
        if not is_mfa_enabled(user):
            if _is_mfa_setup(match):
                return None
            return HttpResponseRedirect(reverse("mfa_index"))
        if user.is_staff or user.is_superuser or not user.is_accountant:
            return None
        if _is_accountant_area(match) or getattr(match.func, "public_page", False):
            return None
        return HttpResponseRedirect(reverse("accounting:home"))


def customer_memberships(request: HttpRequest) -> list[Membership]:
    """Every membership of the logged-in person, by customer name (the customer switcher's
    list): one query per request, which ``current_membership`` chooses from."""
    if not hasattr(request, "_portal_memberships"):
        user = getattr(request, "user", None)
        authenticated = user is not None and user.is_authenticated
        request._portal_memberships = list(user.customer_memberships()) if authenticated else []
    return request._portal_memberships


def current_membership(request: HttpRequest):
    """The membership the person acts through now, or None; cached on the request.

    A person may belong to several customers; the choice lives in the session and is
    changed by the customer switcher. Without a choice, the first customer by name.
    """
    if hasattr(request, "_portal_membership"):
        return request._portal_membership
    membership = None
    memberships = customer_memberships(request)
    if memberships:
        wanted = request.session.get(SESSION_CUSTOMER_KEY)
        chosen = [m for m in memberships if m.customer_id == wanted] if wanted is not None else []
        membership = chosen[0] if chosen else memberships[0]
    request._portal_membership = membership
    return membership
