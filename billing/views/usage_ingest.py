"""The collectors' endpoint: ``POST /api/usage/samples`` with a CSV of samples (the
``import_usage`` format, docs/usage.md), authenticated by a collector token staff issued
in the admin (``Authorization: Bearer <token>``; only its hash is stored).

The answer is JSON: how many samples were stored, replaced or already stored, and each
rejected row with its line number and reason; 200 when nothing was rejected, 422 when
something was (the good rows are stored all the same: sending the whole body again is
safe). ``?replace=1`` replaces stored samples with other counts (corrections).
"""

from __future__ import annotations

import codecs

from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.audit import System
from billing.usage.ingest import ingest
from billing.usage.models import CollectorToken, hash_token


def _refuse(status: int, message: str) -> JsonResponse:
    response = JsonResponse({"ok": False, "error": message}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="usage"'
    return response


@csrf_exempt  # no cookies: the token in the header is the credential
@require_POST
def receive_samples(request: HttpRequest) -> JsonResponse:
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return _refuse(401, "Send the collector's token as 'Authorization: Bearer <token>'.")
    token = CollectorToken.objects.find(secret.strip())
    if token is None:
        revoked = CollectorToken.objects.filter(
            token_hash=hash_token(secret.strip()), revoked_at__isnull=False
        ).exists()
        return _refuse(401, "This token was revoked: ask for a new one." if revoked else "Unknown token.")
    content_type = request.content_type or ""
    if content_type not in ("text/csv", "text/plain"):
        return _refuse(415, f"Send the samples as text/csv, not {content_type or 'no content type'}.")
    CollectorToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    replace = request.GET.get("replace", "") in ("1", "true", "yes")
    # Read as a stream, batch by batch, however long the body is.
    lines = codecs.iterdecode(iter(request), "utf-8-sig")
    try:
        report = ingest(lines, actor=System(f"usage collector {token.name}"), replace=replace)
    except UnicodeDecodeError as exc:
        return _refuse(400, f"The body is not UTF-8 text ({exc}); batches before that point were stored.")
    return JsonResponse({"ok": report.ok, **report.as_dict()}, status=200 if report.ok else 422)
