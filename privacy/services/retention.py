"""The retention sweep: remove or anonymise what has passed its retention (docs/privacy-retention.md).

For every declaration, a row is due when ``Retention.expires_on`` of the date at
``counted_from`` (which may cross relations, ``"customer__closed_at"``) is on or before
today, with the provider's financial year end (``PORTAL_FINANCIAL_YEAR_END``) for
"6 years from the end of the financial year" periods. A row whose date is empty has not
started its clock (the account is still open) and is kept, unless the declaration counts
such rows from another date (``counted_from_otherwise``). Rows a declaration still needs
(``kept_while``) are not due, and rows that go together (``kept_with``: a payment and the
documents it settled) go only when all of them are due (``_partition``).

What happens to a due row is the declaration's erasure action, with one rule for
``keep``: keeping is justified only *until* retention ends, so at its end a kept row
is anonymised with the declaration's replacements if it has any, and deleted otherwise.

Never touched: rows under an active legal hold (``privacy.services.holds``), rows whose
deletion would cascade into held rows (both reported as ``held``), and rows other
records still point at with ``PROTECT`` (reported as ``blocked``; they go on a later
sweep once those records have gone). Rows already anonymised are not rewritten.

Work runs in batches of ``batch_size`` rows, each in its own transaction, children
before parents; the hold check is repeated inside each batch's transaction so a hold
placed while the sweep runs is honoured from the next batch on. The dry run walks the
same batches and makes the same decisions without writing, so its counts are what the
real run will do (unless the data changes in between, or an earlier deletion in the
same sweep unblocks a parent row).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.db.models.deletion import ProtectedError, RestrictedError
from django.utils import timezone

from core.registry import ErasureAction, PersonalData, declarations
from privacy.services import holds
from privacy.services.erasure import (
    DeletionBlocked,
    anonymise_rows,
    collect_deletion,
    constant_and_computed,
    delete_collected,
    model_of,
    needs_anonymising,
    path_fields,
    processing_order,
)

DELETE = "delete"
ANONYMISE = "anonymise"


def action_at_end(declaration: PersonalData) -> tuple[str, dict[str, Any]]:
    """What the sweep does to a row whose retention has ended (see the module docstring)."""
    erasure = declaration.erasure
    if erasure.action == ErasureAction.DELETE:
        return DELETE, {}
    if erasure.action == ErasureAction.ANONYMISE or erasure.replacements:
        return ANONYMISE, dict(erasure.replacements)
    return DELETE, {}


def latest_expired_start(declaration: PersonalData, today: dt.date) -> dt.date:
    """The latest clock-start date whose retention has ended by ``today``.

    ``expires_on`` never decreases as the start moves later, so a binary search finds
    it exactly, month ends and financial year ends included; the database is then asked
    for one ``<=`` comparison instead of evaluating the rule row by row.
    """
    retention, fye = declaration.retention, settings.PORTAL_FINANCIAL_YEAR_END

    def expired(day: dt.date) -> bool:
        return retention.expires_on(day, financial_year_end=fye) <= today

    low = today - retention.period - dt.timedelta(days=400)
    while not expired(low):
        low -= dt.timedelta(days=400)
    high = today
    if expired(high):
        return high
    # Invariant: expired(low) and not expired(high).
    while (high - low).days > 1:
        middle = low + (high - low) // 2
        if expired(middle):
            low = middle
        else:
            high = middle
    return low


def _started_by(model: type[models.Model], path: str, cutoff: dt.date) -> Q:
    """Rows whose clock, the date at ``path``, started on or before ``cutoff``."""
    if isinstance(path_fields(model, path)[-1], models.DateTimeField):
        # Clocks start on the local (UK) calendar date of the timestamp.
        next_day = dt.datetime.combine(cutoff + dt.timedelta(days=1), dt.time.min)
        return Q(**{f"{path}__lt": timezone.make_aware(next_day)})
    return Q(**{f"{path}__lte": cutoff})


def expired_rows(declaration: PersonalData, today: dt.date) -> models.QuerySet:
    """Rows whose retention has ended by ``today``, held or not.

    A row that belongs to no customer counts from ``counted_from_without_customer`` when
    the declaration gives it, so that it too has a retention end.
    """
    model = model_of(declaration)
    retention = declaration.retention
    path = retention.counted_from
    cutoff = latest_expired_start(declaration, today)
    condition = _started_by(model, path, cutoff)
    fallback = retention.counted_from_without_customer
    crosses_relations = "__" in path
    if fallback and declaration.customer_path:
        condition |= Q(**{f"{declaration.customer_path}__isnull": True}) & _started_by(model, fallback, cutoff)
        crosses_relations = True
    otherwise = retention.counted_from_otherwise
    if otherwise:
        condition |= Q(**{f"{path}__isnull": True}) & _started_by(model, otherwise, cutoff)
        crosses_relations = crosses_relations or "__" in otherwise
    manager = model._default_manager
    rows = (
        manager.filter(pk__in=manager.filter(condition).values("pk"))
        if crosses_relations
        else manager.filter(condition)
    )
    # A path across a to-many relation would repeat rows; hence the selection by primary key.
    if retention.kept_while is not None:
        rows = rows.exclude(pk__in=retention.kept_while(manager.all()).values("pk"))
    return rows


def _target_label(model: type[models.Model], path: str) -> str:
    current = model
    for part in path.split("__"):
        current = current._meta.get_field(part).related_model
    return current._meta.label


def _partition(today: dt.date) -> tuple[dict[str, set[Any]], dict[str, set[Any]]]:
    """For the models whose rows go together (``Retention.kept_with``): the rows that may go
    (``free``) and the rows past their own retention that wait for a partner (``waiting``).

    A row may go only once every row its ``kept_with`` paths reach may go too, and so on
    transitively: the rows past their own retention are gathered per model, then any row
    linked to a row outside that set is taken out, until nothing changes. A payment that
    settled an old invoice and a recent one therefore waits for the recent one, and so does
    the old invoice. Decided once, before anything is deleted, so that deleting a payment
    does not make its invoice look unpaid (and so still needed) later in the same sweep.
    """
    grouped = [d for d in declarations() if d.retention.kept_with and d.retention.swept]
    if not grouped:
        return {}, {}
    by_label = {d.model: d for d in declarations()}
    links: list[tuple[str, Any, str, Any]] = []
    labels = {d.model for d in grouped}
    for declaration in grouped:
        model = model_of(declaration)
        for path in declaration.retention.kept_with:
            target = _target_label(model, path)
            labels.add(target)
            pairs = expired_rows(declaration, today).exclude(**{f"{path}__isnull": True}).values_list("pk", path)
            links += [(declaration.model, pk, target, partner) for pk, partner in pairs]
    own = {
        label: set(expired_rows(by_label[label], today).values_list("pk", flat=True)) if label in by_label else set()
        for label in labels
    }
    free = {label: set(pks) for label, pks in own.items()}
    changed = True
    while changed:
        changed = False
        for label, pk, target, partner in links:
            if pk in free[label] and partner not in free[target]:
                free[label].discard(pk)
                changed = True
    waiting = {label: own[label] - free[label] for label in labels if own[label] - free[label]}
    return free, waiting


def waiting_for_partners(today: dt.date) -> dict[str, set[Any]]:
    """Rows past their own retention that wait for a row they go together with, by model."""
    return _partition(today)[1]


@dataclass
class ModelSweep:
    """One declaration's part of a sweep."""

    model: str
    description: str
    retention: str
    action: str  # delete | anonymise
    fields: list[str] = field(default_factory=list)
    expired: int = 0  # retention has ended
    held: int = 0  # ...but a legal hold keeps them
    blocked: int = 0  # ...but other records still need them (PROTECT)
    due: int = 0  # will be (or, in a dry run, would be) deleted or anonymised
    done: int = 0  # deleted or anonymised by this run


