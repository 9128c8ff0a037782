"""Legal holds: placing, lifting, and asking whether a record is held (docs/privacy-retention.md).

A hold covers either every record of a customer (``target`` empty) or one record of
theirs. The erasure engine and the retention sweep never change or remove a held
record; both ask through :func:`held_filter`, which works on a whole queryset so a
batch job pays two small queries per model, not one per row.

Which records belong to a customer comes from the registry's ``customer_path``. A
model that records only a person (``person_path``) belongs to every customer that
person acts for, so a whole-customer hold also keeps its contacts' personal records:
when in doubt a hold keeps more, never less.

A hold on one record covers what belongs to it, as the registry declares
(``core.registry.owner_paths``: ``person_path`` and ``belongs_to``), transitively: a held
message keeps its attachments (and so their files), a held service its IP assignments, a
held invoice its lines and payment allocations, a held person their email addresses,
memberships and consents.
"""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.dispatch import Signal
from django.utils import timezone

from accounts import audit
from accounts.models import Customer
from core.registry import PersonalData, declaration_for, owner_paths
from privacy.models import LegalHold


def customer_route(declaration: PersonalData | None) -> str | None:
    """The ORM path from a declared model to the customers its rows belong to.

    ``""`` when the model is the customer; ``None`` when its rows belong to no customer.
    """
    if declaration is None:
        return None
    if declaration.customer_path is not None:
        return declaration.customer_path
    if declaration.person_path is not None:
        person = declaration.person_path
        return f"{person}__memberships__customer" if person else "memberships__customer"
    return None


def customer_routes(declaration: PersonalData | None) -> list[str]:
    """Every way from a declared model to customers: its customer path and, when rows may
    also belong to a person, that person's customers. A whole-customer hold keeps its
    contacts' personal records too (a contact's own privacy mail has no customer)."""
    routes = []
    route = customer_route(declaration)
    if route is not None:
        routes.append(route)
    if declaration is not None and declaration.customer_path is not None and declaration.person_path is not None:
        person = declaration.person_path
        routes.append(f"{person}__memberships__customer" if person else "memberships__customer")
    return routes


def _customer_filter(route: str, customers: Any) -> Q:
    return Q(pk__in=customers) if route == "" else Q(**{f"{route}__in": customers})


def validate_target(customer: Customer, target: models.Model) -> None:
    """A hold on one record must name a record of that customer, of a declared model."""
    declaration = declaration_for(type(target))
    route = customer_route(declaration)
    if route is None:
        raise ValidationError(f"{target._meta.verbose_name} records hold no customer's personal data.")
    if target.pk is None:
        raise ValidationError("The record to hold does not exist.")
    belongs = type(target)._default_manager.filter(pk=target.pk).filter(_customer_filter(route, [customer.pk])).exists()
    if not belongs:
        raise ValidationError(f"{target._meta.verbose_name} {target.pk} is not a record of {customer}.")


@transaction.atomic
def place_hold(customer: Customer, *, reason: str, actor, target: models.Model | None = None) -> LegalHold:
    """Place a hold on all of ``customer``'s records, or on ``target`` alone."""
    reason = reason.strip()
    if not reason:
        raise ValidationError("Say why the records must be kept (the dispute, order or claim).")
    hold = LegalHold(customer=customer, reason=reason, placed_by=actor, placed_at=timezone.now())
    if target is not None:
        validate_target(customer, target)
        hold.target_type = ContentType.objects.get_for_model(target, for_concrete_model=True)
        hold.target_id = str(target.pk)
    hold.save()
    # Never shown to the customer, nor in their export: the event names the hold, not them.
    audit.record(
        "legal_hold.placed",
        actor=actor,
        target=hold,
        hidden_from_customer=True,
        summary=reason,
    )
    return hold


# Sent with ``hold_pk`` once a hold is lifted: privacy's tasks put the erasure requests it
# held back in the queue (``privacy.apps``).
hold_lifted = Signal()


def lift_hold(hold: LegalHold, *, actor) -> LegalHold:
    """Lift an active hold. Lifting twice is refused, so the first lifter stays on record."""
    now = timezone.now()
    # A conditional UPDATE: two staff lifting at once cannot both record themselves.
    lifted = LegalHold.objects.filter(pk=hold.pk, lifted_at__isnull=True).update(lifted_at=now, lifted_by=actor)
    if not lifted:
        raise ValidationError("This hold has already been lifted.")
    hold.lifted_at, hold.lifted_by = now, actor
    audit.record("legal_hold.lifted", actor=actor, target=hold, hidden_from_customer=True)
    hold_lifted.send(sender=LegalHold, hold_pk=hold.pk)
    return hold


