"""The lawful-access register's one write path (docs/lawful-access.md).

A demand moves received → verified → decided → approved → disclosed (or refused), each
step by a member of staff with ``privacy.handle_lawful_demand``, the approval by a second
person. Nothing is disclosed before the checklist is signed off and the decision approved.

The customer is told what was disclosed, to whom, when and under what instrument — by
email (kind legal) and by the ledger entry on their page — as soon as no non-disclosure
duty applies: at once when there is none, on the day a known duty ends (the daily task),
or when staff record that the authority lifted it. ``notify_customers`` refuses while a
duty is in force, whoever calls it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.audit import Actor, person, record
from accounts.correspondence import gateway
from accounts.correspondence.models import MailKind
from accounts.models import Customer, ProviderDetails
from core.registry import Category
from privacy.lawful.models import Instrument, LawfulDemand, LawfulDisclosure, Outcome, TransparencyReport
from privacy.models import DisclosureEntry
from privacy.services import holds, ledger

logger = logging.getLogger(__name__)

PERMISSION = "privacy.handle_lawful_demand"
PUBLISH_PERMISSION = "privacy.publish_transparency_report"


# The lawful-access register's events name no customer: the trail's customer events go
# into the customer's export and Activity page, and a demand may carry a duty not to tell.
def _audit(action: str, target, actor, summary: str, **changes) -> None:
    record(action, actor=actor, target=target, changes=changes or None, summary=summary)


class DutyInForce(ValueError):
    """The customer may not be told: a non-disclosure duty applies."""


def _require(actor, permission: str = PERMISSION) -> None:
    if actor is None or not (actor.is_active and actor.is_staff and actor.has_perm(permission)):
        raise PermissionDenied(f"This needs the permission {permission}.")


def _advance(demand: LawfulDemand, *, expected: str, actor, action: str, **fields) -> LawfulDemand:
    # A conditional UPDATE: two people acting on one demand at once cannot both succeed.
    if not LawfulDemand.objects.filter(pk=demand.pk, status=expected).update(**fields):
        demand.refresh_from_db()
        raise ValidationError(f"{demand} is {demand.get_status_display().lower()}: that step is not open.")
    demand.refresh_from_db()
    _audit(
        f"lawful_demand.{action}",
        demand,
        actor,
        f"{demand}: {demand.get_status_display()}",
        status=[expected, demand.status],
    )
    return demand


def validate_demand(
    *,
    authority: str,
    officer_name: str,
    channel: str,
    instrument: str,
    instrument_reference: str,
    customers: list,
    data_requested: str,
    categories: list,
    period_from: dt.date | None,
    period_to: dt.date | None,
) -> None:
    """Every problem with a demand as recorded, at once (the admin form asks before saving)."""
    problems = []
    if not customers:
        problems.append("Name the customers whose data is asked for.")
    if not authority.strip() or not officer_name.strip() or not instrument_reference.strip():
        problems.append("Give the authority, the officer and the instrument's reference.")
    if instrument not in Instrument.values:
        problems.append(f"Choose the instrument from the list: {', '.join(Instrument.labels)}.")
    if channel not in LawfulDemand.Channel.values:
        problems.append("Say how the demand arrived.")
    unknown = [c for c in categories if c not in {known.value for known in Category}]
    if unknown or not categories:
        problems.append("Choose the kinds of data asked for.")
    if not data_requested.strip():
        problems.append("Copy what the demand asks for.")
    if period_from and period_to and period_to < period_from:
        problems.append("The date range ends before it starts.")
    if problems:
        raise ValidationError(problems)


@transaction.atomic
def record_demand(
    *,
    actor,
    authority: str,
    officer_name: str,
    officer_contact: str,
    channel: str,
    instrument: str,
    instrument_reference: str,
    instrument_date: dt.date,
    customers: Iterable[Customer],
    data_requested: str,
    categories: Iterable[str],
    period_from: dt.date | None = None,
    period_to: dt.date | None = None,
    deadline: dt.date | None = None,
    received_at: dt.datetime | None = None,
    place_hold: bool = False,
) -> LawfulDemand:
    """Record a demand as it arrived; with ``place_hold`` every record of the customers in
    scope is kept from erasure and the retention sweep while it is pending (PACE Sch 1:
    once notified, material must not be destroyed)."""
    _require(actor)
    customers, categories = list(customers), sorted(set(categories))
    validate_demand(
        authority=authority,
        officer_name=officer_name,
        channel=channel,
        instrument=instrument,
        instrument_reference=instrument_reference,
        customers=customers,
        data_requested=data_requested,
        categories=categories,
        period_from=period_from,
        period_to=period_to,
    )
    demand = LawfulDemand.objects.create(
        authority=authority.strip(),
        officer_name=officer_name.strip(),
        officer_contact=officer_contact.strip(),
        channel=channel,
        instrument=instrument,
        instrument_reference=instrument_reference.strip(),
        instrument_date=instrument_date,
        received_at=received_at or timezone.now(),
        data_requested=data_requested.strip(),
        categories=categories,
        period_from=period_from,
        period_to=period_to,
        deadline=deadline,
        recorded_by=actor,
    )
    demand.customers.set(customers)
    if place_hold:
        placed = [
            holds.place_hold(
                customer,
                reason=f"Preservation for lawful demand #{demand.pk}: {demand.get_instrument_display()} "
                f"{demand.instrument_reference}.",
                actor=actor,
            )
            for customer in customers
        ]
        demand.holds.set(placed)
    _audit(
        "lawful_demand.recorded",
        demand,
        actor,
        f"Recorded {demand}" + (" and placed a legal hold" if place_hold else ""),
    )
    return demand


@transaction.atomic
def sign_off_verification(
    demand: LawfulDemand,
    *,
    actor,
    authenticity_checked: bool,
    authenticity_note: str,
    instrument_valid: bool,
    instrument_note: str,
    scope_specific: bool,
    scope_note: str,
    necessity_assessment: str = "",
) -> LawfulDemand:
    """Sign off the checklist. Every item must be done and say how; a voluntary request
    also needs the necessity and proportionality assessment."""
    _require(actor)
    missing = []
    if not (authenticity_checked and authenticity_note.strip()):
        missing.append(
            "Confirm the demand is authentic through a contact obtained independently (not the one on the "
            "request), and say which."
        )
    if not (instrument_valid and instrument_note.strip()):
        missing.append("Confirm the instrument is valid and in force, and say how.")
    if not (scope_specific and scope_note.strip()):
        missing.append("Confirm the scope is specific (which customers, which data, which dates).")
    if demand.voluntary and not necessity_assessment.strip():
        missing.append(
            "This request compels nothing: assess whether disclosure is necessary and proportionate, and why."
        )
    if missing:
        raise ValidationError(missing)
    return _advance(
        demand,
        expected=LawfulDemand.Status.RECEIVED,
        actor=actor,
        action="verified",
        status=LawfulDemand.Status.VERIFIED,
        authenticity_checked=True,
        authenticity_note=authenticity_note.strip(),
        instrument_valid=True,
        instrument_note=instrument_note.strip(),
        scope_specific=True,
        scope_note=scope_note.strip(),
        necessity_assessment=necessity_assessment.strip(),
        verified_by=actor,
        verified_at=timezone.now(),
    )


@transaction.atomic
def decide(demand: LawfulDemand, *, actor, outcome: str, reason: str, disclosed_scope: str = "") -> LawfulDemand:
    """Comply, narrow or refuse, with reasons; a second person then approves."""
    _require(actor)
    if outcome not in Outcome.values:
        raise ValidationError("Choose complied, complied in part or refused.")
    if not reason.strip():
        raise ValidationError("Give the reasons for the decision.")
    if outcome != Outcome.REFUSED and not disclosed_scope.strip():
        raise ValidationError("Say exactly what will be disclosed.")
    if outcome == Outcome.REFUSED and disclosed_scope.strip():
        raise ValidationError("A refusal discloses nothing.")
    return _advance(
        demand,
        expected=LawfulDemand.Status.VERIFIED,
        actor=actor,
        action="decided",
        status=LawfulDemand.Status.DECIDED,
        outcome=outcome,
        decision_reason=reason.strip(),
        disclosed_scope=disclosed_scope.strip(),
        decided_by=actor,
        decided_at=timezone.now(),
    )


@transaction.atomic
def approve_decision(demand: LawfulDemand, *, actor) -> LawfulDemand:
    """The second person approves the decision; a refusal closes the demand."""
    _require(actor)
    if actor.pk in (demand.verified_by_id, demand.decided_by_id):
        raise ValidationError(
            "A second person must approve: you signed off the checklist or made the decision on this demand."
        )
    status = LawfulDemand.Status.REFUSED if demand.outcome == Outcome.REFUSED else LawfulDemand.Status.APPROVED
    return _advance(
        demand,
        expected=LawfulDemand.Status.DECIDED,
        actor=actor,
        action="approved",
        status=status,
        approved_by=actor,
        approved_at=timezone.now(),
    )


def legal_basis(demand: LawfulDemand) -> str:
    return f"{demand.get_instrument_display()}, ref. {demand.instrument_reference} of {demand.instrument_date:%d %B %Y}"


@transaction.atomic
def disclose(
    demand: LawfulDemand,
    *,
    actor,
    content: bytes,
    filename: str,
    sent_to: str,
    duty: str,
    duty_ends_on: dt.date | None = None,
    duty_basis: str = "",
) -> LawfulDisclosure:
    """Package what is sent (once: stored privately with its SHA-256), append it to the
    ledger, withheld from the customer while a duty applies, and tell the customer now if
    none does."""
    _require(actor)
    demand = LawfulDemand.objects.select_for_update().get(pk=demand.pk)
    if demand.status != LawfulDemand.Status.APPROVED:
        raise ValidationError(
            "Nothing is disclosed before the checklist is signed off and a second person approved the decision "
            f"to comply (this demand is {demand.get_status_display().lower()})."
        )
    if not content:
        raise ValidationError("The package is empty: attach exactly what is sent.")
    if not sent_to.strip():
        raise ValidationError("Say where the package is sent.")
    if duty not in LawfulDisclosure.Duty.values:
        raise ValidationError("Say whether a non-disclosure duty applies.")
    today = timezone.localdate()
    if duty == LawfulDisclosure.Duty.UNTIL and (duty_ends_on is None or duty_ends_on <= today):
        raise ValidationError("A duty until a date needs that date, after today.")
    if duty != LawfulDisclosure.Duty.UNTIL and duty_ends_on is not None:
        raise ValidationError("Only a duty until a date has an end date.")
    if duty != LawfulDisclosure.Duty.NONE and not duty_basis.strip():
        raise ValidationError("Name what imposes the non-disclosure duty (e.g. IPA 2016 s.82, the order's terms).")
    if duty == LawfulDisclosure.Duty.NONE and demand.instrument in Instrument.secret_by_statute():
        raise ValidationError(
            "The Investigatory Powers Act 2016 forbids telling anyone of this demand unless the authority permits: "
            "record the duty as lasting until the authority lifts it, then record its permission."
        )
    name, digest = gateway.store_file(f"lawful/{demand.pk}", filename or "disclosure.bin", content)
    withheld = duty != LawfulDisclosure.Duty.NONE
    entry = ledger.record_disclosure(
        recipient_kind=DisclosureEntry.Recipient.AUTHORITY,
        recipient=demand.authority,
        recipient_address=sent_to.strip(),
        purpose=f"Answer to a lawful demand ({demand.get_instrument_display()})"[:300],
        legal_basis=legal_basis(demand)[:300],
        categories=demand.categories,
        customers=demand.customers.all(),
        summary=demand.disclosed_scope,
        artefact_sha256=digest,
        actor=actor,
        withheld=withheld,
        withheld_until=duty_ends_on,
        withheld_reason=duty_basis.strip()[:300] if withheld else "",
    )
    disclosure = LawfulDisclosure.objects.create(
        demand=demand,
        package=name,
        package_name=(filename or "disclosure.bin")[:255],
        package_sha256=digest,
        package_size=len(content),
        sent_to=sent_to.strip(),
        sent_by=actor,
        entry=entry,
        duty=duty,
        duty_ends_on=duty_ends_on,
        duty_basis=duty_basis.strip(),
    )
    _advance(
        demand,
        expected=LawfulDemand.Status.APPROVED,
        actor=actor,
        action="disclosed",
        status=LawfulDemand.Status.DISCLOSED,
    )
    if not withheld:
        notify_customers(disclosure, actor=actor)
    return disclosure


def duty_in_force(disclosure: LawfulDisclosure, *, today: dt.date | None = None) -> bool:
    """Whether the customer may not yet be told: the ledger's own rule for what they see."""
    today = today or timezone.localdate()
    entry = disclosure.entry
    if not entry.withheld:
        return False
    visible = DisclosureEntry.objects.filter(pk=entry.pk).filter(
        Q(withheld_until__isnull=False, withheld_until__lte=today) | Q(release__ends_on__lte=today)
    )
    return not visible.exists()


