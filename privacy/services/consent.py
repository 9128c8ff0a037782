"""Consents (UK GDPR Art 7; PECR reg 6) and a person's instructions for after their death.

A consent record keeps who, when, how (which page or form), the exact wording shown and
its version, and withdrawal (UK GDPR Art 7: consent as easy to withdraw as to give).
Records are never edited except to stamp the withdrawal; giving consent again creates a
new record, so the history stays.

Cookies: the portal sets only strictly necessary cookies (session, CSRF, the cookie
choice itself) unless the provider configures optional analytics with
``PORTAL_ANALYTICS_SNIPPET``. See docs/privacy.md "Cookies".
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from privacy.models import ConsentRecord, PostMortemInstruction, ProcessingRestriction

ANALYTICS_COOKIES = "analytics_cookies"

PURPOSE_LABELS = {
    ANALYTICS_COOKIES: "Analytics cookies",
}

DEFAULT_ANALYTICS_WORDING = (
    "We would like to use analytics cookies to learn how people use this portal, so that we can improve it. "
    "They are optional: the portal works the same without them, and nothing optional loads unless you agree. "
    "You can withdraw your consent at any time in the privacy centre."
)

# The visitor's answer to the cookie banner. Remembering the answer is strictly necessary
# (PECR reg 6(4)(b); ICO guidance on cookies): without it the banner would ask on every page.
CHOICE_COOKIE = "portal_cookie_choice"
CHOICE_COOKIE_MAX_AGE = 60 * 60 * 24 * 180  # ask again after about six months (ICO guidance)
ACCEPTED = "accepted"
DECLINED = "declined"


def analytics_snippet() -> str:
    """The provider's optional analytics HTML, or "" when none is configured."""
    return (getattr(settings, "PORTAL_ANALYTICS_SNIPPET", "") or "").strip()


def analytics_wording() -> str:
    return getattr(settings, "PORTAL_ANALYTICS_WORDING", "") or DEFAULT_ANALYTICS_WORDING


def wording_version(wording: str) -> str:
    """A version derived from the text itself: changing the wording can never keep the old version."""
    return "sha256:" + hashlib.sha256(wording.encode()).hexdigest()[:12]


def _live(person, purpose: str):
    return ConsentRecord.objects.filter(person=person, purpose=purpose, withdrawn_at__isnull=True)


@transaction.atomic
def give_consent(person, purpose: str, wording: str, wording_version: str, method: str) -> ConsentRecord:
    """Record that ``person`` agreed to ``purpose`` after being shown exactly ``wording``.

    Agreeing again to the same wording keeps the existing record. Agreeing to new wording
    closes the old record (withdrawn now) and opens a new one, so each record says what
    the person actually agreed to.
    """
    if not wording.strip():
        raise ValueError("Consent needs the exact wording the person was shown.")
    live = _live(person, purpose).select_for_update().first()
    if live is not None:
        if live.wording == wording and live.wording_version == wording_version:
            return live
        live.withdrawn_at = timezone.now()
        live.save(update_fields=["withdrawn_at"])
    try:
        with transaction.atomic():
            return ConsentRecord.objects.create(
                person=person,
                purpose=purpose,
                wording=wording,
                wording_version=wording_version,
                method=method[:200],
            )
    except IntegrityError:
        # A concurrent request recorded the same consent first (one live record per purpose).
        return _live(person, purpose).get()


def withdraw_consent(person, purpose: str) -> bool:
    """Withdraw ``person``'s live consent to ``purpose``. True if there was one to withdraw.

    A conditional update, so two withdrawals at once stamp the record once.
    """
    return _live(person, purpose).update(withdrawn_at=timezone.now()) > 0


def has_consent(person, purpose: str, *, wording_version: str | None = None) -> bool:
    """Whether ``person`` has a live consent to ``purpose`` (to that wording, if given)."""
    if person is None or not person.is_authenticated:
        return False
    live = _live(person, purpose)
    if wording_version is not None:
        live = live.filter(wording_version=wording_version)
    return live.exists()


def is_restricted(person) -> bool:
    """Whether a restriction or objection covers ``person``, directly or through a customer they act for.

    Both stop optional processing: a restriction (Art 18) leaves storage only, and an
    objection (Art 21) is honoured here too because analytics is never needed to serve
    the customer. Documented in docs/privacy.md "Restriction and objection".
    """
    return (
        ProcessingRestriction.objects.active().filter(Q(person=person) | Q(customer__memberships__user=person)).exists()
    )


def analytics_allowed(person) -> bool:
    """Whether the optional analytics may load for ``person``: configured, consented to the
    current wording, and not restricted. Anonymous visitors never get it: their consent
    could not be recorded against anyone (docs/privacy.md "Cookies")."""
    if not analytics_snippet() or person is None or not person.is_authenticated:
        return False
    current = wording_version(analytics_wording())
    return has_consent(person, ANALYTICS_COOKIES, wording_version=current) and not is_restricted(person)


def give_analytics_consent(person, *, method: str) -> ConsentRecord:
    wording = analytics_wording()
    return give_consent(person, ANALYTICS_COOKIES, wording, wording_version(wording), method)


def banner_needed(person, choice_cookie: str | None) -> bool:
    """Whether the cookie banner should ask this visitor.

    Only when optional analytics is configured. An anonymous visitor is asked until they
    answer (the answer lives in a strictly necessary cookie). A logged-in person is asked
    until they declined, withdrew, or consented to the current wording: an anonymous
    "accept" is asked again after login so that the consent is recorded against them.
    """
    if not analytics_snippet():
        return False
    if person is None or not person.is_authenticated:
        return choice_cookie not in (ACCEPTED, DECLINED)
    if choice_cookie == DECLINED:
        return False
    records = ConsentRecord.objects.filter(person=person, purpose=ANALYTICS_COOKIES)
    current = wording_version(analytics_wording())
    return not records.filter(Q(withdrawn_at__isnull=False) | Q(wording_version=current)).exists()


# ---------------------------------------------------------------------------------------
# Instructions for after death (Loi Informatique et Libertés art. 85): the person's own
# wishes, kept by consent, shown to staff, deleted whenever the person asks.
# ---------------------------------------------------------------------------------------


def record_post_mortem_instructions(person, instructions: str) -> PostMortemInstruction:
    instructions = instructions.strip()
    if not instructions:
        raise ValueError("Write the instructions, or delete them instead.")
    record, _ = PostMortemInstruction.objects.update_or_create(
        person=person, defaults={"instructions": instructions, "updated_at": timezone.now()}
    )
    return record


def delete_post_mortem_instructions(person) -> bool:
    deleted, _ = PostMortemInstruction.objects.filter(person=person).delete()
    return deleted > 0