def _owners(model: type[models.Model]) -> list[tuple[str, type[models.Model]]]:
    """The registry's ``owner_paths`` of ``model`` with the model each one leads to."""
    owners = []
    for path in owner_paths(model):
        current = model
        for part in path.split("__"):
            current = current._meta.get_field(part).related_model
        owners.append((path, current))
    return owners


def _targets(active: models.QuerySet) -> dict[int, list[str]]:
    """The active holds' targets, as raw ids per content type: one query."""
    targets: dict[int, list[str]] = {}
    for type_id, target_id in active.filter(target_type__isnull=False).values_list("target_type_id", "target_id"):
        targets.setdefault(type_id, []).append(target_id)
    return targets


def _pks(model: type[models.Model], raw: list[str]) -> list[Any]:
    ids = []
    for value in raw:
        try:
            ids.append(model._meta.pk.to_python(value))
        except ValidationError:
            continue
    return ids


def _held_conditions(
    model: type[models.Model], active: models.QuerySet, targets: dict[int, list[str]], seen: frozenset = frozenset()
) -> list[Q]:
    """Conditions, any one of which makes a row of ``model`` held: its customer is held as a
    whole, it is a hold's target, or a record it belongs to (``owner_paths``) is held."""
    conditions = []
    whole = active.filter(target_type__isnull=True).values("customer_id")
    for route in customer_routes(declaration_for(model)):
        conditions.append(_customer_filter(route, whole))
    content_type = ContentType.objects.get_for_model(model, for_concrete_model=True)
    ids = _pks(model, targets.get(content_type.pk, []))
    if ids:
        conditions.append(Q(pk__in=ids))
    seen = seen | {model._meta.label}
    for path, owner in _owners(model):
        if owner._meta.label in seen:
            continue
        owner_conditions = _held_conditions(owner, active, targets, seen)
        if owner_conditions:
            held_owners = owner._default_manager.filter(_any(owner_conditions)).values("pk")
            conditions.append(Q(**{f"{path}__in": held_owners}))
    return conditions


def _any(conditions: list[Q]) -> Q:
    combined = Q()
    for condition in conditions:
        combined |= condition
    return combined


def held_filter(model: type[models.Model], queryset: models.QuerySet) -> models.QuerySet:
    """``queryset`` without the rows an active hold covers: their customer as a whole, the
    row itself, or a record the row belongs to (its message, service, invoice, person…)."""
    active = LegalHold.objects.active()
    for condition in _held_conditions(model, active, _targets(active)):
        # One exclude per condition: each may cross a to-many relation.
        queryset = queryset.exclude(condition)
    return queryset


def held_rows(model: type[models.Model], queryset: models.QuerySet) -> models.QuerySet:
    """The rows of ``queryset`` that an active hold covers."""
    active = LegalHold.objects.active()
    conditions = _held_conditions(model, active, _targets(active))
    if not conditions:
        return queryset.none()
    return queryset.filter(pk__in=model._default_manager.filter(_any(conditions)).values("pk"))


def _covering(model: type[models.Model], pks: list[Any], seen: frozenset = frozenset()) -> Q:
    """Which holds cover any of the rows ``pks`` of ``model`` (see ``held_filter``)."""
    content_type = ContentType.objects.get_for_model(model, for_concrete_model=True)
    covering = Q(target_type=content_type, target_id__in=[str(pk) for pk in pks])
    rows = model._default_manager.filter(pk__in=pks)
    customer_ids: list = []
    for route in customer_routes(declaration_for(model)):
        if route == "":
            customer_ids += list(pks) if issubclass(model, Customer) else []
        else:
            customer_ids += list(rows.exclude(**{f"{route}__isnull": True}).values_list(route, flat=True).distinct())
    if customer_ids:
        covering |= Q(target_type__isnull=True, customer_id__in=customer_ids)
    seen = seen | {model._meta.label}
    for path, owner in _owners(model):
        if owner._meta.label in seen:
            continue
        owner_pks = list(rows.exclude(**{f"{path}__isnull": True}).values_list(path, flat=True).distinct())
        if owner_pks:
            covering |= _covering(owner, owner_pks, seen)
    return covering


def holds_covering(obj: models.Model) -> models.QuerySet:
    """The active holds that cover ``obj``: on its customer as a whole, on it, or on a
    record it belongs to."""
    return LegalHold.objects.active().filter(_covering(type(obj), [obj.pk]))


def is_held(obj: models.Model) -> bool:
    """Whether an active hold covers ``obj`` (see ``holds_covering``)."""
    return holds_covering(obj).exists()


def hold_reasons(model: type[models.Model], queryset: models.QuerySet) -> list[str]:
    """The reasons of the active holds covering any row of ``queryset``, for staff."""
    pks = list(queryset.values_list("pk", flat=True))
    if not pks:
        return []
    return sorted(set(LegalHold.objects.active().filter(_covering(model, pks)).values_list("reason", flat=True)))
