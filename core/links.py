"""Links to each row of a list, without reversing the URL once per row.

``row_link("accounts:service_detail")`` reverses the URL once, with a marker where the
row's id goes, and returns a function that swaps each row's id in: a page of 25 rows
costs one ``reverse()`` instead of 25 (Django's ``{% url %}`` tag reverses on every call).

This module imports no app (see ``core``).
"""

from __future__ import annotations

from collections.abc import Callable

from django.urls import reverse

# A number no URL prefix contains, in the place of the row's id while reversing.
_MARK = "2147480001"


def row_link(viewname: str) -> Callable[[object], str]:
    """``lambda pk: reverse(viewname, args=[pk])``, reversed once."""
    head, tail = reverse(viewname, args=[_MARK]).rsplit(_MARK, 1)
    return lambda pk: f"{head}{pk}{tail}"
