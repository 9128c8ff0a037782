"""Cookie consent state for every page: the banner, and the optional analytics only with consent."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.safestring import mark_safe

from privacy.services import consent


def cookie_consent(request: HttpRequest) -> dict:
    """``show_cookie_banner`` and ``analytics_snippet`` ("" unless this person consented).

    With no ``PORTAL_ANALYTICS_SNIPPET`` configured this costs nothing and shows nothing:
    the portal then sets only strictly necessary cookies.
    """

    snippet = consent.analytics_snippet()
    if not snippet:
        return {"show_cookie_banner": False, "analytics_snippet": ""}
    user = getattr(request, "user", None)
    allowed = consent.analytics_allowed(user)
    return {
        "show_cookie_banner": not allowed and consent.banner_needed(user, request.COOKIES.get(consent.CHOICE_COOKIE)),
        "cookie_banner_wording": consent.analytics_wording(),
        # The provider's own configuration, not user input: trusted HTML by definition.
        "analytics_snippet": mark_safe(snippet) if allowed else "",
    }
