"""The sales day book as one PostgreSQL query, for ``COPY (…) TO STDOUT``.

A day book of a million lines written row by row in Python runs at a few thousand rows a
second; PostgreSQL writes the same CSV itself at close to the speed of copying the table
out. So on PostgreSQL the day book's lines are one query whose result *is* the CSV: the
same columns, the same order, and the same numbers as ``reports.DayBook`` works out in
Python (a test compares the two byte for byte on the same data):

- per document and VAT rate, the VAT is the exact VAT on the rate's net, each rate's
  share rounded towards zero and the pennies left over (the document's total VAT, rounded
  towards zero) given to the rates with the largest fractions dropped, as
  ``billing.money.split_vat`` does;
- per line, the rate's VAT (and, in sterling, the rate's net and VAT) shared between the
  rate's lines by net, rounded towards zero, the pennies left over going to the lines with
  the largest remainders, earliest first, as ``reports.apportion`` does;
- sterling as ``billing.documents.totals.sterling_summary``: the net rounded half away
  from zero, the VAT towards zero.

Used only where every document of the period is in a currency with pennies (two decimal
places) and the customers' account references can be written in SQL (a prefix, ``{id}``
or ``{id:0Nd}``, a suffix); otherwise the day book is written in Python.
"""

from __future__ import annotations

import re

from babel.numbers import get_currency_precision

from billing.accounting.codes import Codes
from billing.accounting.periods import Period
from billing.models import Invoice

_REFERENCE = re.compile(r"^([^{}]*)\{id(?::0?(\d+)d)?\}([^{}]*)$")


def _plain(expression: str) -> str:
    return expression


def _guarded(expression: str) -> str:
    """A text column with the same guard against spreadsheet formulas as the CSV writer."""
    return (
        f"CASE WHEN left({expression}, 1) IN ('=', '+', '-', '@', E'\\t', E'\\r') "
        f"AND {expression} !~ '^[+-][0-9 ().,/+-]*$' THEN '''' || {expression} ELSE {expression} END"
    )


def _reference_sql(fmt: str) -> tuple[str, list] | None:
    match = _REFERENCE.match(fmt)
    if match is None:
        return None
    prefix, width, suffix = match.group(1), int(match.group(2) or 0), match.group(3)
    digits = "d.customer_id::text"
    if width:
        digits = f"CASE WHEN length({digits}) >= {width} THEN {digits} ELSE lpad({digits}, {width}, '0') END"
    return f"COALESCE(ar.reference, %s || {digits} || %s)", [prefix, suffix]


def _ctes(period: Period) -> tuple[str, list]:
    statuses = ", ".join(["%s"] * len(Invoice.POSTED_STATUSES))
    sql = f"""
    l AS (
        SELECT l.id, l.invoice_id, l.description, l.net, COALESCE(l.vat_rate, 0) AS rate, l.vat_category,
               i.number, i.kind, i.issued_on, COALESCE(i.tax_point, i.issued_on) AS tax_point, i.customer_id,
               i.currency, i.gbp_rate, i.vat_rule
        FROM billing_invoiceline l JOIN billing_invoice i ON i.id = l.invoice_id
        WHERE i.kind IN ('invoice', 'credit_note') AND i.status IN ({statuses})
          AND i.issued_on BETWEEN %s AND %s
    ),
    r AS (
        SELECT invoice_id, rate, min(currency) AS currency, min(gbp_rate) AS gbp_rate, min(kind) AS kind,
               sum(net) AS n, sum(net) * rate / 100 AS e
        FROM l GROUP BY invoice_id, rate
    ),
    r1 AS (
        SELECT *, trunc(e, 2) AS s0,
               (trunc(sum(e) OVER (PARTITION BY invoice_id), 2)
                - sum(trunc(e, 2)) OVER (PARTITION BY invoice_id)) * 100 AS left_p
        FROM r
    ),
    r2 AS (
        SELECT *, row_number() OVER (
                   PARTITION BY invoice_id
                   ORDER BY CASE WHEN left_p > 0 THEN trunc(e, 2) - e ELSE e - trunc(e, 2) END, rate DESC
               ) AS rk
        FROM r1
    ),
    r3 AS (
        SELECT invoice_id, rate, currency, kind, n,
               s0 + CASE WHEN rk <= abs(left_p) THEN sign(left_p) * 0.01 ELSE 0 END AS v,
               CASE WHEN currency = 'GBP' THEN n WHEN gbp_rate IS NOT NULL THEN round(n * gbp_rate, 2) END AS ng,
               CASE WHEN currency = 'GBP' THEN s0 + CASE WHEN rk <= abs(left_p) THEN sign(left_p) * 0.01 ELSE 0 END
                    WHEN gbp_rate IS NOT NULL
                    THEN trunc((s0 + CASE WHEN rk <= abs(left_p) THEN sign(left_p) * 0.01 ELSE 0 END) * gbp_rate, 2)
               END AS vg
        FROM r2
    ),
    x AS (
        SELECT l.*, r3.v AS rv, r3.ng AS rng, r3.vg AS rvg,
               CASE WHEN r3.n = 0 THEN CASE WHEN row_number() OVER w = 1 THEN r3.v ELSE 0 END
                    ELSE r3.v * l.net / r3.n END AS xv,
               CASE WHEN r3.n = 0 THEN CASE WHEN row_number() OVER w = 1 THEN r3.ng ELSE 0 END
                    ELSE r3.ng * l.net / r3.n END AS xn,
               CASE WHEN r3.n = 0 THEN CASE WHEN row_number() OVER w = 1 THEN r3.vg ELSE 0 END
                    ELSE r3.vg * l.net / r3.n END AS xg
        FROM l JOIN r3 ON r3.invoice_id = l.invoice_id AND r3.rate = l.rate
        WINDOW w AS (PARTITION BY l.invoice_id, l.rate ORDER BY l.id)
    ),
    y AS (
        SELECT *,
               (rv - sum(trunc(xv, 2)) OVER p) * 100 AS lv,
               (rng - sum(trunc(xn, 2)) OVER p) * 100 AS ln,
               (rvg - sum(trunc(xg, 2)) OVER p) * 100 AS lg,
               row_number() OVER (PARTITION BY invoice_id, rate ORDER BY abs(xv - trunc(xv, 2)) DESC, id) AS kv,
               row_number() OVER (PARTITION BY invoice_id, rate ORDER BY abs(xn - trunc(xn, 2)) DESC, id) AS kn,
               row_number() OVER (PARTITION BY invoice_id, rate ORDER BY abs(xg - trunc(xg, 2)) DESC, id) AS kg
        FROM x
        WINDOW p AS (PARTITION BY invoice_id, rate)
    ),
    d AS (
        SELECT y.*,
               CASE WHEN kind = 'credit_note' THEN -1 ELSE 1 END AS sg,
               trunc(xv, 2) + CASE WHEN kv <= abs(lv) THEN sign(lv) * 0.01 ELSE 0 END AS vat,
               trunc(xn, 2) + CASE WHEN kn <= abs(ln) THEN sign(ln) * 0.01 ELSE 0 END AS net_gbp,
               trunc(xg, 2) + CASE WHEN kg <= abs(lg) THEN sign(lg) * 0.01 ELSE 0 END AS vat_gbp
        FROM y
    )"""
    return sql, [*Invoice.POSTED_STATUSES, period.start, period.end]


