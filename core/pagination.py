"""Pages of a long list, the same way on every customer page.

``paginate`` cuts a queryset (or list) into pages of ``per_page`` rows: the page asked for
in the ``page`` GET parameter, the first for anything that is not a page number and the
last for a number past the end (a link saved when the list was longer still works). Work
per request is one COUNT and one bounded SELECT, whatever the customer's history holds.

The template ``portal/_pagination.html`` shows where the person is ("26–50 of 500") and
links to the other pages, keeping the list's filters in the links.

This module imports no app (see ``core``).
"""

from __future__ import annotations

from django.core.paginator import Page, Paginator
from django.http import HttpRequest

PER_PAGE = 25


def paginate(request: HttpRequest, rows, *, per_page: int = PER_PAGE, count: int | None = None) -> Page:
    """The page of ``rows`` the request asks for (``?page=``), ``per_page`` rows long.

    ``count``, when the caller has counted the rows already (with its totals, in the same
    query), saves the paginator's own COUNT."""
    paginator = Paginator(rows, per_page)
    if count is not None:
        paginator.count = count  # Paginator.count is a cached property: this is its value
    return paginator.get_page(request.GET.get("page"))
