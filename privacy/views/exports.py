"""Data-subject exports in the portal: request one, watch it being prepared, download it.

An owner (USE_PRIVACY_CENTRE) exports the customer's whole record (with their own records
about them personally). Every other person, including one who acts for no customer any
more, exports their own data. Only the person who asked may download an export (a
customer's, while they act for that customer), until it expires; anyone else's answers 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Q
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from accounts.access import kept_page, private_download
from accounts.models import Membership
from core.files import check_verified
from core.pagination import paginate
from privacy.models import DataExport
from privacy.services import export as export_service
from privacy.views.people import acts_for_customer, person_view

RECENT = 20


def _own_exports(request: HttpRequest, membership: Membership | None):
    """The customer exports this person asked for (an owner, for the customer they act for
    now), and any export of this person's own data (theirs whatever their role)."""
    own_person_exports = Q(person=request.user, customer__isnull=True)
    if not acts_for_customer(membership):
        return DataExport.objects.filter(own_person_exports)
    own_customer_exports = Q(requested_by=request.user, customer=membership.customer)
    return DataExport.objects.filter(own_customer_exports | own_person_exports)


@person_view
@require_http_methods(["GET", "POST"])
@kept_page
def exports(request: HttpRequest, membership: Membership | None) -> HttpResponse:
    whole_customer = acts_for_customer(membership)
    if request.method == "POST":
        if whole_customer:
            export_service.request_export(requested_by=request.user, customer=membership.customer)
        else:
            export_service.request_export(requested_by=request.user, person=request.user)
        messages.success(
            request,
            "We are preparing your export. This page shows its progress; you can leave it and come back.",
        )
        return redirect("privacy:exports")
    page = paginate(request, _own_exports(request, membership).order_by("-created_at", "-pk"), per_page=RECENT)
    rows = list(page)
    now = timezone.now()
    return render(
        request,
        "privacy/exports.html",
        {
            "customer": membership.customer if membership else None,
            "whole_customer": whole_customer,
            "exports": rows,
            "page": page,
            "now": now,
            "in_progress": any(e.status in (DataExport.Status.QUEUED, DataExport.Status.RUNNING) for e in rows),
            "lifetime_days": export_service.EXPORT_LIFETIME.days,
        },
    )


@person_view
@private_download
def export_download(request: HttpRequest, membership: Membership | None, export_id: int) -> HttpResponse:
    export = get_object_or_404(_own_exports(request, membership), pk=export_id)
    expired = export.status == DataExport.Status.EXPIRED or (
        export.expires_at is not None and export.expires_at <= timezone.now()
    )
    if expired:
        return render(
            request,
            "privacy/export_expired.html",
            {"export": export, "customer": membership.customer if membership else None},
            status=410,
        )
    if export.status != DataExport.Status.READY or not export.file:
        messages.info(request, "That export is not ready to download yet.")
        return redirect("privacy:exports")
    check_verified(export.file.name, export.sha256)  # a swapped file is refused (private_download)
    return FileResponse(
        export.file.open("rb"),
        as_attachment=True,
        filename=export_service.download_filename(export),
        content_type="application/zip",
    )


urlpatterns = [
    path("exports/", exports, name="exports"),
    path("exports/<int:export_id>/download/", export_download, name="export_download"),
]
