"""Gap-free document numbers (VAT Regulations 1995 reg 14(1)(b): a unique sequential number)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from billing.documents.totals import InvoiceError
from billing.models import NumberSeries


def next_number(code: str, *, issued_on: dt.date) -> str:
    """Take the next number of series ``code``. Must run inside the issuing transaction.

    The series row is locked (by the UPDATE that takes the number on PostgreSQL; SQLite's
    IMMEDIATE transactions serialise writers) until that transaction ends, so concurrent issues
    queue here; if the issue rolls back, so does the counter: no gap, no duplicate.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("Numbers are taken inside the transaction that issues the document.")
    taken = _take(code, issued_on)
    if taken is None:
        series, _ = NumberSeries.objects.get_or_create(code=code)  # the series' first number
        if series.last_issued_on is not None and series.last_issued_on > issued_on:
            # Numbers and dates of a series go up together: a later number dated earlier
            # would make the sequence look tampered with (and a number out of its year's order).
            raise InvoiceError(
                f"A {code} document dated {issued_on:%-d %B %Y} would be numbered after one issued on "
                f"{series.last_issued_on:%-d %B %Y}: number order and date order must agree, so date it "
                f"{series.last_issued_on:%-d %B %Y} or later."
            )
        taken = _take(code, issued_on)
    number, number_format = taken
    return number_format.format(code=code, year=issued_on.year, number=number)


def _take(code: str, issued_on: dt.date) -> tuple[int, str] | None:
    """Advance the series by one, as the number of a document dated ``issued_on``, and return
    (the number taken, the series' format); None when the series has no row yet or its
    latest document is dated after ``issued_on``.

    One UPDATE ... RETURNING: it locks the row (PostgreSQL) until the transaction ends, and
    a concurrent issuer waiting on the lock then advances from the number this one took.
    """
    connection = transaction.get_connection()
    table = connection.ops.quote_name(NumberSeries._meta.db_table)
    day = connection.ops.adapt_datefield_value(issued_on)
    with connection.cursor() as cursor:
        cursor.execute(  # the table name is the model's, quoted; the values are parameters
            f"UPDATE {table} SET next_number = next_number + 1, last_issued_on = %s "  # noqa: S608
            "WHERE code = %s AND (last_issued_on IS NULL OR last_issued_on <= %s) "
            "RETURNING next_number - 1, format",
            [day, code, day],
        )
        return cursor.fetchone()
