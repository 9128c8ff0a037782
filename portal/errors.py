"""Error pages and error logging that people can live with.

- A 404 under ``make run`` (``DEBUG`` on) shows the portal's own page, as in production,
  instead of Django's technical page that lists every URL pattern; a developer who wants
  the technical page sets ``PORTAL_DEBUG_TECHNICAL_404=true``.
- A refusal (403) is an expected answer, not a fault: it is logged as one line, without
  the traceback Django attaches to it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.defaults import page_not_found

# A sentence only Django's technical 404 page contains.
_TECHNICAL_404_MARK = b"because you have <code>DEBUG = True</code>"


class PortalNotFoundPage:
    """Replaces Django's technical 404 page with the portal's while ``DEBUG`` is on."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code == 404
            and settings.DEBUG
            and not getattr(settings, "PORTAL_DEBUG_TECHNICAL_404", False)
            and not response.streaming
            and _TECHNICAL_404_MARK in response.content
        ):
            return page_not_found(request, Http404())
        return response


class ForbiddenInOneLine(logging.Filter):
    """Drops the traceback Django logs with every 403 (``django.request``): one line each."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True
