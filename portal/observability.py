"""Optional error reporting to Sentry (or a Sentry-compatible service such as GlitchTip),
off unless ``PORTAL_SENTRY_DSN`` is set, and never with personal data.

The SDK is told to send no personal data (no user, IP address or cookies), no local
variables of the failing frames (they hold customers' details), and no request body;
``scrub`` then takes out what is left that could identify a person or open their account:
the request's path and query (they can carry an invitation or password-reset token) and
any email address in a message, an exception's text or a breadcrumb.
"""

from __future__ import annotations

import re
from typing import Any

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
WITHHELD = "[withheld]"


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return EMAIL.sub(WITHHELD, value)
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    return value


def scrub(event: dict, hint: dict | None = None) -> dict:
    """``before_send``/``before_breadcrumb``-style filter: the event without personal data."""
    request = event.get("request")
    if isinstance(request, dict):
        for key in ("url", "query_string", "cookies", "data", "env"):
            request.pop(key, None)
        request["headers"] = {
            name: value for name, value in (request.get("headers") or {}).items() if name.lower() in ("user-agent",)
        }
    event.pop("user", None)
    return _clean(event)


def init_error_reporting(dsn: str, *, environment: str, release: str = "", transport=None) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release or None,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        data_collection={
            "user_info": False,
            "cookies": {"mode": "off"},
            "http_headers": {"request": {"mode": "allowlist", "terms": ["user-agent"]}},
            "http_bodies": [],
            "url_query_params": {"mode": "off"},
            "database_query_data": False,
            "stack_frame_variables": False,
        },
        traces_sample_rate=0.0,
        before_send=scrub,
        before_breadcrumb=lambda crumb, hint: _clean(crumb),
        transport=transport,
    )
