"""The customer overview: one admin page that shows staff a customer whole.

Details, contacts, services and their addresses, the balance and documents, payments,
correspondence, privacy requests, legal holds and the audit trail, each a short section
(the latest few, with a link to the full list filtered to the customer) carrying the
actions staff take from there. Each app contributes its own sections with ``section``
(billing and privacy from their admin modules), so this module never imports the apps
above it; a section whose provider finds the staff member may not see it is left out.

Every section costs a fixed number of queries (the first ``SHOWN`` rows and a count),
so the page costs the same for a customer of ten years as for a new one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse

from accounts.models import Customer

SHOWN = 8  # rows per section; its heading links to the full list


@dataclass(frozen=True)
class Link:
    """A link, or with ``post`` a button that posts those fields (the first step of an
    admin action: it opens the action's own page, which asks before doing anything)."""

    label: str
    url: str
    post: tuple[tuple[str, str], ...] = ()


Cell = str | Link | None


@dataclass
class Section:
    key: str
    title: str
    columns: tuple[str, ...] = ()
    rows: list[tuple[Cell, ...]] = field(default_factory=list)
    facts: list[tuple[str, Cell]] = field(default_factory=list)  # label and value, for details
    total: int | None = None  # how many there are in all, when rows shows the latest few
    all_url: str = ""
    actions: list[Link] = field(default_factory=list)
    empty: str = "None."

    @property
    def more(self) -> bool:
        return self.total is not None and self.total > len(self.rows)


Provider = Callable[[HttpRequest, Customer], Section | None]
_PROVIDERS: list[tuple[int, Provider]] = []


def section(order: int) -> Callable[[Provider], Provider]:
    """Register a section provider; sections appear in ``order``. The provider returns
    None when the staff member may not see the section."""

    def register(provider: Provider) -> Provider:
        if all(existing is not provider for _, existing in _PROVIDERS):
            _PROVIDERS.append((order, provider))
            _PROVIDERS.sort(key=lambda pair: pair[0])
        return provider

    return register


def sections_for(request: HttpRequest, customer: Customer) -> list[Section]:
    return [found for _, provider in _PROVIDERS if (found := provider(request, customer)) is not None]


def latest(queryset: QuerySet, shown: int = SHOWN) -> tuple[list, int]:
    """The first ``shown`` rows of ``queryset`` and how many there are: two queries, whatever the size."""
    return list(queryset[:shown]), queryset.count()


def admin_url(name: str, *args, **params) -> str:
    """An admin URL by its name (``billing_invoice_changelist``), with query parameters."""
    url = reverse(f"admin:{name}", args=args)
    return f"{url}?{urlencode(params)}" if params else url


def action_button(label: str, changelist: str, action: str, pks: Iterable[int]) -> Link:
    """A button that opens an admin action's page for these rows, as ticking them in the list would."""
    return Link(label, admin_url(changelist), (("action", action), *(("_selected_action", str(pk)) for pk in pks)))


def when(value) -> str:
    return f"{value:%-d %b %Y}" if value else "—"
