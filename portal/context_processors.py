from __future__ import annotations

from django.http import HttpRequest

from accounts.middleware import current_membership
from accounts.models import ProviderDetails


def portal(request: HttpRequest) -> dict:
    """The provider's trading disclosures for every footer, and whom the person acts for."""
    return {
        "provider": ProviderDetails.current(),
        "current_membership": current_membership(request) if hasattr(request, "user") else None,
    }