@transaction.atomic
def notify_customers(disclosure: LawfulDisclosure, *, actor: Actor, today: dt.date | None = None) -> int:
    """Email each customer in scope (kind legal) what was disclosed, to whom, when and under
    what instrument. Refused while a duty is in force; a second call sends nothing."""
    today = today or timezone.localdate()
    disclosure = LawfulDisclosure.objects.select_for_update().select_related("demand", "entry").get(pk=disclosure.pk)
    if duty_in_force(disclosure, today=today):
        raise DutyInForce(
            f"A non-disclosure duty ({disclosure.duty_basis}) still applies to {disclosure}: the customer may not "
            "be told."
        )
    if disclosure.customers_told_at is not None:
        return 0
    demand = disclosure.demand
    sent = 0
    for customer in demand.customers.all():
        try:
            gateway.send_mail(
                kind=MailKind.LEGAL,
                template="lawful_disclosure_notice",
                customer=customer,
                context={"demand": demand, "disclosure": disclosure, "entry": disclosure.entry},
                idempotency_key=f"lawful-disclosure:{disclosure.pk}:{customer.pk}",
                related=disclosure.entry,
                created_by=person(actor),
            )
        except gateway.NoRecipients:
            # The ledger entry on their page still tells them; staff see who had no address.
            logger.warning("Customer %s has no contact for legal mail; disclosure %s", customer.pk, disclosure.pk)
            continue
        sent += 1
    LawfulDisclosure.objects.filter(pk=disclosure.pk).update(customers_told_at=timezone.now())
    _audit(
        "lawful_disclosure.customers_told",
        disclosure,
        actor,
        f"Told the customers of {disclosure} ({sent} email(s))",
    )
    return sent


