"""What we hold about you: generated from the registry's declarations and live counts.

An owner sees the customer's record (every contact's part of it) and their own records
about them personally; every other person, including one who acts for no customer any
more, sees what we hold about them: the customer-wide counts (invoices, payments) are
the owner's to see.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

from accounts.access import kept_page
from accounts.models import Membership
from privacy.services import what_we_hold
from privacy.views.people import acts_for_customer, person_view


@person_view
@kept_page
def what_we_hold_page(request: HttpRequest, membership: Membership | None) -> HttpResponse:
    if not acts_for_customer(membership):
        return render(
            request,
            "privacy/what_we_hold_person.html",
            {
                "customer": membership.customer if membership else None,
                "sections": what_we_hold.what_we_hold_about_person(request.user),
            },
        )
    return render(
        request,
        "privacy/what_we_hold.html",
        {
            "customer": membership.customer,
            "sections": what_we_hold.what_we_hold(membership.customer),
            "personal_sections": what_we_hold.what_we_hold_about_person_only(request.user, membership.customer),
            "can_export": True,
        },
    )


urlpatterns = [
    path("what-we-hold/", what_we_hold_page, name="what_we_hold"),
]
