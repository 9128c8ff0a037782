from __future__ import annotations

from django.http import HttpRequest


def portal(request: HttpRequest) -> dict:
    """The provider's trading disclosures for every footer, and whom the person acts for."""
    from accounts.middleware import current_membership
    from accounts.models import ProviderDetails

    return {
        "provider": ProviderDetails.current(),
        "current_membership": current_membership(request) if hasattr(request, "user") else None,
    }
