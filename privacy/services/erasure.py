"""The erasure engine: plan and carry out a customer's or person's erasure (UK GDPR Art 17).

Everything comes from the registry. For each declaration with rows for the subject, the
declaration's erasure action says what happens: ``delete``, ``anonymise`` the named
fields, or ``keep`` because the law requires it (Art 17(3)(b),(e)) until retention ends.
Rows under an active legal hold are kept whatever the declaration says, and so are rows
that belong to another customer as well (a contact who also acts for another account
keeps their login).

:func:`execute_erasure` applies the whole plan in one transaction: a failed step rolls
back every step, so a person is never left half-erased, and the failure is recorded on
an ``ErasureRun`` and raised as :class:`ErasureFailed`.

Anonymising correspondence (``accounts.Message``) goes through ``QuerySet.update()``,
which bypasses ``Message.save()``'s refusal to rewrite stored mail. That is deliberate:
the erasure engine and the retention sweep are the one sanctioned path by which stored
content changes, and they overwrite exactly the fields the declaration names.
"""

from __future__ import annotations

import datetime as dt
import graphlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.db import DEFAULT_DB_ALIAS, models, router, transaction
from django.db.models import Max
from django.db.models.deletion import Collector, ProtectedError, RestrictedError
from django.utils import timezone
from django.utils.formats import date_format

from accounts.models import Customer, Membership
from core.registry import ErasureAction, PersonalData, declarations
from privacy.models import ConsentRecord, ErasureRun
from privacy.services import closure, holds

WHILE_ACCOUNT_OPEN = "while the account is open"
SHARED_REASON = "These records also belong to another customer account, which this erasure does not cover."
# What the person is told about records a legal hold keeps: the lawful reason in general
# terms (Art 17(3)(b),(e)), never that there is a hold (it may follow an order the
# customer must not learn of), nor anything that identifies one or says when it ends.
HELD_NOTICE_REASON = "we need them to establish, exercise or defend legal claims, or to comply with a legal obligation."


class ErasureFailed(Exception):
    """An erasure step failed; nothing was changed. ``run`` records the attempt."""

    def __init__(self, message: str, *, run: ErasureRun | None = None) -> None:
        super().__init__(message)
        self.run = run


# ---------------------------------------------------------------------------------------
# Walking the registry
# ---------------------------------------------------------------------------------------


def model_of(declaration: PersonalData) -> type[models.Model]:
    return apps.get_model(declaration.model)


def path_fields(model: type[models.Model], path: str) -> list[Any]:
    """The model fields an ORM path (``"customer__closed_at"``) walks through."""
    fields, current = [], model
    for name in path.split("__"):
        try:
            found = current._meta.get_field(name)
        except FieldDoesNotExist:
            raise ValueError(f"{model._meta.label}: no field {name!r} on the path {path!r}") from None
        fields.append(found)
        if found.is_relation and found.related_model is not None:
            current = found.related_model
    return fields


def path_is_multi_valued(model: type[models.Model], path: str) -> bool:
    return bool(path) and any(f.many_to_many or f.one_to_many for f in path_fields(model, path))


def start_day(value: dt.date | dt.datetime | None) -> dt.date | None:
    """The local calendar date a retention clock starts on (UK dates, not UTC ones)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return value


def expires_on(declaration: PersonalData, start: dt.date | dt.datetime | None) -> dt.date | None:
    return declaration.retention.expires_on(start_day(start), financial_year_end=settings.PORTAL_FINANCIAL_YEAR_END)


def processing_order(items: Iterable[PersonalData] | None = None) -> list[PersonalData]:
    """Declarations with children before the parents they point to.

    Deleting a child first means a parent's ``PROTECT`` never trips over rows this same
    erasure was about to remove anyway.
    """
    items = list(declarations() if items is None else items)
    by_model = {model_of(d): d for d in items}
    graph: dict[str, set[str]] = {d.model: set() for d in items}
    for model, declaration in by_model.items():
        for f in model._meta.get_fields():
            if (f.many_to_one or f.one_to_one) and f.concrete and f.related_model in by_model:
                parent = by_model[f.related_model].model
                if parent != declaration.model:
                    graph[parent].add(declaration.model)  # the child comes first
    try:
        order = list(graphlib.TopologicalSorter({k: sorted(v) for k, v in sorted(graph.items())}).static_order())
    except graphlib.CycleError:
        order = sorted(graph)
    labels = {d.model: d for d in items}
    return [labels[label] for label in order]


def subject_rows(declaration: PersonalData, *, customer: Customer | None = None, person=None) -> models.QuerySet | None:
    """The declaration's rows for one customer or one person; ``None`` when it has none."""
    model = model_of(declaration)
    manager = model._default_manager
    if customer is not None:
        path = declaration.customer_path
        if path is None:
            return None
        if path == "":
            return manager.filter(pk=customer.pk)
        rows = manager.filter(**{path: customer})
    else:
        path = declaration.person_path
        if path is None:
            return None
        if path == "":
            return manager.filter(pk=person.pk)
        rows = manager.filter(**{path: person})
    if path_is_multi_valued(model, path):
        rows = manager.filter(pk__in=rows.values("pk"))
    return rows


