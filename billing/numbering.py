"""Gap-free document numbers (VAT Regulations 1995 reg 14; DOMAIN.md §1)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from billing.models import NumberSeries


def next_number(code: str, *, issued_on: dt.date) -> str:
    """Take the next number of series ``code``. Must run inside the issuing transaction.

    The series row is locked (SELECT ... FOR UPDATE on PostgreSQL; SQLite's IMMEDIATE
    transactions serialise writers) until that transaction ends, so concurrent issues
    queue here; if the issue rolls back, so does the counter: no gap, no duplicate.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("Numbers are taken inside the transaction that issues the document.")
    series = NumberSeries.objects.select_for_update().filter(code=code).first()
    if series is None:  # the series' first number
        NumberSeries.objects.get_or_create(code=code)
        series = NumberSeries.objects.select_for_update().get(code=code)
    number = series.next_number
    NumberSeries.objects.filter(pk=series.pk).update(next_number=number + 1)
    return series.format.format(code=series.code, year=issued_on.year, number=number)
