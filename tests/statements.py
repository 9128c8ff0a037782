"""Doing something at a chosen moment inside a service, through Django's public
``connection.execute_wrapper``: what staff or another process might do while a long
operation (a billing run) is half-way, without patching the code under test."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connection


@contextmanager
def on_statement(
    pattern: str, action: Callable[[], object], *, before: bool = True, times: int | None = None
) -> Iterator[list[str]]:
    """Call ``action`` before (or after) each SQL statement matching ``pattern`` (a regular
    expression, searched case-insensitively), at most ``times`` times. Statements that
    ``action`` itself runs do not trigger it. Yields the list of matched statements."""
    matched: list[str] = []
    busy = False
    regex = re.compile(pattern, re.IGNORECASE)

    def wrapper(execute, sql, params, many, context):
        nonlocal busy
        fire = not busy and regex.search(sql) and (times is None or len(matched) < times)
        if not fire:
            return execute(sql, params, many, context)
        matched.append(sql)
        busy = True
        try:
            if before:
                action()
                return execute(sql, params, many, context)
            result = execute(sql, params, many, context)
            action()
            return result
        finally:
            busy = False

    with connection.execute_wrapper(wrapper):
        yield matched
