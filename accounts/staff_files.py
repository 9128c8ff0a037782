"""Stored files opened by staff from the admin: an issued document's PDF, an email's
attachment or original, a data export, an agent's written authority.

Each is served by one access-checked view (``serve_to_staff``): the staff member must
hold the named permission, the bytes must still be the ones stored (``core.files``), the
response is never cached, and the opening is recorded in the audit trail against the
object and its customer ("Opened …", who, when, from where). Never a public media URL.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import FileResponse, Http404, HttpRequest, HttpResponse

from accounts import audit
from core.files import StoredFileAltered, check_verified

logger = logging.getLogger(__name__)


def record_opened(request: HttpRequest, obj: models.Model, what: str) -> None:
    """Record "Opened <what>" in the audit trail, for whoever asks who saw it."""
    audit.record("file.opened", actor=request.user, target=obj, summary=f"Opened {what}")
    logger.info("Staff user %s opened %s of %s #%s", request.user.pk, what, obj._meta.label, obj.pk)


def serve_to_staff(
    request: HttpRequest,
    *,
    obj: models.Model,
    file: models.fields.files.FieldFile,
    sha256: str,
    filename: str,
    content_type: str,
    permission: str,
    what: str,
    inline: bool = False,
) -> HttpResponse:
    """The stored ``file`` of ``obj``, to a staff member holding ``permission``.

    ``inline`` shows it in the browser (our own PDFs); anything that came from outside is
    always a download, never rendered.
    """
    if not request.user.has_perm(permission):
        raise PermissionDenied
    if not file:
        raise Http404("No file is stored here.")
    try:
        check_verified(file.name, sha256)
    except StoredFileAltered:
        return HttpResponse(
            "This file cannot be served: it is not the file we stored. Restore it from a backup.",
            status=503,
            content_type="text/plain; charset=utf-8",
        )
    except FileNotFoundError:
        raise Http404("The stored file is missing; restore it from a backup.") from None
    record_opened(request, obj, what)
    response = FileResponse(file.open("rb"), as_attachment=not inline, filename=filename, content_type=content_type)
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
