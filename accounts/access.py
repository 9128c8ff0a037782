"""Who may see a customer's pages: the decorator every customer-facing view uses, and
the refusal a role gets for what it may not do. Used by every app's views."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from accounts import roles
from accounts.middleware import current_membership
from accounts.models import Membership
from core.files import StoredFileAltered

CustomerView = Callable[..., HttpResponse]


def public_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A page everyone may read, whatever their login: the privacy policy and terms, the
    public request forms. The accountants' confinement to their area lets these through
    (``accounts.middleware.RequireMFAMiddleware``)."""
    view.public_page = True
    return view


def customer_view(view: CustomerView) -> CustomerView:
    """Log-in required, acting for a customer; passes the membership as the second argument.

    A person who belongs to no customer is sent to the dashboard, which explains why.
    """

    @wraps(view)
    @login_required
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        membership = current_membership(request)
        if membership is None:
            return redirect("portal:dashboard")
        return view(request, membership, *args, **kwargs)

    return wrapper


def private_download(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A customer's file (an invoice PDF, an attachment, an export): never kept by a browser
    or a proxy cache, where the next person at a shared computer could find it; and never
    served when it is no longer the file that was stored (``core.files``)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            response = view(request, *args, **kwargs)
        except StoredFileAltered:
            return HttpResponse(
                "This file cannot be served: it is not the file we stored. Our staff have been alerted.",
                status=503,
                content_type="text/plain; charset=utf-8",
            )
        if response.status_code == 200:
            response["Cache-Control"] = "private, no-store"
            response["X-Content-Type-Options"] = "nosniff"
        return response

    return wrapper


def require_permission(membership: Membership, action: roles.Action) -> None:
    """Refuse, with a reason the person can act on, what their role does not allow: the
    message names the roles that may (from ``roles.PERMISSIONS``, the one table)."""
    if not membership.can(action):
        raise PermissionDenied(
            f"You are a {membership.get_role_display().lower()} of {membership.customer.display_name}, "
            f"and only {roles.who_may(action)} may {action.label[0].lower()}{action.label[1:]}. Ask an owner "
            "to do it or to change your role."
        )
