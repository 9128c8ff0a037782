"""The enforcement point over HTTP, for the provider's tooling (docs/storage-access.md).

Each tool authenticates with its own token (``Authorization: Bearer <token>``), made in
the admin and kept only as a hash. Answers are JSON. A wrong or revoked token gets 401
and nothing is recorded; every answered check and session is recorded against the grant.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from functools import wraps

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.audit import System
from accounts.models import Service
from privacy.storage import services
from privacy.storage.models import StorageAccessSession, StorageGrant

app_name = "storage_api"


def _error(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def tool_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """POST only, JSON body, a valid tool token; passes the tool and the parsed body."""

    @csrf_exempt  # no cookies: the token in the header is the credential
    @require_POST
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        tool = services.tool_for_token(token.strip()) if scheme.lower() == "bearer" else None
        if tool is None:
            response = _error("A valid tool token is needed: Authorization: Bearer <token>.", 401)
            response["WWW-Authenticate"] = "Bearer"
            return response
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return _error("The body must be JSON.")
        if not isinstance(body, dict):
            return _error("The body must be a JSON object.")
        try:
            return view(request, tool, body, *args, **kwargs)
        except ValidationError as exc:
            return _error(" ".join(exc.messages), 409)

    return wrapper


def _when(body: dict, key: str) -> dt.datetime | None:
    value = body.get(key)
    if value in (None, ""):
        return None
    parsed = parse_datetime(str(value))
    if parsed is None or parsed.tzinfo is None:
        raise ValidationError(f"{key} must be an ISO 8601 date and time with its offset, e.g. 2026-03-01T10:00:00Z.")
    return parsed


@tool_view
def check(request: HttpRequest, tool, body: dict) -> HttpResponse:
    """{"service": <id>, "staff": "<email>"} → {"allowed": bool, "grant": id|null, ...}."""
    service = Service.objects.filter(pk=body.get("service")).first() if str(body.get("service", "")).isdigit() else None
    if service is None or not body.get("staff"):
        return _error('Give the service\'s number and the member of staff\'s email: {"service": 12, "staff": "..."}.')
    answer = services.check_access(service=service, staff_email=str(body["staff"]), tool=tool)
    return JsonResponse(answer.as_dict())


@tool_view
def start(request: HttpRequest, tool, body: dict) -> HttpResponse:
    """{"grant": <id>, "staff": "<email>"} → {"session": id} once the access is recorded."""
    grant = StorageGrant.objects.filter(pk=body.get("grant")).first() if str(body.get("grant", "")).isdigit() else None
    staff = services.find_staff(str(body.get("staff", "")))
    if grant is None or staff is None:
        return _error("Give the grant's number and an active member of staff's email.")
    session = services.start_session(
        grant,
        staff=staff,
        tool=tool,
        actor=System(f"storage access tool {tool.name}"),
        started_at=_when(body, "started_at"),
    )
    return JsonResponse({"session": session.pk, "grant": grant.pk, "started_at": session.started_at.isoformat()})


@tool_view
def end(request: HttpRequest, tool, body: dict, session_id: int) -> HttpResponse:
    """{"what_was_done": "..."} → the ended session."""
    session = StorageAccessSession.objects.filter(pk=session_id, tool=tool).first()
    if session is None:
        return _error("No session of this tool has that number.", 404)
    session = services.end_session(
        session,
        what_was_done=str(body.get("what_was_done", "")),
        ended_at=_when(body, "ended_at"),
        actor=System(f"storage access tool {tool.name}"),
    )
    return JsonResponse({"session": session.pk, "ended_at": session.ended_at.isoformat()})


urlpatterns = [
    path("check/", check, name="check"),
    path("sessions/", start, name="start_session"),
    path("sessions/<int:session_id>/end/", end, name="end_session"),
]