@transaction.atomic
def lift_duty(
    disclosure: LawfulDisclosure, *, actor, evidence: str, ends_on: dt.date | None = None
) -> LawfulDisclosure:
    """The authority lifted a duty of unknown end: record it with the evidence (the ledger's
    release, once) and tell the customer if it has ended today or before."""
    _require(actor)
    if disclosure.duty != LawfulDisclosure.Duty.INDEFINITE:
        raise ValidationError("Only a duty with no known end is lifted by staff; a dated one ends by itself.")
    today = timezone.localdate()
    ends_on = ends_on or today
    try:
        ledger.release_withheld(disclosure.entry, ends_on=ends_on, reason=evidence, actor=actor)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    disclosure.entry.refresh_from_db()
    _audit("lawful_disclosure.duty_lifted", disclosure, actor, f"Duty on {disclosure} ends {ends_on}: {evidence}"[:300])
    if ends_on <= today:
        notify_customers(disclosure, actor=actor, today=today)
    disclosure.refresh_from_db()
    return disclosure


def notify_ended_duties(*, actor: Actor, today: dt.date | None = None) -> int:
    """Daily: tell the customers of every disclosure whose duty has ended and who were not told."""
    today = today or timezone.localdate()
    pending = LawfulDisclosure.objects.filter(customers_told_at__isnull=True).exclude(duty=LawfulDisclosure.Duty.NONE)
    ended = pending.filter(Q(duty_ends_on__lte=today) | Q(entry__release__ends_on__lte=today))
    told = 0
    for disclosure in ended.select_related("entry"):
        notify_customers(disclosure, actor=actor, today=today)
        told += 1
    return told


