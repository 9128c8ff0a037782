"""Data-subject exports in the portal: request one, watch it being prepared, download it.

An export is the customer's whole record, so only an owner (USE_PRIVACY_CENTRE) asks for
one, and only the person who asked may download it, for the customer they act for now,
until it expires. Anyone else's export answers 404 (DESIGN.md "Access rules").
"""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Q
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from accounts import roles
from accounts.access import customer_view, require_permission
from accounts.models import Membership
from privacy.models import DataExport
from privacy.services import export as export_service

RECENT = 20


def _own_exports(request: HttpRequest, membership: Membership):
    """The customer exports this person asked for, and any export of this person's own data
    (prepared by staff for their access request), which is theirs whatever their role."""
    own_customer_exports = Q(requested_by=request.user, customer=membership.customer)
    own_person_exports = Q(person=request.user, customer__isnull=True)
    if not membership.can(roles.Action.USE_PRIVACY_CENTRE):
        return DataExport.objects.filter(own_person_exports)
    return DataExport.objects.filter(own_customer_exports | own_person_exports)


@customer_view
@require_http_methods(["GET", "POST"])
def exports(request: HttpRequest, membership: Membership) -> HttpResponse:
    if request.method == "POST":
        require_permission(membership, roles.Action.USE_PRIVACY_CENTRE)
        export_service.request_export(requested_by=request.user, customer=membership.customer)
        messages.success(
            request,
            "We are preparing your export. This page shows its progress; you can leave it and come back.",
        )
        return redirect("privacy:exports")
    rows = list(_own_exports(request, membership).order_by("-created_at")[:RECENT])
    now = timezone.now()
    return render(
        request,
        "privacy/exports.html",
        {
            "customer": membership.customer,
            "exports": rows,
            "now": now,
            "in_progress": any(e.status in (DataExport.Status.QUEUED, DataExport.Status.RUNNING) for e in rows),
            "lifetime_days": export_service.EXPORT_LIFETIME.days,
        },
    )


@customer_view
def export_download(request: HttpRequest, membership: Membership, export_id: int) -> HttpResponse:
    export = get_object_or_404(_own_exports(request, membership), pk=export_id)
    expired = export.status == DataExport.Status.EXPIRED or (
        export.expires_at is not None and export.expires_at <= timezone.now()
    )
    if expired:
        return render(
            request, "privacy/export_expired.html", {"export": export, "customer": membership.customer}, status=410
        )
    if export.status != DataExport.Status.READY or not export.file:
        messages.info(request, "That export is not ready to download yet.")
        return redirect("privacy:exports")
    response = FileResponse(
        export.file.open("rb"),
        as_attachment=True,
        filename=export_service.download_filename(export),
        content_type="application/zip",
    )
    response["Cache-Control"] = "private, no-store"
    return response


urlpatterns = [
    path("exports/", exports, name="exports"),
    path("exports/<int:export_id>/download/", export_download, name="export_download"),
]
