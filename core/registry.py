"""The personal-data registry's declaration API.

Every model that holds personal data declares it next to the model::

    @personal_data(
        categories=[Category.IDENTITY, Category.CONTACT],
        fields=["registered_name", "address_line1", ...],
        purpose="Identify the customer and address invoices to them.",
        lawful_basis=LawfulBasis.CONTRACT,
        customer_path="",            # this model *is* the customer
        retention=Retention(years=6, counted_from="closed_at", ...),
        erasure=Erasure.anonymise({...}),
    )
    class Customer(models.Model): ...

From these declarations alone the privacy app derives the data-subject export, the
erasure plan, the retention sweep and the "what we hold about you" page; nothing
else keeps a list of personal data. The system check in ``privacy.checks`` fails
when one of our models has a personal-looking field that no declaration covers.

This module imports no models, so any app may declare its data without creating
an import cycle (privacy learns about other apps through registration).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from dateutil.relativedelta import relativedelta


class Category(enum.StrEnum):
    """Data categories as a customer would recognise them."""

    IDENTITY = "identity", "Who you are: names, legal form, company and VAT numbers"
    CONTACT = "contact", "How to reach you: email and postal addresses, phone numbers"
    ACCOUNT = "account", "Your login: email address, password hash, security keys, login history"
    SERVICE = "service", "What you hold with us: services, IP addresses assigned to them"
    FINANCIAL = "financial", "Billing: invoices, credit notes, payments, balances"
    CORRESPONDENCE = "correspondence", "Emails and messages between you and us"
    USAGE = "usage", "Bandwidth and resource usage of your services"
    NETWORK = "network", "Network data used to run the network and handle abuse"
    PRIVACY = "privacy", "Your consents, privacy requests and their handling"

    def __new__(cls, value: str, description: str) -> Category:
        member = str.__new__(cls, value)
        member._value_ = value
        member.description = description
        return member


class LawfulBasis(enum.StrEnum):
    """UK GDPR Article 6(1) bases."""

    CONSENT = "consent", "Consent (Art 6(1)(a))"
    CONTRACT = "contract", "Performance of a contract (Art 6(1)(b))"
    LEGAL_OBLIGATION = "legal_obligation", "Legal obligation (Art 6(1)(c))"
    VITAL_INTERESTS = "vital_interests", "Vital interests (Art 6(1)(d))"
    PUBLIC_TASK = "public_task", "Public task (Art 6(1)(e))"
    LEGITIMATE_INTERESTS = "legitimate_interests", "Legitimate interests (Art 6(1)(f))"

    def __new__(cls, value: str, label: str) -> LawfulBasis:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        return member


@dataclass(frozen=True)
class Retention:
    """How long rows are kept, counted from a date on the row.

    ``counted_from`` is an ORM path to a date or datetime on the row
    (``"closed_at"``, ``"customer__closed_at"``). While that date is empty the
    clock has not started (e.g. the account is still open), so the row is kept.
    ``counted_from_without_customer`` is the path used instead for rows that belong to
    no customer (their ``customer_path`` is empty, e.g. a quarantined email nobody
    claimed): without it such a row's clock would never start, and every record needs
    a retention end. ``counted_from_otherwise`` is used likewise for a row whose
    ``counted_from`` date is empty.
    With ``from_financial_year_end`` the period runs from the end of the
    provider's financial year containing that date (VAT and HMRC records: "6 years from
    the end of the financial year they relate to", ``TAX_RECORDS_RULE``; docs/privacy-retention.md).
    """

    counted_from: str
    description: str
    years: int = 0
    months: int = 0
    days: int = 0
    from_financial_year_end: bool = False
    counted_from_without_customer: str | None = None
    # The path counted from while ``counted_from`` is empty, e.g. a draft invoice, which has
    # no issue date, counts from its account's closure.
    counted_from_otherwise: str | None = None
    # ORM paths to rows of other declarations (or of this one) that must go together with
    # this row: a row is due only once every row these paths reach is due too, transitively
    # (a payment and the invoices it settled; docs/privacy-retention.md).
    kept_with: tuple[str, ...] = ()
    # Rows still needed whatever their age, for ``kept_while_reason``: a callable given a
    # queryset of the model, returning the rows among it that must stay (an invoice with
    # money still due on an open account).
    kept_while: Callable[[Any], Any] | None = None
    kept_while_reason: str = ""
    # False for records the retention sweep must never prune, e.g. the hash-chained
    # disclosure ledger, where removing the oldest entries would break the chain.
    swept: bool = True
    # Called by the retention sweep with the rows it is about to delete (a queryset), in
    # the deletion's transaction, so that a coarser summary kept longer is written first:
    # raw usage samples become daily totals. Not called on a dry run.
    summarise: Callable[[Any], None] | None = None

    @property
    def period(self) -> relativedelta:
        return relativedelta(years=self.years, months=self.months, days=self.days)

    def expires_on(self, start: dt.date | dt.datetime | None, *, financial_year_end: tuple[int, int]) -> dt.date | None:
        """The first date on which a row whose clock started on ``start`` may go."""
        if start is None:
            return None
        day = start.date() if isinstance(start, dt.datetime) else start
        if self.from_financial_year_end:
            day = financial_year_end_after(day, financial_year_end)
        return day + self.period


def financial_year_end_after(day: dt.date, year_end: tuple[int, int]) -> dt.date:
    """The end of the financial year that contains ``day``."""
    month, dom = year_end
    candidate = dt.date(day.year, month, dom)
    return candidate if day <= candidate else dt.date(day.year + 1, month, dom)


# The legal reference for keeping business and VAT records six years, for declarations to
# cite: the VAT rules and HMRC's record-keeping rules for company tax. (The Companies Act
# 2006 s.388 asks a private company for three years only: it is not the six years' source.)
TAX_RECORDS_RULE = "VAT Act 1994 Sch 11 para 6 and VAT Notice 700/21; Finance Act 1998 Sch 18 para 21"


class ErasureAction(enum.StrEnum):
    DELETE = "delete"
    ANONYMISE = "anonymise"
    KEEP = "keep"


@dataclass(frozen=True)
class Erasure:
    """What an erasure request does to this model's rows.

    - ``delete``: the rows are deleted.
    - ``anonymise``: the named fields are overwritten with the given values (or the
      result of calling them with the row); the row stays, e.g. for accounting.
    - ``keep``: the law requires the rows as they are until retention ends;
      ``reason`` is told to the person (UK GDPR Art 17(3)(b),(e)).

    ``keep_copies_in`` names file fields of this model: a row whose file there is also
    the stored file of a record another declaration *keeps* (an email attachment that is
    our own issued invoice's PDF) is kept with that record, for that record's reason;
    the other rows get ``action`` (an ID document someone emailed us follows its message).
    """

    action: ErasureAction
    replacements: Mapping[str, Any] = field(default_factory=dict)
    reason: str = ""
    keep_copies_in: tuple[str, ...] = ()

    @classmethod
    def delete(cls, *, keep_copies_in: Iterable[str] = ()) -> Erasure:
        return cls(ErasureAction.DELETE, keep_copies_in=tuple(keep_copies_in))

    @classmethod
    def anonymise(cls, replacements: Mapping[str, Any], *, reason: str = "") -> Erasure:
        return cls(ErasureAction.ANONYMISE, dict(replacements), reason)

    @classmethod
    def keep(cls, reason: str) -> Erasure:
        return cls(ErasureAction.KEEP, {}, reason)


@dataclass(frozen=True)
class PersonalData:
    """One model's declaration. ``model`` is an ``app_label.ModelName`` label."""

    model: str
    description: str
    categories: tuple[Category, ...]
    fields: tuple[str, ...]
    purpose: str
    lawful_basis: LawfulBasis
    retention: Retention
    erasure: Erasure
    # ORM path from this model to accounts.Customer ("" when it *is* the customer);
    # None when rows do not belong to a customer (e.g. a person before joining one).
    customer_path: str | None = None
    # ORM path from this model to the person (accounts.User) ("" when it is the person).
    person_path: str | None = None
    # Why rows cannot be tied to a customer or a person, when neither path is given: a
    # public form's submission before its address is looked up. No engine can find such
    # rows for someone (no export, no erasure), so the retention must keep them briefly.
    unattributed: str = ""
    # Fields whose names look personal but hold no personal data, each with why.
    not_personal: Mapping[str, str] = field(default_factory=dict)
    # Fields holding data the person gave us or that was observed about them:
    # included in portability exports (UK GDPR Art 20). Defaults to ``fields``.
    portable_fields: tuple[str, ...] | None = None
    # Staff's internal working notes, each with why: personal data (retention and erasure
    # treat them with their row), but never shown to the person: left out of the export,
    # the "what we hold" page and the privacy centre, whatever ``fields`` lists.
    internal: Mapping[str, str] = field(default_factory=dict)
    # ORM paths from this model to the records its rows belong to, beyond the customer and
    # the person: an attachment belongs to its message ("message"), an IP assignment to its
    # service. A legal hold on a record covers the rows that belong to it, through these
    # paths and ``person_path`` (a held person's own records), transitively; the retention
    # sweep and erasure leave them alone while the hold lasts (docs/privacy-retention.md).
    belongs_to: tuple[str, ...] = ()
    # What a person needs to understand each row beyond its personal fields: numbers,
    # dates, amounts, states, and names of related things, as ORM paths that follow
    # one-to-one or many-to-one links ("plan__name"). The export adds them to every row
    # (column "plan.name"), after the personal fields, and says which columns are which.
    context: tuple[str, ...] = ()

    def shown_fields(self) -> tuple[str, ...]:
        """The fields the person is shown or sent: portable fields (or fields), less internal ones."""
        names = self.portable_fields if self.portable_fields is not None else self.fields
        return tuple(name for name in names if name not in self.internal)


@dataclass(frozen=True)
class NoPersonalData:
    """A model whose personal-looking fields are not about people (a product's name)."""

    model: str
    reason: str
    # As ``PersonalData.belongs_to``: a hold on the record these paths lead to covers these
    # rows too (an invoice's payment allocations belong to the invoice and the payment).
    belongs_to: tuple[str, ...] = ()


_declarations: dict[str, PersonalData] = {}
_exemptions: dict[str, NoPersonalData] = {}

M = TypeVar("M", bound=type)


def _label(model: type | str) -> str:
    if isinstance(model, str):
        return model
    return model._meta.label  # type: ignore[attr-defined]


def declare(model: type | str, **kwargs: Any) -> PersonalData:
    """Declare a model's personal data; for models we don't own (allauth's)."""
    label = _label(model)
    kwargs["categories"] = tuple(Category(c) for c in kwargs["categories"])
    kwargs["fields"] = tuple(kwargs["fields"])
    if kwargs.get("portable_fields") is not None:
        kwargs["portable_fields"] = tuple(kwargs["portable_fields"])
    if "context" in kwargs:
        kwargs["context"] = tuple(kwargs["context"])
    if "belongs_to" in kwargs:
        kwargs["belongs_to"] = tuple(kwargs["belongs_to"])
    declaration = PersonalData(model=label, **kwargs)
    _declarations[label] = declaration
    return declaration


def withdraw(model: type | str) -> None:
    """Forget a model's declaration or exemption: for a model that no longer exists (a
    model built for one test, an app taken out of the project)."""
    label = _label(model)
    _declarations.pop(label, None)
    _exemptions.pop(label, None)


def personal_data(**kwargs: Any) -> Callable[[M], M]:
    """Class decorator form of :func:`declare`, placed on the model itself."""

    def decorate(model: M) -> M:
        declare(model, **kwargs)
        return model

    return decorate


def no_personal_data(reason: str, *, belongs_to: Iterable[str] = ()) -> Callable[[M], M]:
    """Mark a model whose personal-looking field names are not about people. ``belongs_to``
    names the records its rows belong to, for legal holds (as on ``personal_data``)."""

    def decorate(model: M) -> M:
        label = _label(model)
        _exemptions[label] = NoPersonalData(label, reason, tuple(belongs_to))
        return model

    return decorate


def declarations() -> list[PersonalData]:
    return sorted(_declarations.values(), key=lambda d: d.model)


def declaration_for(model: type | str) -> PersonalData | None:
    return _declarations.get(_label(model))


def exemption_for(model: type | str) -> NoPersonalData | None:
    return _exemptions.get(_label(model))


def owner_paths(model: type | str) -> tuple[str, ...]:
    """The ORM paths from ``model`` to the records (other than its customer) its rows belong
    to: its person (``person_path``, when not the model itself) and ``belongs_to``."""
    declaration = declaration_for(model)
    if declaration is not None:
        person = (declaration.person_path,) if declaration.person_path else ()
        return person + declaration.belongs_to
    exemption = exemption_for(model)
    return exemption.belongs_to if exemption is not None else ()


def declared_models(apps_registry: Any) -> Iterable[tuple[type, PersonalData]]:
    for declaration in declarations():
        yield apps_registry.get_model(declaration.model), declaration
