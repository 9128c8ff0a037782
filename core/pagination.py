"""Pages of a long list, the same way on every customer page.

``paginate`` cuts a queryset (or list) into pages of ``per_page`` rows: the page asked for
in the ``page`` GET parameter, the first for anything that is not a page number and the
last for a number past the end (a link saved when the list was longer still works). Work
per request is one COUNT and one bounded SELECT, whatever the customer's history holds.

The template ``portal/_pagination.html`` shows where the person is ("26–50 of 500") and
links to the other pages, keeping the list's filters in the links. A page with two lists
(the dashboard's services and contacts) gives each its own parameter (``param``), so
turning the page of one keeps the other where it was.

This module imports no app (see ``core``).
"""

from __future__ import annotations

from django.core.paginator import Page, Paginator
from django.http import HttpRequest

PER_PAGE = 25


class ListPage(Page):
    """A page that knows its GET parameter: ``first_query`` … ``last_query`` are the
    mappings ``{% querystring request.GET page.next_query %}`` turns into links."""

    param = "page"

    def _query(self, number: int) -> dict[str, int]:
        return {self.param: number}

    @property
    def first_query(self) -> dict[str, int]:
        return self._query(1)

    @property
    def previous_query(self) -> dict[str, int]:
        return self._query(self.previous_page_number())

    @property
    def next_query(self) -> dict[str, int]:
        return self._query(self.next_page_number())

    @property
    def last_query(self) -> dict[str, int]:
        return self._query(self.paginator.num_pages)


class _Paginator(Paginator):
    def __init__(self, rows, per_page: int, param: str) -> None:
        super().__init__(rows, per_page)
        self.param = param

    def _get_page(self, *args, **kwargs) -> ListPage:
        page = ListPage(*args, **kwargs)
        page.param = self.param
        return page


def paginate(
    request: HttpRequest, rows, *, per_page: int = PER_PAGE, count: int | None = None, param: str = "page"
) -> ListPage:
    """The page of ``rows`` the request asks for (``?page=``, or ``param``), ``per_page`` rows long.

    ``count``, when the caller has counted the rows already (with its totals, in the same
    query), saves the paginator's own COUNT."""
    paginator = _Paginator(rows, per_page, param)
    if count is not None:
        paginator.count = count  # Paginator.count is a cached property: this is its value
    return paginator.get_page(request.GET.get(param))