def due_for_review(*, today: dt.date | None = None):
    """Disclosures still withheld and not reviewed within ``PORTAL_WITHHELD_REVIEW_DAYS``."""
    now = timezone.now() if today is None else timezone.make_aware(dt.datetime.combine(today, dt.time(12)))
    today = timezone.localdate(now)
    cutoff = now - dt.timedelta(days=settings.PORTAL_WITHHELD_REVIEW_DAYS)
    withheld = LawfulDisclosure.objects.filter(customers_told_at__isnull=True).exclude(duty=LawfulDisclosure.Duty.NONE)
    still = withheld.exclude(Q(duty_ends_on__lte=today) | Q(entry__release__ends_on__lte=today))
    stale = Q(last_reviewed_at__isnull=True, sent_at__lte=cutoff) | Q(last_reviewed_at__lte=cutoff)
    return still.filter(stale).select_related("demand", "entry").order_by("sent_at")


def send_review_reminders(*, today: dt.date | None = None) -> int:
    """Daily: email the privacy address the withheld disclosures due for review (one digest
    a day; none when nothing is due)."""
    today = today or timezone.localdate()
    due = list(due_for_review(today=today))
    if not due:
        return 0
    provider = ProviderDetails.current()
    address = provider.privacy_email if provider else settings.DEFAULT_FROM_EMAIL
    with transaction.atomic():
        gateway.send_mail(
            kind=MailKind.PRIVACY,
            template="lawful_review_reminder",
            context={"rows": due, "today": today, "days": settings.PORTAL_WITHHELD_REVIEW_DAYS},
            idempotency_key=f"lawful-review-reminder:{today.isoformat()}",
            to=[address],
        )
    return len(due)


