"""Data-subject requests: intake, the staff workflow, fulfilment and deadline reminders.

The one write path for ``DataSubjectRequest``: views, the admin and the tasks call
these functions; none of them writes the rows directly.

Intake (docs/privacy-requests.md "Intake channels"):

- the portal, by a logged-in person: the login is the identity, the clock starts at once;
- the public form: a confirmation link goes to the address only if it is a verified
  address of a login we hold (identity by what we already hold); the form answers the
  same whatever the address, so it cannot reveal who has an account;
- staff, from a letter or a call;
- an authorised agent with a written authority: the person confirms directly by a link
  sent to their own address, and the clock starts then.

Scope: a request with ``person`` set is about that person's own data; a request with
``person`` empty is about the whole customer account (only an owner may make one from
the portal). See docs/privacy-requests.md "Identity rules".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from collections import defaultdict
from decimal import Decimal

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.dispatch import Signal
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts import audit, roles
from accounts.audit import Actor, System
from accounts.correspondence import gateway
from accounts.correspondence.models import MailKind
from accounts.models import ProviderDetails, User
from privacy import deadlines
from privacy.authority import check_authority, stored_name
from privacy.models import ConsentRecord, DataSubjectRequest, ProcessingRestriction, PublicRequestSubmission
from privacy.services import erasure
from privacy.services.consent import withdraw_consent
from privacy.services.export import request_export

logger = logging.getLogger(__name__)

Kind = DataSubjectRequest.Kind
Regime = DataSubjectRequest.Regime
Status = DataSubjectRequest.Status
Channel = DataSubjectRequest.Channel

# A confirmation link works this long; an unconfirmed request then lapses (nothing was started).
CONFIRMATION_LIFETIME = dt.timedelta(days=14)
# The public forms send at most this many links per address per hour, so that they cannot be
# used to flood someone's mailbox. Over the limit the form answers exactly as usual.
PUBLIC_SENDS_PER_HOUR = 3
REMINDER_WINDOW_DAYS = 7

ACTIVE_STATUSES = (Status.OPEN, Status.PAUSED, Status.EXTENDED)
# Active requests whose clock runs (a paused one waits for the requester).
RUNNING_STATUSES = (Status.OPEN, Status.EXTENDED)
CLOSED_STATUSES = (Status.FULFILLED, Status.REFUSED, Status.WITHDRAWN)
# Rights that exist only under the CCPA.
CCPA_ONLY_KINDS = frozenset({Kind.KNOW, Kind.LIMIT_SENSITIVE})
EXPORT_KINDS = frozenset({Kind.ACCESS, Kind.PORTABILITY, Kind.KNOW})


class RequestError(ValidationError):
    """A workflow step that does not apply to the request in its current state."""


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


# Sent in the transaction that stored a request made on the public form, with
# ``submission_pk``: privacy's tasks queue its processing (``privacy.apps``).
public_request_submitted = Signal()


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(32)
    return token, _hash_token(token)


def _confirm_url(link_base: str, token: str) -> str:
    return link_base.rstrip("/") + reverse("privacy:confirm_request", kwargs={"token": token})


def check_kind_for_regime(kind: str, regime: str) -> None:
    if kind in CCPA_ONLY_KINDS and regime != Regime.CCPA:
        raise ValidationError(
            {"kind": f"“{Kind(kind).label}” is a CCPA right: choose the CCPA, or another kind of request."}
        )


def _person_for_address(email: str):
    """The login whose *verified* address this is, or None. Unverified addresses prove nothing."""
    address = (
        EmailAddress.objects.select_related("user")
        .filter(email__iexact=email.strip(), verified=True, user__is_active=True)
        .first()
    )
    return address.user if address else None


def _only_customer_of(person):
    """The customer a person acts for, when there is exactly one (so staff see it in the queue)."""
    memberships = list(person.memberships.select_related("customer")[:2])
    return memberships[0].customer if len(memberships) == 1 else None


def _note(dsr: DataSubjectRequest, actor, text: str) -> None:
    stamp = timezone.localtime().strftime("%Y-%m-%d %H:%M")
    who = getattr(actor, "email", None) or getattr(actor, "name", None) or "system"
    line = f"[{stamp} {who}] {text.strip()}"
    dsr.notes = f"{dsr.notes}\n{line}".strip() if dsr.notes else line


def _deadline_phrase(dsr: DataSubjectRequest) -> str:
    return deadlines.deadline_phrase(dsr.regime, dsr.kind, timezone.localdate(dsr.received_at))


def _refresh_deadlines(dsr: DataSubjectRequest) -> None:
    dsr.due_on = deadlines.due_date(dsr)
    dsr.confirm_due_on = deadlines.confirm_due_date(dsr)


def _lock(dsr: DataSubjectRequest) -> DataSubjectRequest:
    return DataSubjectRequest.objects.select_for_update().get(pk=dsr.pk)


def _sync(target: DataSubjectRequest, source: DataSubjectRequest) -> DataSubjectRequest:
    """Copy a locked row's fields back onto the caller's instance."""
    for field in DataSubjectRequest._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))
    return target


def requester_addresses(dsr: DataSubjectRequest) -> list[str]:
    """Whom mail about the request goes to: the person, and their agent once confirmed."""
    addresses = [dsr.requester_email or (dsr.person.email if dsr.person_id else "")]
    if dsr.channel == Channel.AGENT and dsr.agent_email and dsr.agent_confirmed_at:
        addresses.append(dsr.agent_email)
    return sorted({a for a in addresses if a})


def requester_login(dsr: DataSubjectRequest):
    """The login of whoever asked for a request about a whole customer (an owner), if any."""

    if dsr.person_id is not None or dsr.customer_id is None or not dsr.requester_email:
        return None
    return (
        User.objects.filter(email__iexact=dsr.requester_email, memberships__customer_id=dsr.customer_id)
        .order_by("pk")
        .first()
    )


def _mail(
    dsr: DataSubjectRequest,
    template: str,
    key: str,
    *,
    to=None,
    context=None,
    secrets_=(),
    actor=None,
    requester=None,
):
    """Send mail about ``dsr`` through the gateway (kind privacy).

    Mail about a request is the requester's alone: about one person's own request it is
    filed with that person, not with the customer; about a whole customer it is filed
    with the customer *and* the login that asked (``requester``, else found by address),
    so it appears in that person's correspondence and in no other contact's.
    """
    person = dsr.person if dsr.person_id is not None else (requester or requester_login(dsr))
    return gateway.send_mail(
        kind=MailKind.PRIVACY,
        template=template,
        context={"privacy_request": dsr, **(context or {})},
        idempotency_key=f"privacy-request:{dsr.pk}:{key}",
        customer=dsr.customer if dsr.person_id is None else None,
        person=person,
        to=to if to is not None else requester_addresses(dsr),
        related=dsr,
        created_by=audit.person(actor),
        secrets=secrets_,
    )


def _start_clock(dsr: DataSubjectRequest, *, at: dt.datetime, actor: Actor) -> None:
    """Identity established: the clock starts; the person is told when to expect an answer."""
    dsr.confirmed_at = at
    dsr.status = Status.OPEN
    dsr.confirmation_token_hash = ""
    _refresh_deadlines(dsr)
    dsr.save()
    audit.record(
        "privacy.request_opened",
        actor=actor,
        target=dsr,
        customer=dsr.customer,
        summary=f"Privacy request made: {dsr.get_kind_display().lower()}",
        security=True,
    )
    # The acknowledgement also confirms receipt within the CCPA's 10 business days.
    _mail(dsr, "privacy_request_received", "received", actor=actor)


# ---------------------------------------------------------------------------------------
# Intake
# ---------------------------------------------------------------------------------------


@transaction.atomic
def open_request_from_portal(
    membership,
    kind: str,
    details: str,
    regime: str = Regime.UK_GDPR,
    *,
    about_customer: bool = False,
    person=None,
) -> DataSubjectRequest:
    """A logged-in person asks. The login is the identity, so the clock starts at once.

    ``about_customer``: the request covers the whole customer account, which only an owner
    may ask for (roles.Action.USE_PRIVACY_CENTRE); otherwise it covers the person's own data.
    ``membership`` is None for a person who acts for no customer any more (``person``
    then says who): they may still ask about their own data.
    """
    check_kind_for_regime(kind, regime)
    person = membership.user if membership is not None else person
    if person is None:
        raise ValueError("Say who is asking: a membership, or the person.")
    if about_customer and (membership is None or not membership.can(roles.Action.USE_PRIVACY_CENTRE)):
        raise ValidationError("Only an owner may make a request about the whole customer account.")
    now = timezone.now()
    dsr = DataSubjectRequest(
        kind=kind,
        regime=regime,
        channel=Channel.PORTAL,
        customer=membership.customer if membership is not None else None,
        person=None if about_customer else person,
        requester_name=person.full_name,
        requester_email=person.email,
        details=details.strip(),
        received_at=now,
    )
    dsr.save()
    _start_clock(dsr, at=now, actor=person)
    return dsr


def _public_throttled(email: str) -> bool:
    key = "privacy-public-request:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()
    cache.add(key, 0, timeout=3600)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=3600)
        count = 1
    return count > PUBLIC_SENDS_PER_HOUR


@transaction.atomic
def open_public_request(email: str, kind: str, details: str, regime: str = Regime.UK_GDPR, *, link_base: str) -> None:
    """The public form: validate, store the submission, and hand it to a task.

    The web request does the same work whether or not ``email`` has a login (validation,
    one insert and one enqueue), so neither its answer nor its timing tells a visitor who
    has an account. The task gets the submission's primary key only, never the address.
    With a broker (production) the lookup, storing and mailing happen in a worker; in the
    embedded default tasks run in-process after commit, which is why production needs a
    broker (README "Production").
    """
    check_kind_for_regime(kind, regime)
    submission = PublicRequestSubmission.objects.create(
        email=email.strip(), kind=kind, regime=regime, details=details.strip(), link_base=link_base
    )
    public_request_submitted.send(sender=PublicRequestSubmission, submission_pk=submission.pk)


@transaction.atomic
def process_public_request(submission: PublicRequestSubmission) -> DataSubjectRequest | None:
    """The public form's work, in a task. Returns the request awaiting confirmation, or None.

    The submission is deleted whatever happens; a second run for it finds it gone and does
    nothing. Only when its address is a verified address of a login we hold is a request
    stored and a confirmation link sent to that address; otherwise nothing is stored or
    sent. The caller must answer the same in both cases (the view always redirects to the
    same page). To keep the two paths close in time, the unknown path renders the same email.
    """
    if not PublicRequestSubmission.objects.filter(pk=submission.pk).delete()[0]:
        return None  # another run of the task took it
    email, kind, regime = submission.email, submission.kind, submission.regime
    check_kind_for_regime(kind, regime)
    throttled = _public_throttled(email)
    person = _person_for_address(email)
    token, token_hash = _new_token()
    confirm_url = _confirm_url(submission.link_base, token)
    if person is None or throttled:
        # Same rendering work as the real path; the result is thrown away.
        _render_for_timing(
            "privacy_request_confirm",
            {
                "confirm_url": confirm_url,
                "kind_label": Kind(kind).label,
                "deadline": deadlines.deadline_phrase(regime, kind, timezone.localdate(submission.submitted_at)),
            },
        )
        return None
    dsr = DataSubjectRequest.objects.create(
        kind=kind,
        regime=regime,
        channel=Channel.PUBLIC_FORM,
        status=Status.AWAITING_CONFIRMATION,
        customer=_only_customer_of(person),
        person=person,
        requester_name=person.full_name,
        requester_email=email.strip().lower(),
        details=submission.details.strip(),
        received_at=submission.submitted_at,
        confirmation_token_hash=token_hash,
        confirm_due_on=None,
    )
    dsr.confirm_due_on = deadlines.confirm_due_date(dsr)
    dsr.save(update_fields=["confirm_due_on"])
    _mail(
        dsr,
        "privacy_request_confirm",
        "confirm",
        to=[dsr.requester_email],
        context={
            "confirm_url": confirm_url,
            "kind_label": dsr.get_kind_display(),
            "expires_days": 14,
            "deadline": _deadline_phrase(dsr),
        },
        secrets_=[confirm_url],
    )
    return dsr


def _render_for_timing(template: str, context: dict) -> None:
    context = {"privacy_request": None, "customer": None, **context}
    for suffix in ("subject.txt", "txt", "html"):
        render_to_string(f"mail/{template}.{suffix}", context)


@transaction.atomic
def open_agent_request(
    *,
    agent_name: str,
    agent_email: str,
    authority_file: UploadedFile,
    kind: str,
    details: str,
    regime: str = Regime.UK_GDPR,
    customer=None,
    person=None,
    person_email: str = "",
    link_base: str,
) -> DataSubjectRequest | None:
    """An authorised agent asks for someone. Their written authority is stored privately.

    The person is then asked, at their own verified address, to confirm the agent directly
    (UK GDPR: be satisfied the agent is entitled to act; CCPA §7063: direct confirmation by
    the consumer). The clock starts when they confirm. When ``person`` is not given it is
    found from ``person_email``; an address we do not hold yields None and nothing is stored,
    with the same answer to the agent (the form must not reveal who has an account).
    """
    check_kind_for_regime(kind, regime)
    if not authority_file:
        raise ValidationError({"authority": "Attach the written authority to act for the person."})
    received_at = timezone.now()
    deadline = deadlines.deadline_phrase(regime, kind, timezone.localdate(received_at))
    if person is None:
        throttled = _public_throttled(person_email)
        person = _person_for_address(person_email)
        if person is None or throttled:
            _render_for_timing(
                "privacy_request_agent_confirm",
                {"confirm_url": link_base, "kind_label": Kind(kind).label, "agent_name": agent_name},
            )
            # The agent's receipt says the same whoever the person is.
            _agent_receipt(None, agent_name, agent_email, kind, deadline, received_at)
            return None
    token, token_hash = _new_token()
    confirm_url = _confirm_url(link_base, token)
    dsr = DataSubjectRequest(
        kind=kind,
        regime=regime,
        channel=Channel.AGENT,
        status=Status.AWAITING_CONFIRMATION,
        customer=customer or _only_customer_of(person),
        person=person,
        requester_name=person.full_name,
        requester_email=person.email,
        agent_name=agent_name.strip(),
        agent_email=agent_email.strip().lower(),
        details=details.strip(),
        received_at=received_at,
        confirmation_token_hash=token_hash,
    )
    # Checked again here, the one write path: a random name with the extension of what it is.
    dsr.agent_authority.save(stored_name(check_authority(authority_file)), authority_file, save=False)
    dsr.confirm_due_on = deadlines.confirm_due_date(dsr)
    dsr.save()
    _mail(
        dsr,
        "privacy_request_agent_confirm",
        "agent-confirm",
        to=[person.email],
        context={
            "confirm_url": confirm_url,
            "kind_label": dsr.get_kind_display(),
            "agent_name": dsr.agent_name,
            "agent_email": dsr.agent_email,
            "expires_days": 14,
            "deadline": deadline,
        },
        secrets_=[confirm_url],
    )
    _agent_receipt(dsr, dsr.agent_name, dsr.agent_email, kind, deadline, received_at)
    return dsr


def _agent_receipt(dsr, agent_name: str, agent_email: str, kind: str, deadline: str, received_at) -> None:
    """Confirm receipt to the agent at once (CCPA §7021: within 10 business days).

    The text is the same whether or not we hold data about the person, so it reveals
    nothing; it is throttled per agent address like the links, so the form cannot be
    used to flood someone's mailbox. Stored with no customer and no person: it goes to the
    agent, and until the person confirms we do not know the agent acts for them.
    """
    agent_email = agent_email.strip().lower()
    if not agent_email or _public_throttled(f"agent:{agent_email}"):
        return
    key = (
        f"privacy-request:{dsr.pk}:agent-receipt"
        if dsr is not None
        else f"privacy-agent-receipt:{secrets.token_hex(16)}"
    )
    gateway.send_mail(
        kind=MailKind.PRIVACY,
        template="privacy_request_agent_receipt",
        context={
            "privacy_request": None,
            "agent_name": agent_name.strip(),
            "kind_label": Kind(kind).label,
            "received_on": timezone.localdate(received_at),
            "deadline": deadline,
        },
        idempotency_key=key,
        to=[agent_email],
    )


def find_awaiting_confirmation(token: str) -> DataSubjectRequest | None:
    """The request a confirmation link belongs to, if it still waits and has not lapsed."""
    if not token:
        return None
    return (
        DataSubjectRequest.objects.filter(
            confirmation_token_hash=_hash_token(token),
            status=Status.AWAITING_CONFIRMATION,
            received_at__gt=timezone.now() - CONFIRMATION_LIFETIME,
        )
        .select_related("customer", "person")
        .first()
    )


@transaction.atomic
def confirm_public_request(token: str) -> DataSubjectRequest | None:
    """The person followed the link: identity (and, for an agent, the mandate) is confirmed.

    The clock starts now. The token's hash is cleared, so the link works once.
    """
    found = find_awaiting_confirmation(token)
    if found is None:
        return None
    dsr = _lock(found)
    if dsr.status != Status.AWAITING_CONFIRMATION:
        return None  # a concurrent click confirmed it first
    now = timezone.now()
    if dsr.channel == Channel.AGENT:
        dsr.agent_confirmed_at = now
    # The person proved their address by following the link; no login acted.
    _start_clock(dsr, at=now, actor=System("privacy requests"))
    return dsr


@transaction.atomic
def open_staff_request(
    *,
    kind: str,
    regime: str = Regime.UK_GDPR,
    customer=None,
    person=None,
    requester_name: str = "",
    requester_email: str = "",
    details: str = "",
    received_at: dt.datetime | None = None,
    identity_confirmed: bool = True,
    actor,
    link_base: str = "",
) -> DataSubjectRequest:
    """Staff enter a request that came by letter or telephone.

    ``identity_confirmed``: staff are satisfied who is asking (a letter from the address on
    file, a call answered through the account's security questions); the clock then runs
    from ``received_at``. Otherwise a confirmation link goes to ``requester_email`` and the
    clock starts when it is followed.
    """
    check_kind_for_regime(kind, regime)
    if customer is None and person is None:
        raise ValidationError("Say whose data the request is about: a customer, a person, or both.")
    requester_email = (requester_email or (person.email if person else "")).strip().lower()
    if not requester_email:
        raise ValidationError({"requester_email": "We need an address to answer the request."})
    received_at = received_at or timezone.now()
    if received_at > timezone.now():
        raise ValidationError({"received_at": "The request cannot have been received in the future."})
    dsr = DataSubjectRequest.objects.create(
        kind=kind,
        regime=regime,
        channel=Channel.STAFF,
        status=Status.AWAITING_CONFIRMATION,
        customer=customer,
        person=person,
        requester_name=requester_name or (person.full_name if person else ""),
        requester_email=requester_email,
        details=details.strip(),
        received_at=received_at,
    )
    _note(dsr, actor, "Entered by staff from a letter or call.")
    if identity_confirmed:
        _start_clock(dsr, at=received_at, actor=actor)
        return dsr
    if not link_base:
        raise ValueError("A confirmation link needs the portal's address (link_base).")
    token, dsr.confirmation_token_hash = _new_token()
    dsr.confirm_due_on = deadlines.confirm_due_date(dsr)
    dsr.save()
    confirm_url = _confirm_url(link_base, token)
    _mail(
        dsr,
        "privacy_request_confirm",
        "confirm",
        to=[requester_email],
        context={
            "confirm_url": confirm_url,
            "kind_label": dsr.get_kind_display(),
            "expires_days": 14,
            "deadline": _deadline_phrase(dsr),
        },
        secrets_=[confirm_url],
        actor=actor,
    )
    return dsr


# ---------------------------------------------------------------------------------------
# Staff workflow
# ---------------------------------------------------------------------------------------


def _require_active(dsr: DataSubjectRequest, doing: str) -> None:
    if dsr.status not in ACTIVE_STATUSES:
        raise RequestError(f"Cannot {doing} {dsr}: it is {dsr.get_status_display().lower()}.")


@transaction.atomic
def assign(dsr: DataSubjectRequest, *, assignee, actor) -> DataSubjectRequest:
    locked = _lock(dsr)
    if locked.status in CLOSED_STATUSES:
        raise RequestError(f"{dsr} is closed.")
    locked.assignee = assignee
    _note(locked, actor, f"Assigned to {assignee.email}.")
    locked.save(update_fields=["assignee", "notes"])
    return _sync(dsr, locked)


@transaction.atomic
def add_note(dsr: DataSubjectRequest, *, text: str, actor) -> DataSubjectRequest:
    locked = _lock(dsr)
    _note(locked, actor, text)
    locked.save(update_fields=["notes"])
    return _sync(dsr, locked)


@transaction.atomic
def pause_for_clarification(dsr: DataSubjectRequest, *, question: str, actor) -> DataSubjectRequest:
    """Ask the requester what they mean; the clock stands still until they answer (ICO guidance).

    The CCPA has no such pause: its periods run from receipt whatever happens.
    """
    locked = _lock(dsr)
    _require_active(locked, "pause")
    if locked.regime == Regime.CCPA:
        raise RequestError("The CCPA has no pause for clarification: its 45 days run from receipt.")
    if locked.status == Status.PAUSED:
        raise RequestError(f"{dsr} is already paused.")
    if not question.strip():
        raise RequestError("Say what needs clarifying: the requester is sent the question.")
    locked.status = Status.PAUSED
    locked.paused_at = timezone.now()
    _note(locked, actor, f"Paused for clarification: {question.strip()}")
    locked.save()
    _mail(
        locked,
        "privacy_request_clarification",
        f"pause:{locked.paused_at.isoformat()}",
        context={"question": question.strip()},
        actor=actor,
    )
    return _sync(dsr, locked)


@transaction.atomic
def resume(dsr: DataSubjectRequest, *, actor, at: dt.datetime | None = None) -> DataSubjectRequest:
    """The clarification (or fee) arrived: the clock runs again, later by the days it stood still."""
    locked = _lock(dsr)
    if locked.status != Status.PAUSED or locked.paused_at is None:
        raise RequestError(f"{dsr} is not paused.")
    at = at or timezone.now()
    days = max(0, (timezone.localdate(at) - timezone.localdate(locked.paused_at)).days)
    locked.paused_days += days
    locked.paused_at = None
    locked.status = Status.EXTENDED if locked.extended else Status.OPEN
    _refresh_deadlines(locked)
    _note(locked, actor, f"Resumed after {days} day(s) paused; now due {locked.due_on:%-d %B %Y}.")
    locked.save()
    return _sync(dsr, locked)


@transaction.atomic
def extend(dsr: DataSubjectRequest, *, reason: str, actor, today: dt.date | None = None) -> DataSubjectRequest:
    """Extend by two further months (GDPR Art 12(3)) or 45 days (CCPA), once, with reasons.

    Only inside the original period: the requester must be told of the extension and why
    within the first month (45 days under the CCPA).
    """
    locked = _lock(dsr)
    _require_active(locked, "extend")
    reason = reason.strip()
    if not reason:
        raise RequestError("Give the reasons for the extension: the requester is told them.")
    if locked.extended:
        raise RequestError(f"{dsr} has already been extended; the law allows one extension.")
    if not deadlines.can_be_extended(locked.regime, locked.kind):
        raise RequestError(
            f"{dsr} cannot be extended: the CCPA gives 15 business days to limit the use of sensitive "
            "personal information, with no extension."
        )
    today = today or timezone.localdate()
    original = deadlines.original_due_date(locked)
    if original is None or today > original:
        raise RequestError(
            f"Too late to extend {dsr}: an extension must be notified by the original deadline"
            f"{f' ({original:%-d %B %Y})' if original else ''}."
        )
    locked.extended = True
    locked.extension_reason = reason
    if locked.status == Status.OPEN:
        locked.status = Status.EXTENDED
    _refresh_deadlines(locked)
    _note(locked, actor, f"Extended to {locked.due_on:%-d %B %Y}: {reason}")
    locked.save()
    _mail(locked, "privacy_request_extended", "extended", context={"reason": reason}, actor=actor)
    return _sync(dsr, locked)


@transaction.atomic
def refuse(dsr: DataSubjectRequest, *, reason: str, actor) -> DataSubjectRequest:
    """Refuse (manifestly unfounded or excessive, or an exemption applies), with reasons.

    The requester is told why and of their right to complain to the regulator and to seek a
    judicial remedy (UK GDPR Art 12(4)).
    """
    locked = _lock(dsr)
    _require_active(locked, "refuse")
    reason = reason.strip()
    if not reason:
        raise RequestError("Give the ground for refusing: the requester is told it.")
    locked.status = Status.REFUSED
    locked.refusal_reason = reason
    locked.closed_at = timezone.now()
    locked.paused_at = None
    _note(locked, actor, f"Refused: {reason}")
    locked.save()
    _mail(locked, "privacy_request_refused", "refused", context={"reason": reason}, actor=actor)
    return _sync(dsr, locked)


@transaction.atomic
def charge_fee(dsr: DataSubjectRequest, *, amount: Decimal, ground: str, actor) -> DataSubjectRequest:
    """Ask for a reasonable fee (manifestly unfounded or excessive requests, further copies).

    Requests are free by default. The clock waits for the fee (ICO: the time limit starts
    when the fee is received), so this pauses it; ``resume`` when the fee has arrived.
    """
    locked = _lock(dsr)
    _require_active(locked, "charge a fee for")
    ground = ground.strip()
    if not ground:
        raise RequestError("Give the ground for charging a fee: the requester is told it.")
    if amount is None or Decimal(amount) <= 0:
        raise RequestError("The fee must be a positive amount.")
    locked.fee_charged = Decimal(amount)
    _note(locked, actor, f"Fee of £{Decimal(amount):.2f} asked for: {ground}")
    if locked.status != Status.PAUSED and locked.regime != Regime.CCPA:
        locked.status = Status.PAUSED
        locked.paused_at = timezone.now()
    locked.save()
    _mail(
        locked,
        "privacy_request_fee",
        f"fee:{timezone.now().isoformat()}",
        context={"amount": locked.fee_charged, "ground": ground},
        actor=actor,
    )
    return _sync(dsr, locked)


@transaction.atomic
def withdraw_request(dsr: DataSubjectRequest, *, actor) -> DataSubjectRequest:
    """The requester no longer wants the request handled."""
    locked = _lock(dsr)
    if locked.status in CLOSED_STATUSES:
        raise RequestError(f"{dsr} is already closed.")
    locked.status = Status.WITHDRAWN
    locked.closed_at = timezone.now()
    locked.confirmation_token_hash = ""
    _note(locked, actor, "Withdrawn by the requester.")
    locked.save()
    return _sync(dsr, locked)


@transaction.atomic
def respond(dsr: DataSubjectRequest, *, text: str, actor) -> DataSubjectRequest:
    """Email the response through the gateway and close the request."""
    locked = _lock(dsr)
    if locked.closed_at is not None:
        raise RequestError(f"{dsr} is already closed.")
    if locked.status not in (*ACTIVE_STATUSES, Status.FULFILLED):
        raise RequestError(f"Cannot respond to {dsr}: it is {locked.get_status_display().lower()}.")
    text = text.strip()
    if not text:
        raise RequestError("Write the response.")
    locked.response = text
    locked.status = Status.FULFILLED
    locked.closed_at = timezone.now()
    locked.paused_at = None
    locked.save()
    _mail(locked, "privacy_request_response", "response", context={"response": text}, actor=actor)
    return _sync(dsr, locked)


# ---------------------------------------------------------------------------------------
# Fulfilment through the registry's engines
# ---------------------------------------------------------------------------------------


def _export_recipient(dsr: DataSubjectRequest):
    """The login the export is prepared for (its download link works for that login only)."""

    if dsr.person_id:
        return dsr.person
    if dsr.customer_id is None:
        return None
    owners = User.objects.filter(
        memberships__customer=dsr.customer, memberships__role=roles.Role.OWNER, is_active=True
    ).order_by("pk")
    return owners.filter(email__iexact=dsr.requester_email).first() or owners.first()


def erasure_plan_for(dsr: DataSubjectRequest) -> list[dict]:
    """What fulfilling an erasure request will do, for staff to read before they confirm."""

    return erasure.erasure_plan(**_scope(dsr))


def _scope(dsr: DataSubjectRequest) -> dict:
    """Engines work on one person's data or on a whole customer's."""
    return {"person": dsr.person} if dsr.person_id else {"customer": dsr.customer}


DEFAULT_RESPONSES = {
    Kind.ACCESS: (
        "We are preparing a copy of your data. It will appear under “Download your data” in the privacy "
        "centre of the portal; the download link works for your login only and expires. The copy includes "
        "why we hold each kind of data, on what basis, for how long, and who received it."
    ),
    Kind.PORTABILITY: (
        "We are preparing your data in machine-readable form (JSON and CSV). It will appear under "
        "“Download your data” in the privacy centre of the portal; the link works for your login only."
    ),
    Kind.KNOW: (
        "We are preparing the personal information we hold about you, with the categories, sources, "
        "purposes and recipients. It will appear under “Download your data” in the privacy centre."
    ),
    Kind.RESTRICTION: (
        "We have restricted the processing of your data: we keep it, but use it for nothing optional "
        "until the restriction is lifted. We will tell you before we lift it."
    ),
    Kind.OBJECTION: (
        "We have recorded your objection: we no longer process your data on the basis of our legitimate "
        "interests for anything optional."
    ),
    Kind.LIMIT_SENSITIVE: (
        "We have recorded your request to limit the use of sensitive personal information: we use it for "
        "nothing beyond providing the services you asked for."
    ),
    Kind.WITHDRAW_CONSENT: "We have recorded the withdrawal of your consent. It takes effect now.",
    Kind.RECTIFICATION: "We have corrected your data.",
}


def fulfil(dsr: DataSubjectRequest, *, actor, note: str = "") -> DataSubjectRequest:
    """Carry out the request through the engines, then respond and close it.

    access, portability, know → a data export (privacy.services.export);
    erasure → the erasure engine, and the person is told what was erased and what was kept;
    restriction, objection, limit_sensitive → a ProcessingRestriction the code honours;
    withdraw_consent → the person's live consents are withdrawn;
    rectification → staff first correct the data in the customer admin (the normal
    services), then fulfil with a ``note`` saying what was corrected.
    """
    if dsr.kind == Kind.ERASURE:
        return _fulfil_erasure(dsr, actor=actor, note=note)
    with transaction.atomic():
        locked = _lock(dsr)
        _check_fulfillable(locked, note)
        _carry_out(locked, actor=actor, note=note)
        locked.status = Status.FULFILLED
        locked.save()
        text = DEFAULT_RESPONSES[locked.kind]
        if locked.kind == Kind.RECTIFICATION:
            text = f"{text} What we changed: {note.strip()}"
        return respond(_sync(dsr, locked), text=text, actor=actor)


def _check_fulfillable(locked: DataSubjectRequest, note: str) -> None:
    _require_active(locked, "fulfil")
    if locked.status == Status.PAUSED:
        raise RequestError(f"{locked} is paused; resume it first.")
    if locked.kind == Kind.RECTIFICATION and not note.strip():
        raise RequestError("Say what was corrected (edit the data in the customer admin first).")


def _carry_out(locked: DataSubjectRequest, *, actor, note: str) -> None:
    kind = locked.kind
    if kind in EXPORT_KINDS:
        requested_by = _export_recipient(locked)
        if requested_by is None:
            raise RequestError(
                f"{locked} has no login to prepare the export for; send the data another way and respond."
            )
        export = request_export(requested_by=requested_by, request=locked, **_scope(locked))
        _note(locked, actor, f"Export #{export.pk} requested for {requested_by.email}.")
    elif kind in (Kind.RESTRICTION, Kind.OBJECTION, Kind.LIMIT_SENSITIVE):
        flags = ProcessingRestriction.Kind
        flag = flags.OBJECTION if kind == Kind.OBJECTION else flags.RESTRICTION
        prefix = "CCPA limit on sensitive personal information. " if kind == Kind.LIMIT_SENSITIVE else ""
        restriction = ProcessingRestriction.objects.create(
            kind=flag, scope=(prefix + locked.details)[:5000], request=locked, **_scope(locked)
        )
        _note(locked, actor, f"{restriction.get_kind_display().split(':')[0]} #{restriction.pk} in force.")
    elif kind == Kind.WITHDRAW_CONSENT:
        people = [locked.person] if locked.person_id else [m.user for m in locked.customer.memberships.all()]

        live = ConsentRecord.objects.filter(person__in=people, withdrawn_at__isnull=True)
        count = sum(withdraw_consent(record.person, record.purpose) for record in live.select_related("person"))
        _note(locked, actor, f"{count} live consent(s) withdrawn.")
    if note.strip():
        _note(locked, actor, note)


# A claim older than this is taken to be from a worker that died mid-run: fulfilling
# again is allowed (the engine is all or nothing, so a dead run changed nothing).
ERASURE_CLAIM_EXPIRES = dt.timedelta(minutes=30)


def _fulfil_erasure(dsr: DataSubjectRequest, *, actor, note: str) -> DataSubjectRequest:
    """Erasure runs in its own transaction, outside ours, so that the engine's record of a
    failed attempt survives the failure; the request is closed only after a successful run."""

    with transaction.atomic():
        # Claimed under the row lock: a second "Fulfil" (a double click, two officers)
        # finds the claim and stops, instead of running the engine again.
        locked = _lock(dsr)
        _check_fulfillable(locked, note)
        started = locked.fulfilment_started_at
        if started is not None and timezone.now() - started < ERASURE_CLAIM_EXPIRES:
            raise RequestError(
                f"{locked} is already being carried out (since {timezone.localtime(started):%H:%M}); "
                "wait for it to finish."
            )
        locked.fulfilment_started_at = timezone.now()
        locked.save(update_fields=["fulfilment_started_at"])
    dsr.refresh_from_db()
    # Taken before the engine runs: erasing a login anonymises its address.
    addresses = requester_addresses(dsr)
    requester = requester_login(dsr)
    try:
        run = erasure.execute_erasure(request=dsr, actor=actor, **_scope(dsr))
    except erasure.ErasureFailed as exc:
        DataSubjectRequest.objects.filter(pk=dsr.pk).update(fulfilment_started_at=None)  # may be tried again
        add_note(dsr, text=f"Erasure failed, nothing changed: {exc}", actor=actor)
        raise RequestError(f"The erasure failed and changed nothing: {exc}") from exc
    notice = erasure.erasure_notice(run)
    held = [item for item in run.plan if item.get("held")]
    with transaction.atomic():
        locked = _lock(dsr)
        _note(locked, actor, f"Erasure run #{run.pk} done.{f' {note.strip()}' if note.strip() else ''}")
        locked.response = notice
        locked.fulfilment_started_at = None
        if held:
            # Answered, but not finished: what the hold keeps is erased once it is lifted.
            locked.status = Status.HELD
            kept = ", ".join(f"{item['model']} ({item['count']})" for item in held)
            _note(locked, actor, f"Held: a legal hold keeps {kept}; the request returns to the queue when lifted.")
        else:
            locked.status = Status.FULFILLED
            locked.closed_at = timezone.now()
        locked.save()
        # One answer per run: a held erasure finished later sends its second notice.
        _mail(
            locked,
            "privacy_request_response",
            f"response:erasure-run-{run.pk}",
            to=addresses,
            context={"response": notice},
            actor=actor,
            requester=requester,
        )
    return _sync(dsr, locked)


def release_held_erasures(*, actor: Actor, lifted_on: dt.date | None = None) -> list[DataSubjectRequest]:
    """After a legal hold is lifted: put back in the queue each held erasure no hold keeps now.

    The request becomes open again, due the day the hold was lifted (what remains must be
    erased without undue delay), and its assignee (else the provider's privacy address)
    is reminded at once; the daily digest then lists it until it is fulfilled. A request
    that another hold still keeps stays held.
    """

    lifted_on = lifted_on or timezone.localdate()
    released = []
    for pk in DataSubjectRequest.objects.filter(status=Status.HELD).values_list("pk", flat=True):
        with transaction.atomic():
            locked = DataSubjectRequest.objects.select_for_update().filter(pk=pk, status=Status.HELD).first()
            if locked is None or any(item["held"] for item in erasure.erasure_plan(**_scope(locked))):
                continue
            was = locked.status
            locked.status = Status.EXTENDED if locked.extended else Status.OPEN
            locked.due_on = lifted_on
            _note(locked, actor, "The legal hold was lifted: back in the queue to erase what it kept.")
            locked.save()
            audit.record(
                "privacy.request_released",
                actor=actor,
                target=locked,
                customer=locked.customer,
                changes={"status": [was, locked.status], "due_on": [None, lifted_on.isoformat()]},
                summary="The legal hold was lifted: the erasure is back in the queue",
            )
            _mail_staff(
                "privacy_request_released",
                f"privacy-request:{locked.pk}:released:{lifted_on.isoformat()}",
                locked.assignee,
                {"privacy_request": locked, "lifted_on": lifted_on},
            )
            released.append(locked)
    return released


def _staff_address(assignee) -> str:
    """An assignee's address, or the provider's privacy address for unassigned requests."""

    if assignee is not None and assignee.is_active:
        return assignee.email
    provider = ProviderDetails.current()
    return provider.privacy_email if provider else getattr(settings, "DEFAULT_FROM_EMAIL", "")


def _mail_staff(template: str, key: str, assignee, context: dict) -> None:
    """Internal mail to staff: stored with no customer, like the reminder digest."""
    address = _staff_address(assignee)
    if address:
        gateway.send_mail(kind=MailKind.PRIVACY, template=template, context=context, idempotency_key=key, to=[address])


@transaction.atomic
def lift_restriction(restriction: ProcessingRestriction, *, actor) -> bool:
    """Lift a restriction or objection. True if it was in force (a conditional update: once)."""
    lifted = ProcessingRestriction.objects.filter(pk=restriction.pk, lifted_at__isnull=True).update(
        lifted_at=timezone.now()
    )
    restriction.refresh_from_db(fields=["lifted_at"])
    if lifted and restriction.request_id:
        add_note(restriction.request, text=f"Restriction #{restriction.pk} lifted.", actor=actor)
    return bool(lifted)


# ---------------------------------------------------------------------------------------
# Deadline reminders (scheduled daily: migration 0003_schedule_request_reminders)
# ---------------------------------------------------------------------------------------


def requests_needing_attention(today: dt.date):
    """Running requests due within REMINDER_WINDOW_DAYS days, or overdue.

    A paused request is left out: its clock stands still and its due date moves when it
    resumes, so until then there is no deadline to remind anyone of.
    """
    return (
        DataSubjectRequest.objects.filter(
            status__in=RUNNING_STATUSES,
            due_on__isnull=False,
            due_on__lte=today + dt.timedelta(days=REMINDER_WINDOW_DAYS),
        )
        .select_related("assignee", "customer")
        .order_by("due_on", "pk")
    )


def send_deadline_reminders(today: dt.date | None = None) -> int:
    """Email each assignee (unassigned: the provider's privacy address) one daily digest.

    Internal mail: it goes to staff, not to a customer, so it is stored with no customer.
    Running twice in a day sends nothing new (one idempotency key per address and day).
    """

    today = today or timezone.localdate()
    provider = ProviderDetails.current()
    fallback = provider.privacy_email if provider else getattr(settings, "DEFAULT_FROM_EMAIL", "")
    by_address: dict[str, list[dict]] = defaultdict(list)
    for dsr in requests_needing_attention(today):
        address = dsr.assignee.email if dsr.assignee_id and dsr.assignee.is_active else fallback
        if address:
            by_address[address].append({"request": dsr, "days_left": (dsr.due_on - today).days})
    sent = 0
    for address, rows in sorted(by_address.items()):
        with transaction.atomic():
            gateway.send_mail(
                kind=MailKind.PRIVACY,
                template="privacy_request_reminder",
                context={"rows": rows, "today": today, "overdue": sum(1 for r in rows if r["days_left"] < 0)},
                idempotency_key=f"privacy-request-reminders:{address}:{today.isoformat()}",
                to=[address],
            )
        sent += 1
    return sent
