"""What we hold about you: generated from the registry's declarations and live counts.

Every contact may see it, whatever their role: the customer's record is about them too,
and it shows counts and reasons, not the records themselves.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

from accounts import roles
from accounts.models import Membership
from accounts.views import customer_view, require_permission
from privacy.services import what_we_hold


@customer_view
def what_we_hold_page(request: HttpRequest, membership: Membership) -> HttpResponse:
    require_permission(membership, roles.Action.VIEW_DASHBOARD)
    return render(
        request,
        "privacy/what_we_hold.html",
        {
            "customer": membership.customer,
            "sections": what_we_hold.what_we_hold(membership.customer),
            "personal_sections": what_we_hold.what_we_hold_about_person_only(request.user, membership.customer),
            "can_export": membership.can(roles.Action.USE_PRIVACY_CENTRE),
        },
    )


urlpatterns = [
    path("what-we-hold/", what_we_hold_page, name="what_we_hold"),
]