@transaction.atomic
def mark_reviewed(disclosure: LawfulDisclosure, *, actor) -> LawfulDisclosure:
    """Staff checked that the duty still applies: no reminder for another interval."""
    _require(actor)
    LawfulDisclosure.objects.filter(pk=disclosure.pk).update(last_reviewed_at=timezone.now(), last_reviewed_by=actor)
    disclosure.refresh_from_db()
    _audit("lawful_disclosure.reviewed", disclosure, actor, f"The duty on {disclosure} still applies")
    return disclosure


# --------------------------------------------------------------------------------------
# The transparency report
# --------------------------------------------------------------------------------------


def transparency_counts(year: int) -> dict[str, dict[str, int]]:
    """Demands received in ``year`` whose decision was approved, by instrument and outcome."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(Outcome.values, 0))
    decided = LawfulDemand.objects.filter(received_at__year=year, approved_at__isnull=False)
    for instrument, outcome in decided.values_list("instrument", "outcome"):
        counts[instrument][outcome] += 1
    return {instrument: dict(counts[instrument]) for instrument in Instrument.values if instrument in counts}


@transaction.atomic
def publish_transparency_report(year: int, *, actor) -> TransparencyReport:
    """Publish (or publish again, corrected) one finished year's counts."""
    _require(actor, PUBLISH_PERMISSION)
    if year >= timezone.localdate().year:
        raise ValidationError(f"{year} is not over yet: a year is published once it has ended.")
    report, _ = TransparencyReport.objects.update_or_create(
        year=year,
        defaults={"counts": transparency_counts(year), "published_by": actor, "published_at": timezone.now()},
    )
    _audit("transparency_report.published", report, actor, f"Published the transparency report for {year}")
    return report


def report_rows(report: TransparencyReport) -> list[dict]:
    labels = dict(Instrument.choices)
    rows = []
    for instrument in Instrument.values:
        numbers = report.counts.get(instrument)
        if numbers:
            rows.append({"instrument": labels[instrument], **{o: numbers.get(o, 0) for o in Outcome.values}})
    return rows
