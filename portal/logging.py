"""Logs an operator can search: one JSON object per line when ``PORTAL_LOG_FORMAT=json``,
plain text otherwise, and one line per request with its id, status and duration.

What a request line holds: the request id (the proxy's ``X-Request-ID`` when it sends a
well-formed one, else a new one, returned in the response's ``X-Request-ID``), the user's
id, the method, the URL *pattern* that matched (``invoices/<int:invoice_id>/pdf/``, never
the path itself, which can carry an invitation or password-reset token), the status and
the duration. Never an email address or a token.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# Attributes every LogRecord has; the rest were given by the caller as extra=... fields.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "request_id"}

logger = logging.getLogger("portal.request")


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every record (empty outside a request).

    Django logs a failed request (``django.request``) after the middleware has answered,
    with the request on the record: its id is taken from there, and the path it names is
    withheld, since a path can carry a token (the request line gives the route instead).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        record.request_id = request_id.get() or getattr(request, "request_id", "")
        if request is not None and isinstance(record.args, tuple):
            record.args = tuple("(path not logged)" if arg == request.path else arg for arg in record.args)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if getattr(record, "request_id", ""):
            data["request_id"] = record.request_id
        data.update({key: value for key, value in vars(record).items() if key not in _STANDARD})
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


class RequestLogMiddleware:
    """Gives each request an id and logs one line when it is answered."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get("X-Request-ID", "")
        token = request_id.set(given if _REQUEST_ID.match(given) else uuid.uuid4().hex)
        request.request_id = request_id.get()
        started = time.monotonic()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id.get()
            match = request.resolver_match
            user = getattr(request, "user", None)
            logger.info(
                "%s %s %s",
                request.method,
                match.route if match else "(no route)",
                response.status_code,
                extra={
                    "method": request.method,
                    "route": match.route if match else None,
                    "status": response.status_code,
                    "duration_ms": round((time.monotonic() - started) * 1000, 1),
                    "user_id": user.pk if user is not None and user.is_authenticated else None,
                },
            )
            return response
        finally:
            request_id.reset(token)
