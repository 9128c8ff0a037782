"""Privacy pages about a person work for every person, whatever their role, and whether or
not they still act for a customer.

Rights belong to people: any logged-in person may make and follow requests about their
own data, see what we hold about them, download an export of it, and manage their own
consents, even after they were removed from their last customer (their login and data
remain until erasure or retention removes them). Only an owner acts for the customer's
data as a whole (``roles.Action.USE_PRIVACY_CENTRE``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse

from accounts import roles
from accounts.middleware import current_membership
from accounts.models import Membership

PersonView = Callable[..., HttpResponse]


def person_view(view: PersonView) -> PersonView:
    """Log-in required; passes the membership the person acts through now, or None."""

    @wraps(view)
    @login_required
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        return view(request, current_membership(request), *args, **kwargs)

    return wrapper


def acts_for_customer(membership: Membership | None) -> bool:
    """Whether the person may act for the customer's data as a whole (an owner)."""
    return membership is not None and membership.can(roles.Action.USE_PRIVACY_CENTRE)
