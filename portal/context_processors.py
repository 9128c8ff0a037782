from __future__ import annotations

from django.http import HttpRequest

from accounts.middleware import current_membership, customer_memberships
from accounts.models import ProviderDetails


def portal(request: HttpRequest) -> dict:
    """The provider's trading disclosures for every footer, whom the person acts for and
    the customers they may switch to (the list ``current_membership`` chose from: no
    query of its own)."""
    return {
        "provider": ProviderDetails.cached(),
        "current_membership": current_membership(request) if hasattr(request, "user") else None,
        "customer_memberships": customer_memberships(request),
    }