def usable(period: Period, codes: Codes) -> bool:
    """Whether this query gives exactly what the Python day book gives for ``period``."""
    if _reference_sql(codes.settings.account_reference_format) is None:
        return False
    currencies = (
        Invoice.objects.filter(issued_on__range=(period.start, period.end))
        .values_list("currency", flat=True)
        .distinct()
    )
    return all(get_currency_precision(currency) == 2 for currency in currencies.order_by())


def lines_sql(period: Period, codes: Codes, *, guard: bool = True) -> tuple[str, list]:
    """The day book's line rows, formatted as the CSV writer formats them (text cells
    guarded against formulas unless ``guard`` is false), in its order."""
    ctes, params = _ctes(period)
    reference, reference_params = _reference_sql(codes.settings.account_reference_format)
    _text = _guarded if guard else _plain
    sql = f"""
    WITH {ctes}
    SELECT 'line', {_text("d.number")},
           CASE d.kind WHEN 'credit_note' THEN 'Credit note' ELSE 'Invoice' END,
           to_char(d.issued_on, 'YYYY-MM-DD'), to_char(d.tax_point, 'YYYY-MM-DD'),
           {_text("d.account")}, {_text("d.customer_name")}, {_text("d.description")},
           (d.sg * d.net)::numeric(16, 2), d.rate::numeric(7, 2),
           CASE WHEN d.vat_rule = 'reverse_charge' THEN 'RC' WHEN d.vat_rule = 'outside_scope' THEN 'OS'
                WHEN d.vat_rule = 'consumer_country_rate' THEN 'OSS' WHEN d.vat_category = 'reduced' THEN 'R'
                WHEN d.vat_category = 'zero' THEN 'Z' WHEN d.vat_category = 'exempt' THEN 'E' ELSE 'S' END,
           (d.sg * d.vat)::numeric(16, 2), (d.sg * (d.net + d.vat))::numeric(16, 2), d.currency,
           CASE WHEN d.currency = 'GBP' THEN '1.00' WHEN d.gbp_rate IS NULL THEN NULL
                WHEN d.gbp_rate = round(d.gbp_rate, 2) THEN round(d.gbp_rate, 2)::text
                ELSE trim_scale(d.gbp_rate)::text END,
           (d.sg * d.net_gbp)::numeric(16, 2), (d.sg * d.vat_gbp)::numeric(16, 2)
    FROM (
        SELECT d.*, c.registered_name AS customer_name, {reference} AS account
        FROM d
        JOIN accounts_customer c ON c.id = d.customer_id
        LEFT JOIN billing_customeraccountreference ar ON ar.customer_id = d.customer_id
    ) AS d
    ORDER BY d.issued_on, d.kind, d.number, d.id
    """
    return sql, [*params, *reference_params]


def totals_sql(period: Period) -> tuple[str, list]:
    """Per currency and VAT rate: net, VAT and their sterling values, credit notes negative."""
    ctes, params = _ctes(period)
    sql = f"""
    WITH {ctes}
    SELECT currency, rate,
           sum(CASE WHEN kind = 'credit_note' THEN -n ELSE n END),
           sum(CASE WHEN kind = 'credit_note' THEN -v ELSE v END),
           COALESCE(sum(CASE WHEN kind = 'credit_note' THEN -ng ELSE ng END), 0),
           COALESCE(sum(CASE WHEN kind = 'credit_note' THEN -vg ELSE vg END), 0)
    FROM r3 GROUP BY currency, rate ORDER BY currency, rate
    """
    return sql, params