def people_erased_with(customer: Customer) -> list[Any]:
    """The primary keys of the people who act for ``customer`` and for no other customer.

    They are erased with it: their login and their own records (consents, instructions
    for after death, acknowledgements) go as a person's erasure would take them. A person
    who also acts for another customer keeps their login and own records for that
    relationship, and loses only what belonged to this customer (their membership of it).
    """

    members = Membership.objects.filter(customer=customer).values("user_id")
    elsewhere = Membership.objects.exclude(customer=customer).values("user_id")
    return list(
        Membership.objects.filter(user_id__in=members)
        .exclude(user_id__in=elsewhere)
        .order_by("user_id")
        .values_list("user_id", flat=True)
        .distinct()
    )


def rows_of_people(declaration: PersonalData, people: list[Any]) -> models.QuerySet | None:
    """The rows of a declaration that records only people (no customer path) for ``people``."""
    if not people or declaration.customer_path is not None or declaration.person_path is None:
        return None
    manager = model_of(declaration)._default_manager
    path = declaration.person_path
    return manager.filter(pk__in=people) if path == "" else manager.filter(**{f"{path}__in": people})


def _rows_for(declaration: PersonalData, *, customer, person, people) -> models.QuerySet | None:
    rows = subject_rows(declaration, customer=customer, person=person)
    if rows is None and customer is not None:
        rows = rows_of_people(declaration, people)
    return rows


def shared_rows(declaration: PersonalData, rows: models.QuerySet, customer: Customer | None) -> models.QuerySet:
    """Rows of ``customer`` that also belong to another customer (a contact of two accounts)."""
    model = model_of(declaration)
    path = declaration.customer_path
    if customer is None or not path or not path_is_multi_valued(model, path):
        return rows.none()
    return rows.filter(**{f"{path}__in": Customer.objects.exclude(pk=customer.pk)})


# ---------------------------------------------------------------------------------------
# Applying an action
# ---------------------------------------------------------------------------------------


def constant_and_computed(replacements: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Callable]]:
    constants = {k: v for k, v in replacements.items() if not callable(v)}
    computed = {k: v for k, v in replacements.items() if callable(v)}
    return constants, computed


def anonymise_rows(model: type[models.Model], rows: models.QuerySet, replacements: Mapping[str, Any]) -> int:
    """Overwrite the replaced fields; returns how many rows were written.

    Constant values go in one ``UPDATE``; values computed from the row (a unique
    placeholder email) one ``UPDATE`` per row. ``update()`` bypasses ``save()``: see the
    module docstring for why that is the sanctioned path.
    """
    constants, computed = constant_and_computed(replacements)
    manager = model._default_manager
    ids = list(rows.values_list("pk", flat=True))
    files = _files_to_delete(model, ids, replacements)
    if not computed:
        written = manager.filter(pk__in=ids).update(**constants)
    else:
        written = 0
        for row in manager.filter(pk__in=ids).order_by("pk").iterator(chunk_size=500):
            values = {**constants, **{name: make(row) for name, make in computed.items()}}
            written += manager.filter(pk=row.pk).update(**values)
    _delete_files_after_commit(files)
    return written


