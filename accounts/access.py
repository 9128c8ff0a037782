"""Who may see a customer's pages: the decorator every customer-facing view uses, and
the refusal a role gets for what it may not do. Used by every app's views."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.utils.safestring import mark_safe

from accounts import roles
from accounts.middleware import current_membership
from accounts.models import Membership
from core import pagecache
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


# The parts of a page the layout (base.html) marks as the page's own, kept by ``kept_page``.
_PARTS = {
    "head": ("<!--page-head-->", "<!--/page-head-->"),
    "body": ("<!--page-->", "<!--/page-->"),
    "tail": ("<!--page-tail-->", "<!--/page-tail-->"),
}
_TITLE = re.compile(r"<title>.*?</title>", re.S)
_CSRF = re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]*(")')
_CSRF_HOLE = "\x00csrf\x00"  # no escaped text or form field holds a NUL


def kept_page(view: CustomerView) -> CustomerView:
    """A customer page kept once rendered and served again until anything it could show
    changes (``core.pagecache``): put under the login decorator (``customer_view``,
    ``login_required``), on views whose GET only reads.

    Kept per customer, person, role, address with its query and day; only a 200 HTML page,
    only for GET. What is kept is the page's own part (title, content, its scripts); the
    layout around it (header, switcher, messages, cookie banner, footer) is rendered for
    every request, and every form's CSRF token is the requester's own."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method != "GET" or not pagecache.enabled() or not request.user.is_authenticated:
            return view(request, *args, **kwargs)
        membership = current_membership(request)
        customer = membership.customer_id if membership is not None else None
        slot = _slot(request, membership)
        tokens, kept = pagecache.fetch(slot, customer=customer, person=request.user.pk)
        if kept is not None:
            token = get_token(request)
            parts = {name: mark_safe(text.replace(_CSRF_HOLE, token)) for name, text in kept.items()}
            return render(request, "portal/kept_page.html", {"kept": parts})
        response = view(request, *args, **kwargs)
        parts = _page_parts(response)
        if parts is not None:
            pagecache.keep(slot, tokens, parts)
        return response

    return wrapper


def _slot(request: HttpRequest, membership: Membership | None) -> str:
    where = hashlib.sha256(request.get_full_path().encode()).hexdigest()[:24]
    acting = f"{membership.customer_id}:{membership.role}" if membership is not None else "-:-"
    return f"pc:page:{request.user.pk}:{acting}:{translation.get_language()}:{timezone.localdate().isoformat()}:{where}"


def _page_parts(response: HttpResponse) -> dict[str, str] | None:
    """The page's own parts of a rendered 200 HTML response, CSRF tokens made holes; None
    for anything else (a redirect, a download, a page without the layout's marks)."""
    if (
        response.status_code != 200
        or response.streaming
        or not response.get("Content-Type", "").startswith("text/html")
    ):
        return None
    if response.has_header("Cache-Control") or response.cookies:
        return None  # a page that says how to keep it, or sets a cookie, is its own business
    html = response.content.decode(response.charset)
    title = _TITLE.search(html)
    if title is None:
        return None
    parts = {"title": title.group(0)}
    for name, (start, end) in _PARTS.items():
        begin, finish = html.find(start), html.rfind(end)
        if begin < 0 or finish < begin:
            return None
        parts[name] = html[begin + len(start) : finish]
    return {name: _CSRF.sub(rf"\g<1>{_CSRF_HOLE}\g<2>", text) for name, text in parts.items()}


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