@dataclass
class SweepReport:
    today: dt.date
    dry_run: bool
    models: list[ModelSweep]

    @property
    def total_due(self) -> int:
        return sum(m.due for m in self.models)

    def as_dict(self) -> dict[str, Any]:
        return {"today": self.today.isoformat(), "dry_run": self.dry_run, "models": [asdict(m) for m in self.models]}


def _batches(rows: models.QuerySet, batch_size: int) -> Iterator[list[Any]]:
    last = None
    while True:
        page = rows if last is None else rows.filter(pk__gt=last)
        ids = list(page.order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not ids:
            return
        last = ids[-1]
        yield ids


def _delete_batch(
    model: type[models.Model],
    ids: list[Any],
    entry: ModelSweep,
    *,
    dry_run: bool,
    summarise: Callable[[models.QuerySet], None] | None = None,
) -> None:
    manager = model._default_manager
    batch = holds.held_filter(model, manager.filter(pk__in=ids))
    entry.held += len(ids) - batch.count()
    try:
        collectors = [collect_deletion(batch)]
        deletable = list(batch.values_list("pk", flat=True))
    except (ProtectedError, RestrictedError, DeletionBlocked):
        # Some rows cannot go yet: find them one by one and delete the rest.
        collectors, deletable = [], []
        for pk in batch.values_list("pk", flat=True):
            try:
                collectors.append(collect_deletion(manager.filter(pk=pk)))
                deletable.append(pk)
            except DeletionBlocked:
                entry.held += 1
            except (ProtectedError, RestrictedError):
                entry.blocked += 1
    entry.due += len(deletable)
    if not dry_run and collectors:
        if summarise is not None:
            # The declaration keeps a summary of what goes (daily totals of usage samples).
            summarise(manager.filter(pk__in=deletable))
        with _retention_has_ended():
            for collector in collectors:
                entry.done += delete_collected(collector).get(model._meta.label, 0)


@contextmanager
def _retention_has_ended() -> Iterator[None]:
    """Tell PostgreSQL triggers that refuse deletion (issued invoices, billing migration
    0012) that these deletes are of records whose retention has ended: the one sanctioned
    way such records go. Set for the deletes only and then switched off, since the batch
    may be a savepoint inside a longer transaction; if a delete fails, rolling the batch
    back undoes the setting too."""
    connection = transaction.get_connection()
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('portal.retention_ended', 'on', true)")
    yield
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('portal.retention_ended', 'off', true)")


def _anonymise_batch(
    model: type[models.Model], ids: list[Any], entry: ModelSweep, replacements: dict[str, Any], *, dry_run: bool
) -> None:
    manager = model._default_manager
    batch = holds.held_filter(model, manager.filter(pk__in=ids))
    entry.held += len(ids) - batch.count()
    _constants, computed = constant_and_computed(replacements)
    if computed:
        # Values computed from the row cannot be compared in SQL: compare in Python.
        todo = [row.pk for row in batch if needs_anonymising(row, replacements)]
    else:
        todo = list(batch.values_list("pk", flat=True))
    entry.due += len(todo)
    if todo and not dry_run:
        entry.done += anonymise_rows(model, manager.filter(pk__in=todo), replacements)


def sweep_declaration(
    declaration: PersonalData,
    *,
    today: dt.date,
    dry_run: bool,
    batch_size: int = 500,
    fixed: dict[str, set[Any]] | None = None,
) -> ModelSweep:
    model = model_of(declaration)
    action, replacements = action_at_end(declaration)
    entry = ModelSweep(
        model=declaration.model,
        description=declaration.description,
        retention=declaration.retention.description,
        action=action,
        fields=list(replacements),
    )
    constants, computed = constant_and_computed(replacements)
    if declaration.retention.kept_with or declaration.model in (fixed or {}):
        # Rows that go together with others: those decided before the sweep deleted anything.
        free = (fixed if fixed is not None else _partition(today)[0]).get(declaration.model, set())
        rows = model._default_manager.filter(pk__in=list(free))
    else:
        rows = expired_rows(declaration, today)
    if action == ANONYMISE and not computed:
        # Rows already anonymised are neither rewritten nor reported again.
        rows = rows.exclude(**constants)
    entry.expired = rows.count()
    if not entry.expired:
        return entry
    for ids in _batches(rows, batch_size):
        with transaction.atomic():
            if action == DELETE:
                _delete_batch(model, ids, entry, dry_run=dry_run, summarise=declaration.retention.summarise)
            else:
                _anonymise_batch(model, ids, entry, replacements, dry_run=dry_run)
    if computed:
        # Rows found already anonymised (in Python) are not counted as expired work.
        entry.expired = entry.due + entry.held
    return entry


def sweep(*, dry_run: bool, today: dt.date | None = None, batch_size: int = 500) -> SweepReport:
    """Delete or anonymise every row whose retention has ended, except held ones."""
    today = today or timezone.localdate()
    free, _waiting = _partition(today)
    entries = [
        sweep_declaration(declaration, today=today, dry_run=dry_run, batch_size=batch_size, fixed=free)
        for declaration in processing_order()
        if declaration.retention.swept  # the ledger is never pruned (its hash chain)
    ]
    return SweepReport(today=today, dry_run=dry_run, models=entries)