def _files_to_delete(model: type[models.Model], ids: list, replacements: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, stored name) of files that blanking a FileField orphans: the file goes too."""
    names = [name for name in _file_fields(model) if name in replacements]
    found = []
    for name in names:
        found += [
            (name, stored)
            for stored in model._default_manager.filter(pk__in=ids).exclude(**{name: ""}).values_list(name, flat=True)
            if stored
        ]
    return found


def files_in_use(stored: list[str]) -> set[str]:
    """Those of the stored files that a row of some model still points at.

    A file may be shared: the same bytes are stored once, and an invoice's email attaches
    the invoice's own stored PDF. Deleting one row must not take a file another still
    needs. One query per file field and chunk of names, not per file: a retention batch
    deletes hundreds of rows at once.
    """
    from django.apps import apps

    wanted, found = sorted(set(stored)), set()
    for model in apps.get_models():
        for name in _file_fields(model):
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                found.update(model._default_manager.filter(**{f"{name}__in": chunk}).values_list(name, flat=True))
    return found


def _delete_files_after_commit(files: list[tuple[str, str]]) -> None:
    """Delete the files once the erasure commits (a rollback keeps them), unless still referenced."""
    from django.core.files.storage import default_storage
    from django.db import transaction

    def delete() -> None:
        in_use = files_in_use([stored for _field_name, stored in files])
        for stored in dict.fromkeys(stored for _field_name, stored in files):
            if stored not in in_use:
                default_storage.delete(stored)

    if files:
        transaction.on_commit(delete)


def needs_anonymising(row: models.Model, replacements: Mapping[str, Any]) -> bool:
    """Whether a row still holds something the replacements would overwrite."""
    return any(getattr(row, name) != (value(row) if callable(value) else value) for name, value in replacements.items())


class DeletionBlocked(Exception):
    """Deleting these rows would remove held rows or rows other records still need."""


def collect_deletion(rows: models.QuerySet) -> Collector:
    """Everything deleting ``rows`` would delete, refusing held rows among the cascade.

    Raises ``ProtectedError``/``RestrictedError`` when other records still point at the
    rows, and :class:`DeletionBlocked` when a cascade would reach a held record.
    """
    using = router.db_for_write(rows.model) or DEFAULT_DB_ALIAS
    collector = Collector(using=using, origin=rows)
    collector.collect(rows)
    for model, instances in collector.data.items():
        pks = [obj.pk for obj in instances]
        if pks and holds.held_rows(model, model._default_manager.filter(pk__in=pks)).exists():
            raise DeletionBlocked(f"it would also delete {model._meta.verbose_name_plural} under a legal hold")
    for qs in collector.fast_deletes:
        if holds.held_rows(qs.model, qs).exists():
            raise DeletionBlocked(f"it would also delete {qs.model._meta.verbose_name_plural} under a legal hold")
    return collector


def delete_collected(collector: Collector) -> dict[str, int]:
    """Delete what ``collector`` gathered, and after commit the files its rows stored
    (a PDF or raw email left in private storage would outlive its row's retention)."""
    files: list[tuple[type[models.Model], str, str]] = []
    for model, instances in collector.data.items():
        for name in _file_fields(model):
            files += [(model, name, stored.name) for obj in instances if (stored := getattr(obj, name))]
    for qs in collector.fast_deletes:
        for name in _file_fields(qs.model):
            files += [(qs.model, name, stored) for stored in qs.exclude(**{name: ""}).values_list(name, flat=True)]
    _total, per_model = collector.delete()
    _delete_files_after_commit([(name, stored) for _model, name, stored in files])
    return per_model


def _file_fields(model: type[models.Model]) -> list[str]:
    return [f.name for f in model._meta.concrete_fields if isinstance(f, models.FileField)]


def delete_rows(rows: models.QuerySet) -> int:
    """Delete ``rows`` (and their cascade); returns how many of ``rows`` went."""
    if not rows.exists():
        return 0
    return delete_collected(collect_deletion(rows)).get(rows.model._meta.label, 0)


# ---------------------------------------------------------------------------------------
# The plan
# ---------------------------------------------------------------------------------------


@dataclass
class PlanItem:
    """What erasure does to one declaration's rows for the subject (one JSON object)."""

    model: str
    description: str
    count: int
    action: str  # delete | anonymise | keep
    reason: str
    fields: list[str] = field(default_factory=list)  # anonymised fields' names
    field_labels: list[str] = field(default_factory=list)
    keep_until: str | None = None  # ISO date the kept rows may go, when known
    keep_while: str = ""  # e.g. "while the account is open"
    retention: str = ""
    held: bool = False  # kept because of a legal hold
    hold_reasons: list[str] = field(default_factory=list)
    shared: bool = False  # kept because it belongs to another customer too
    owed: list[str] = field(default_factory=list)  # for staff: the amounts still owed

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def without_customer(declaration: PersonalData, rows: models.QuerySet) -> models.QuerySet:
    """The rows that belong to no customer, when the declaration counts their retention
    from a date of their own (``Retention.counted_from_without_customer``)."""
    if not declaration.retention.counted_from_without_customer or not declaration.customer_path:
        return rows.none()
    return rows.filter(**{f"{declaration.customer_path}__isnull": True})


def _keep_dates(declaration: PersonalData, rows: models.QuerySet) -> tuple[str | None, str]:
    """When kept rows may go: the latest expiry over them, or why it is not known yet."""
    path = declaration.retention.counted_from
    unowned = without_customer(declaration, rows)
    owned = rows.exclude(pk__in=unowned.values("pk"))
    if owned.filter(**{f"{path}__isnull": True}).exists():
        if path_fields(model_of(declaration), path)[-1].model is Customer:
            return None, WHILE_ACCOUNT_OPEN
        return None, f"until its retention period starts ({declaration.retention.description})"
    ends = [expires_on(declaration, owned.aggregate(latest=Max(path))["latest"])]
    if unowned.exists():
        fallback = declaration.retention.counted_from_without_customer
        ends.append(expires_on(declaration, unowned.aggregate(latest=Max(fallback))["latest"]))
    known = [end for end in ends if end is not None]
    until = max(known) if known else None
    return (until.isoformat() if until else None), ""


def _field_labels(model: type[models.Model], names: Iterable[str]) -> list[str]:
    labels = []
    for name in names:
        try:
            labels.append(str(model._meta.get_field(name).verbose_name))
        except FieldDoesNotExist:
            labels.append(name.replace("_", " "))
    return labels


def kept_copies(declaration: PersonalData, rows: models.QuerySet) -> list[tuple[PersonalData, models.QuerySet]]:
    """The rows that are copies of a record another declaration keeps, per that declaration.

    Declared with ``Erasure.keep_copies_in``: an attachment whose stored file is also the
    file of a kept record (an issued invoice's PDF) is kept with that record.
    """
    names = declaration.erasure.keep_copies_in
    if not names:
        return []
    found = []
    for other in declarations():
        if other.model == declaration.model or other.erasure.action != ErasureAction.KEEP:
            continue
        other_model = model_of(other)
        condition = models.Q(pk__in=[])
        for other_field in _file_fields(other_model):
            stored = other_model._default_manager.exclude(**{other_field: ""}).values(other_field)
            for name in names:
                condition |= models.Q(**{f"{name}__in": stored})
        copies = rows.filter(condition)
        if len(condition) > 1 and copies.exists():
            found.append((other, copies))
    return found


def _subject(customer: Customer | None, person) -> None:
    if (customer is None) == (person is None):
        raise ValueError("Erase either a customer or a person, exactly one.")


def erasure_plan(*, customer: Customer | None = None, person=None, people: list | None = None) -> list[dict[str, Any]]:
    """Per declaration with rows for the subject: what erasure will do and why.

    For a customer, the records of the people erased with it (``people_erased_with``) are
    included; ``people`` gives them when they were found before anything changed.
    """
    _subject(customer, person)
    if customer is not None and people is None:
        people = people_erased_with(customer)
    plan: list[PlanItem] = []
    for declaration in processing_order():
        rows = _rows_for(declaration, customer=customer, person=person, people=people)
        if rows is None:
            continue
        model = model_of(declaration)
        erasure = declaration.erasure
        base = {"model": declaration.model, "description": declaration.description}
        base["retention"] = declaration.retention.description
        actionable = holds.held_filter(model, rows)
        held = holds.held_rows(model, rows)
        shared = shared_rows(declaration, actionable, customer)
        actionable = actionable.exclude(pk__in=shared.values("pk"))
        for kept_with, copies in kept_copies(declaration, actionable):
            item = PlanItem(
                **{**base, "description": f"{declaration.description} Copies of: {kept_with.description}"},
                count=copies.count(),
                action="keep",
                reason=kept_with.erasure.reason,
            )
            item.keep_until, item.keep_while = _keep_dates(declaration, copies)
            plan.append(item)
            actionable = actionable.exclude(pk__in=copies.values("pk"))
        count = actionable.count()
        if count:
            item = PlanItem(**base, count=count, action=str(erasure.action), reason=erasure.reason)
            if erasure.action == ErasureAction.ANONYMISE:
                item.fields = list(erasure.replacements)
                item.field_labels = _field_labels(model, erasure.replacements)
            elif erasure.action == ErasureAction.KEEP:
                item.keep_until, item.keep_while = _keep_dates(declaration, actionable)
            plan.append(item)
        shared_count = shared.count()
        if shared_count:
            plan.append(PlanItem(**base, count=shared_count, action="keep", reason=SHARED_REASON, shared=True))
        held_count = held.count()
        if held_count:
            reasons = holds.hold_reasons(model, held)
            plan.append(
                PlanItem(
                    **base,
                    count=held_count,
                    action="keep",
                    reason="Under a legal hold: " + "; ".join(reasons),
                    keep_while="until the legal hold is lifted",
                    held=True,
                    hold_reasons=reasons,
                )
            )
    return [item.as_dict() for item in plan]


# ---------------------------------------------------------------------------------------
# Execution
# ---------------------------------------------------------------------------------------


def _actionable_pks(declaration: PersonalData, *, customer: Customer | None, person, people=None) -> list[Any]:
    """The subject's rows this erasure may change: not held, not shared with another customer.

    Taken for every declaration before any step runs: later steps must not lose rows that
    are found through rows an earlier step deleted (a login is found through its memberships).
    """
    rows = _rows_for(declaration, customer=customer, person=person, people=people)
    if rows is None:
        return []
    rows = holds.held_filter(model_of(declaration), rows)
    rows = rows.exclude(pk__in=shared_rows(declaration, rows, customer).values("pk"))
    for _kept_with, copies in kept_copies(declaration, rows):
        rows = rows.exclude(pk__in=copies.values("pk"))
    return list(rows.order_by("pk").values_list("pk", flat=True))


CHUNK = 500  # primary keys per statement, well inside every database's parameter limit


def _apply(declaration: PersonalData, pks: list[Any]) -> dict[str, Any]:
    model = model_of(declaration)
    action = declaration.erasure.action
    affected = 0
    for start in range(0, len(pks), CHUNK):
        rows = model._default_manager.filter(pk__in=pks[start : start + CHUNK])
        if action == ErasureAction.DELETE:
            affected += delete_rows(rows)
        elif action == ErasureAction.ANONYMISE:
            affected += anonymise_rows(model, rows, declaration.erasure.replacements)
    return {"model": declaration.model, "action": str(action), "affected": affected}


def execute_erasure(
    *,
    customer: Customer | None = None,
    person=None,
    request=None,
    actor,
    dry_run: bool = False,
) -> ErasureRun:
    """Carry out the erasure plan for a customer or a person, all or nothing.

    With ``dry_run`` only the plan is recorded. On failure everything is rolled back,
    the attempt is recorded with the error, and :class:`ErasureFailed` is raised.
    """
    _subject(customer, person)
    run = ErasureRun(request=request, customer=customer, person=person, run_by=actor, dry_run=dry_run)
    if dry_run:
        run.plan = erasure_plan(customer=customer, person=person)
        run.save()
        return run
    step = None
    try:
        with transaction.atomic():
            ended = None
            if customer is not None:
                # First end the relationship (subscriptions, services, the account), so that
                # nothing stays open and billed, and what is kept counts from the closure.
                step = "ending the customer's relationship"
                ended = closure.end_relationship(customer, actor=actor)
                step = None
            people = people_erased_with(customer) if customer is not None else [person.pk]
            run.plan = erasure_plan(customer=customer, person=person, people=people)
            if ended is not None and ended.owed:
                run.plan.append(_owed_item(ended.owed))
            steps = [
                (declaration, _actionable_pks(declaration, customer=customer, person=person, people=people))
                for declaration in processing_order()
                if declaration.erasure.action != ErasureAction.KEEP
            ]
            # Their consents end: kept as proof (their retention runs from withdrawal), never in force.
            withdrawn = ConsentRecord.objects.filter(person__in=people, withdrawn_at__isnull=True).update(
                withdrawn_at=timezone.now()
            )
            result = []
            for declaration, pks in steps:
                if not pks:
                    continue
                step = declaration.model
                result.append(_apply(declaration, pks))
            if withdrawn:
                result.append({"model": "privacy.ConsentRecord", "action": "withdrawn", "affected": withdrawn})
            if ended is not None and (ended.done or ended.owed):
                result.insert(0, {"model": "relationship", "action": "ended", "done": ended.done, "owed": ended.owed})
            run.result = result
            run.ran_at = timezone.now()
            run.save()
    except Exception as exc:
        message = _describe_failure(step, exc)
        failed = ErasureRun.objects.create(
            request=request,
            customer=customer,
            person=person,
            run_by=actor,
            dry_run=False,
            plan=run.plan,
            result=[{"status": "failed", "step": step, "error": message}],
        )
        raise ErasureFailed(message, run=failed) from exc
    return run


OWED_NOTICE_REASON = "money is still owed on the account, so we keep what we need to recover it (legal claims)."


def _owed_item(owed: list[str]) -> dict[str, Any]:
    """A plan line for the person: money owed keeps what is needed to recover it (staff see which)."""
    return PlanItem(
        model="relationship",
        description="What is owed on the account",
        count=len(owed),
        action="keep",
        reason=OWED_NOTICE_REASON,
        keep_while="until it is paid",
        owed=list(owed),
    ).as_dict()


def _describe_failure(step: str | None, exc: Exception) -> str:
    if step and step.startswith("ending"):
        messages = getattr(exc, "messages", None) or [str(exc)]
        return f"Erasure refused while {step}: {'; '.join(messages)} Nothing was changed."
    where = f"while erasing {step}" if step else "while planning"
    if isinstance(exc, ProtectedError | RestrictedError):
        blockers = sorted({obj._meta.label for obj in exc.args[1]}) if len(exc.args) > 1 else []
        detail = f"other records still refer to these rows ({', '.join(blockers)})"
    elif isinstance(exc, DeletionBlocked):
        detail = str(exc)
    else:
        detail = f"{type(exc).__name__}: {exc}"
    return f"Erasure failed {where}: {detail}. Nothing was changed."


# ---------------------------------------------------------------------------------------
# Telling the person
# ---------------------------------------------------------------------------------------


def _records(count: int) -> str:
    return "1 record" if count == 1 else f"{count} records"


def _when(item: dict[str, Any]) -> str:
    if item.get("keep_until"):
        return f"We will erase them on or after {date_format(dt.date.fromisoformat(item['keep_until']), 'j F Y')}."
    if item.get("keep_while") == WHILE_ACCOUNT_OPEN:
        return f"We keep them {WHILE_ACCOUNT_OPEN}, then: {item['retention']}"
    if item.get("retention"):
        return item["retention"]
    return ""


def erasure_notice(run: ErasureRun) -> str:
    """Plain-language text telling the person, item by item, what was erased, what was
    kept, why, and until when.

    Records a legal hold keeps are listed with the lawful reason in general terms only
    (Art 17(3)(b),(e)): the notice never says there is a hold, nor gives its reason or
    its end, since a hold may follow an order the customer must not learn of.
    """
    erased = [item for item in run.plan if item["action"] in ("delete", "anonymise")]
    kept = [item for item in run.plan if item["action"] == "keep"]
    when = date_format(timezone.localtime(run.ran_at).date(), "j F Y")
    lines = [f"We have erased your personal data on {when}, except what the law lets us keep, listed below."]
    if run.request_id:
        lines[0] = (
            f"We have carried out your erasure request (reference {run.request_id}) on {when}: each kind of "
            "record we had about you is listed below with what we did, and what we kept and why."
        )
    if run.dry_run:
        lines = ["This is a preview of what erasure would do; nothing has been changed yet."]
    lines.append("")
    lines.append("What we erased")
    if not erased:
        lines.append("- Nothing: everything we hold must be kept for the reasons below.")
    for item in erased:
        if item["action"] == "delete":
            lines.append(f"- {item['description']} ({_records(item['count'])}): deleted.")
        else:
            fields = ", ".join(item["field_labels"] or item["fields"])
            why = f" {item['reason']}" if item["reason"] else ""
            lines.append(f"- {item['description']} ({_records(item['count'])}): we erased the {fields}.{why}")
    lines.append("")
    lines.append("What we kept, and why")
    if not kept:
        lines.append("- Nothing.")
    for item in kept:
        if item["held"]:
            reason = HELD_NOTICE_REASON
            when_text = ""
        else:
            reason = item["reason"]
            when_text = _when(item)
        text = f"- {item['description']} ({_records(item['count'])}): {reason}"
        if when_text:
            text += f" {when_text}"
        lines.append(text)
    lines.append("")
    lines.append(
        "The law lets us keep these records despite your request where we need them to comply with a legal "
        "obligation or for legal claims (UK GDPR Article 17(3)(b) and (e)). If you think we have got this wrong, "
        "reply to this email, or complain to the Information Commissioner's Office (ico.org.uk)."
    )
    return "\n".join(lines)
