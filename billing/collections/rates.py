"""The Bank Rate table the late-payment interest reads, and how far it is known to be
complete (docs/collections.md).

Staff add each Bank Rate change in Billing → Reference rates, and confirm from time to
time that the table is complete up to a day (Billing → Reference rate checks). A debt's
reference day (30 June or 31 December) after the latest confirmation has no rate: the
table may lack a change, so nothing is worked out rather than something wrong.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts import audit
from accounts.models import User
from billing.collections.interest import rate_in_force
from billing.collections.models import ReferenceRate, ReferenceRateCheck

WHERE = "Billing → Reference rate checks"


def checked_to() -> dt.date | None:
    """The latest day up to which the table is confirmed complete, or None."""
    return ReferenceRateCheck.objects.order_by("-checked_to").values_list("checked_to", flat=True).first()


def reference_rate(on: dt.date) -> Decimal:
    """Bank Rate in force on ``on``; LookupError when the table is not confirmed up to it."""
    confirmed = checked_to()
    if confirmed is None or on > confirmed:
        since = f"it was last confirmed up to {confirmed:%-d %B %Y}" if confirmed else "it was never confirmed"
        raise LookupError(
            f"The Bank Rate in force on {on:%-d %B %Y} is not confirmed ({since}): check the Bank of England's "
            f"Bank Rate history, add any change in Billing → Reference rates and confirm the table in {WHERE}."
        )
    return rate_in_force(ReferenceRate.objects.values_list("valid_from", "rate"), on)


def last_reference_day(today: dt.date) -> dt.date:
    """The latest 30 June or 31 December on or before ``today``."""
    if today >= dt.date(today.year, 6, 30):
        return dt.date(today.year, 6, 30) if today < dt.date(today.year, 12, 31) else dt.date(today.year, 12, 31)
    return dt.date(today.year - 1, 12, 31)


def check_due(today: dt.date | None = None) -> str:
    """A warning for staff when a reference day has passed that the table is not confirmed
    up to, else ""."""
    day = last_reference_day(today or timezone.localdate())
    confirmed = checked_to()
    if confirmed is not None and confirmed >= day:
        return ""
    since = f"was last confirmed up to {confirmed:%-d %B %Y}" if confirmed else "was never confirmed"
    return (
        f"The Bank Rate table {since}: no late-payment interest is worked out on debts whose reference day is "
        f"{day:%-d %B %Y} until someone checks the Bank of England's Bank Rate history and confirms it."
    )


def confirm_rates(*, checked_to: dt.date, source: str, actor) -> ReferenceRateCheck:
    """Record that the Bank Rate table holds every change up to ``checked_to``."""
    source = source.strip()
    if not source:
        raise ValidationError("Say what the table was checked against (e.g. the Bank of England's Bank Rate history).")
    if checked_to > timezone.localdate():
        raise ValidationError(f"{checked_to:%-d %B %Y} is in the future: a rate can be confirmed only once in force.")
    with transaction.atomic():
        latest = ReferenceRateCheck.objects.select_for_update().order_by("-checked_to").first()
        if latest is not None and checked_to <= latest.checked_to:
            raise ValidationError(f"The table is already confirmed up to {latest.checked_to:%-d %B %Y}.")
        try:
            in_force = rate_in_force(ReferenceRate.objects.values_list("valid_from", "rate"), checked_to)
        except LookupError as exc:
            raise ValidationError(str(exc)) from exc
        check = ReferenceRateCheck.objects.create(
            checked_to=checked_to, source=source, checked_by=actor if isinstance(actor, User) else None
        )
        audit.record(
            "collections.reference_rates_confirmed",
            actor=actor,
            target=check,
            summary=f"Bank Rate table confirmed up to {checked_to:%-d %B %Y} ({in_force}% in force then): {source}",
        )
    return check
