"""What we hold about a customer or a person, from the registry's declarations alone.

(Legal holds, records that must be kept, are ``privacy.services.holds``.)

``rows_of`` answers "which rows of this model belong to them" for every engine that
walks the registry (the data-subject export, the "what we hold about you" page); the
page itself counts those rows live, every declaration's COUNT in one query (``count_rows``),
so the page costs the same number of queries however many models the registry grows to.

A declaration says how to reach the customer (``customer_path``) or the person
(``person_path``). Some rows are the customer's but may not be shown to them yet: a
disclosure under a lawful non-disclosure duty (IPA 2016 s.57; docs/privacy-ledger.md). A model
whose queryset has ``visible_to_customer(customer)`` is narrowed by it, so such rows are
neither counted nor exported until the duty ends.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.apps import apps
from django.core.exceptions import EmptyResultSet
from django.db import DEFAULT_DB_ALIAS, connections, models

from core import registry
from core.registry import Category, ErasureAction, LawfulBasis, PersonalData


def _crosses_many(model: type[models.Model], path: str) -> bool:
    """Whether an ORM path goes through a reverse or many-to-many relation (rows may repeat)."""
    current = model
    for part in path.split("__"):
        field = current._meta.get_field(part)
        if field.many_to_many or field.one_to_many:
            return True
        if not field.is_relation:
            return False
        current = field.related_model
    return False


def rows_of(
    model: type[models.Model],
    declaration: PersonalData,
    *,
    customer: models.Model | None = None,
    person: models.Model | None = None,
) -> models.QuerySet | None:
    """The rows of ``model`` that belong to ``customer`` (or ``person``); None if the
    declaration gives no way to reach them."""
    if (customer is None) == (person is None):
        raise ValueError("Give a customer or a person, not both.")
    path, owner = (declaration.customer_path, customer) if customer is not None else (declaration.person_path, person)
    if path is None:
        return None
    manager = model._default_manager
    rows = manager.all()
    if customer is not None and hasattr(rows, "visible_to_customer"):
        rows = rows.visible_to_customer(customer)
    if path == "":
        return rows.filter(pk=owner.pk)
    if _crosses_many(model, path):
        # Through a reverse or many-to-many relation a row can match more than once. A
        # primary-key subquery makes each row appear once without SELECT DISTINCT over
        # wide text and JSON columns (costly, and not possible on every column type).
        return rows.filter(pk__in=manager.filter(**{path: owner}).values("pk"))
    return rows.filter(**{path: owner})


def declarations_for(*, customer: bool = False, person: bool = False) -> list[tuple[type[models.Model], PersonalData]]:
    """The declared models whose rows can be found for a customer (or a person)."""
    found = []
    for model, declaration in registry.declared_models(apps):
        path = declaration.customer_path if customer else declaration.person_path
        if path is not None:
            found.append((model, declaration))
    return found


@dataclass(frozen=True)
class Source:
    """One declared model a page or an export covers, and whose rows of it it takes."""

    model: type[models.Model]
    declaration: PersonalData
    customer: models.Model | None = None
    person: models.Model | None = None

    @property
    def personal(self) -> bool:
        """About the person alone ("About you personally"), not about a customer."""
        return self.person is not None and (self.declaration.customer_path is None or through_people(self.declaration))

    def rows(self) -> models.QuerySet:
        return rows_of(self.model, self.declaration, customer=self.customer, person=self.person)


def through_people(declaration: PersonalData) -> bool:
    """Whether a declaration reaches customers only through the people who act for them
    (a login, its email addresses, its two-factor devices): each person's own data, which
    a customer's export leaves to that person's own export."""
    person = declaration.person_path
    if person is None or declaration.customer_path is None:
        return False
    return declaration.customer_path == (f"{person}__memberships__customer" if person else "memberships__customer")


def sources(*, customer: models.Model | None = None, person: models.Model | None = None) -> list[Source]:
    """What "what we hold" covers, for the page and the export alike (one list, so the two
    cannot differ).

    - A customer, seen by ``person`` who acts for it: the customer's records — for each
      contact only what relates to the customer (their membership, naming them), not their
      own login, addresses or devices — and the person's own records ("About you
      personally": their login, addresses and devices, consents, policy acknowledgements,
      instructions for after death).
    - A customer alone (staff's export): the customer's records.
    - A person alone: every declaration that reaches the person.
    """
    if customer is None and person is None:
        raise ValueError("Give a customer, a person, or both.")
    if customer is None:
        return [Source(model, declaration, person=person) for model, declaration in declarations_for(person=True)]
    found = [
        Source(model, declaration, customer=customer)
        for model, declaration in declarations_for(customer=True)
        if not through_people(declaration)
    ]
    if person is not None:
        found += [
            Source(model, declaration, person=person)
            for model, declaration in declarations_for(person=True)
            if declaration.customer_path is None or through_people(declaration)
        ]
    return found


def primary_category(declaration: PersonalData) -> Category:
    """The category a model is filed under (its first); the others are shown alongside."""
    return declaration.categories[0]


def basis_label(declaration: PersonalData) -> str:
    return LawfulBasis(declaration.lawful_basis).label


def _field_words(model: type[models.Model], names: Iterable[str]) -> str:
    words = []
    for name in names:
        try:
            words.append(str(model._meta.get_field(name).verbose_name))
        except Exception:  # a replacement for a non-field attribute: show its name
            words.append(name.replace("_", " "))
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def erasure_in_words(model: type[models.Model], declaration: PersonalData) -> str:
    """What an erasure request does to these rows, as the person would put it."""
    erasure = declaration.erasure
    if erasure.action == ErasureAction.DELETE:
        return "Deleted if you ask us to erase your data."
    if erasure.action == ErasureAction.ANONYMISE:
        text = (
            f"If you ask us to erase your data, we remove the {_field_words(model, erasure.replacements)} "
            "and keep the rest of the record."
        )
        return f"{text} {erasure.reason}".strip()
    return f"Kept even if you ask us to erase your data: {erasure.reason}"


@dataclass(frozen=True)
class Holding:
    """One declared model and how many of its rows we hold about them, right now."""

    model: type[models.Model]
    declaration: PersonalData
    count: int

    @property
    def label(self) -> str:
        return self.declaration.model

    @property
    def name(self) -> str:
        return str(self.model._meta.verbose_name_plural).capitalize()

    @property
    def other_categories(self) -> list[Category]:
        return list(self.declaration.categories[1:])

    @property
    def basis(self) -> str:
        return basis_label(self.declaration)

    @property
    def erasure(self) -> str:
        return erasure_in_words(self.model, self.declaration)


@dataclass(frozen=True)
class CategoryHoldings:
    category: Category
    holdings: list[Holding]

    @property
    def total(self) -> int:
        return sum(holding.count for holding in self.holdings)


def _group(holdings: list[Holding]) -> list[CategoryHoldings]:
    by_category: dict[Category, list[Holding]] = {}
    for holding in holdings:
        by_category.setdefault(primary_category(holding.declaration), []).append(holding)
    return [CategoryHoldings(category, by_category[category]) for category in Category if category in by_category]


def what_we_hold(customer: models.Model) -> list[CategoryHoldings]:
    """The customer's records, with live counts, grouped by category: every declaration
    that reaches the customer, except each person's own (``through_people``)."""
    return _group(_holdings([s for s in sources(customer=customer) if not s.personal]))


def what_we_hold_about_person_only(
    person: models.Model, customer: models.Model | None = None
) -> list[CategoryHoldings]:
    """A person's own records: those that belong to no customer (consents,
    acknowledgements) and, beside a customer, their login, addresses and devices. The
    customer's part of the page does not cover them, so each person sees their own."""
    if customer is None:
        chosen = [s for s in sources(person=person) if s.declaration.customer_path is None]
    else:
        chosen = [s for s in sources(customer=customer, person=person) if s.personal]
    return _group(_holdings(chosen))


def what_we_hold_about_person(person: models.Model) -> list[CategoryHoldings]:
    """Everything we hold about one person (what their own export holds), by category."""
    return _group(_holdings(sources(person=person)))


def _holdings(chosen: list[Source]) -> list[Holding]:
    counts = count_rows([source.rows() for source in chosen])
    return [Holding(s.model, s.declaration, count) for s, count in zip(chosen, counts, strict=True)]


def count_rows(querysets: list[models.QuerySet]) -> list[int]:
    """``[qs.count() for qs in querysets]`` in one query: ``SELECT (SELECT COUNT(*) FROM
    (…)), (SELECT COUNT(*) FROM (…)), …``, each subquery the queryset's own SQL. A
    queryset that can match nothing (``none()``, an empty ``__in``) counts 0 without SQL."""
    counts: list[int | None] = [None] * len(querysets)
    parts, params = [], []
    for i, queryset in enumerate(querysets):
        try:
            sql, part_params = queryset.order_by().values("pk").query.sql_with_params()
        except EmptyResultSet:
            counts[i] = 0
            continue
        parts.append((i, f"(SELECT COUNT(*) FROM ({sql}) AS counted_{i})"))  # noqa: S608  (Django's own SQL)
        params.extend(part_params)
    if parts:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute(f"SELECT {', '.join(sql for _, sql in parts)}", params)
            row = cursor.fetchone()
        for (i, _), count in zip(parts, row, strict=True):
            counts[i] = int(count)
    return counts
