"""Gap-free document numbers (VAT Regulations 1995 reg 14(1)(b): a unique sequential number)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from billing.models import NumberSeries


def next_number(code: str, *, issued_on: dt.date) -> str:
    """Take the next number of series ``code``. Must run inside the issuing transaction.

    The series row is locked (by the UPDATE that takes the number on PostgreSQL; SQLite's
    IMMEDIATE transactions serialise writers) until that transaction ends, so concurrent issues
    queue here; if the issue rolls back, so does the counter: no gap, no duplicate.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("Numbers are taken inside the transaction that issues the document.")
    taken = _take(code)
    if taken is None:  # the series' first number
        NumberSeries.objects.get_or_create(code=code)
        taken = _take(code)
    number, number_format = taken
    return number_format.format(code=code, year=issued_on.year, number=number)


def _take(code: str) -> tuple[int, str] | None:
    """Advance the series by one and return (the number taken, the series' format).

    One UPDATE ... RETURNING: it locks the row (PostgreSQL) until the transaction ends, and
    a concurrent issuer waiting on the lock then advances from the number this one took.
    """
    connection = transaction.get_connection()
    table = connection.ops.quote_name(NumberSeries._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(  # the table name is the model's, quoted; the code is a parameter
            f"UPDATE {table} SET next_number = next_number + 1 WHERE code = %s RETURNING next_number - 1, format",  # noqa: S608
            [code],
        )
        return cursor.fetchone()
