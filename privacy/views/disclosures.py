"""Who we shared your data with: the customer's view of the disclosure ledger.

Only entries that name the customer are shown, and of those only the ones we may tell
them about (``DisclosureEntry.objects.visible_to_customer``): an entry under a lawful
non-disclosure duty appears once the duty has ended. Other customers named in the same
entry (one accountant export covers many customers) are never shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

from accounts import roles
from accounts.access import customer_view, kept_page, require_permission
from accounts.models import Membership
from core.pagination import paginate
from core.registry import Category, LawfulBasis
from privacy.models import DisclosureEntry

PAGE_SIZE = 50

_CATEGORY_DESCRIPTIONS = {category.value: category.description for category in Category}
_BASIS_LABELS = {basis.value: basis.label for basis in LawfulBasis}


@dataclass(frozen=True)
class DisclosureRow:
    entry: DisclosureEntry
    categories: list[str]
    legal_basis: str


def _row(entry: DisclosureEntry) -> DisclosureRow:
    return DisclosureRow(
        entry=entry,
        categories=[_CATEGORY_DESCRIPTIONS.get(category, category) for category in entry.categories],
        legal_basis=_BASIS_LABELS.get(entry.legal_basis, entry.legal_basis),
    )


@customer_view
@kept_page
def disclosures(request: HttpRequest, membership: Membership) -> HttpResponse:
    require_permission(membership, roles.Action.USE_PRIVACY_CENTRE)
    entries = (
        DisclosureEntry.objects.visible_to_customer(membership.customer)
        .only(
            "sequence",
            "recipient_kind",
            "recipient",
            "purpose",
            "legal_basis",
            "categories",
            "summary",
            "created_at",
            "withheld",
            "withheld_until",
        )
        .order_by("-created_at", "-sequence")
    )
    page = paginate(request, entries, per_page=PAGE_SIZE)
    return render(
        request,
        "privacy/disclosures.html",
        {"customer": membership.customer, "page": page, "rows": [_row(entry) for entry in page]},
    )


urlpatterns = [
    path("disclosures/", disclosures, name="disclosures"),
]
