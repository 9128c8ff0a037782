"""Ask each person to acknowledge material policy changes at their next login."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode

from privacy.services.policies import pending_acknowledgements

# Whether the logged-in person has material policy changes to acknowledge, decided once
# at login (the issue asks for the acknowledgement "at their next login"), so that
# ordinary pages cost no query. Absent for a session that began before this existed.
SESSION_PENDING_KEY = "privacy_policy_ack_pending"

# Views a person with a pending acknowledgement may still reach: the acknowledgement
# itself and the policy texts it links to; allauth's pages are exempt by prefix below.
_OPEN_VIEWS = frozenset({"privacy:acknowledge_policy", "privacy:policies", "privacy:policy_version"})


def _asks(user) -> bool:
    """Staff work in the admin; accountants are confined to their area by RequireMFAMiddleware."""
    return not (user.is_staff or user.is_superuser or getattr(user, "is_accountant", False))


def remember_pending(request: HttpRequest, user) -> bool:

    pending = _asks(user) and pending_acknowledgements(user).exists()
    request.session[SESSION_PENDING_KEY] = pending
    return pending


def note_pending_acknowledgements(sender, request, user, **kwargs) -> None:
    if request is not None and hasattr(request, "session"):
        remember_pending(request, user)


user_logged_in.connect(note_pending_acknowledgements, dispatch_uid="privacy_policy_ack_on_login")


class PolicyAcknowledgementMiddleware:
    """Send a logged-in customer contact with an unacknowledged material change to acknowledge it.

    Only GET requests are redirected (a form being submitted is never lost), and only
    people who use the customer portal. Must come after AuthenticationMiddleware (and
    after RequireMFAMiddleware, whose redirects come first).
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> HttpResponse | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or request.method != "GET":
            return None
        # The session first: on an ordinary page this is the only thing looked at.
        pending = request.session.get(SESSION_PENDING_KEY)
        if pending is False or self._exempt(request) or not _asks(user):
            return None
        if pending is None and not remember_pending(request, user):
            return None
        target = reverse("privacy:acknowledge_policy")
        return HttpResponseRedirect(f"{target}?{urlencode({'next': request.get_full_path()})}")

    @staticmethod
    def _exempt(request: HttpRequest) -> bool:
        path = request.path_info
        static = "/" + settings.STATIC_URL.lstrip("/")
        if path.startswith((static, "/accounts/")):
            return True
        match = request.resolver_match
        if match is None:
            return False
        # allauth's views are mounted without a namespace (account_*, mfa_*).
        if not match.namespaces and (match.url_name or "").startswith(("account_", "mfa_")):
            return True
        return match.view_name in _OPEN_VIEWS
