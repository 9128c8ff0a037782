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


# What a line's share of its rate's amount is, and which lines take the pennies left over
# (``reports.apportion``), for one amount column: ``total`` shared by net.
def _share(total: str, name: str) -> str:
    return f"""CASE WHEN x.n = 0 THEN CASE WHEN x.id = x.first_id THEN {total} ELSE 0 END
                    ELSE {total} * x.net / x.n END AS {name}"""


def _settle(exact: str, total: str, name: str) -> str:
    return f"""trunc({exact}, 2) + CASE WHEN row_number() OVER (
                    PARTITION BY invoice_id, rate ORDER BY abs({exact} - trunc({exact}, 2)) DESC, id
                ) <= abs(({total} - sum(trunc({exact}, 2)) OVER p) * 100)
                THEN sign({total} - sum(trunc({exact}, 2)) OVER p) * 0.01 ELSE 0 END AS {name}"""


def _ctes(period: Period) -> tuple[str, list]:
    """Narrow rows (line id and amounts) until each line's VAT and sterling amounts are
    known; the text columns are joined on at the end, so the sorts the windows need stay
    small. A rate with one line takes the rate's amounts whole; sterling is shared out
    separately only for documents in another currency."""
    statuses = ", ".join(["%s"] * len(Invoice.POSTED_STATUSES))
    sql = f"""
    l AS (
        SELECT l.id, l.invoice_id, l.net, COALESCE(l.vat_rate, 0) AS rate, i.currency, i.gbp_rate, i.kind
        FROM billing_invoiceline l JOIN billing_invoice i ON i.id = l.invoice_id
        WHERE i.kind IN ('invoice', 'credit_note') AND i.status IN ({statuses})
          AND i.issued_on BETWEEN %s AND %s
    ),
    r AS (
        SELECT invoice_id, rate, min(currency) AS currency, min(gbp_rate) AS gbp_rate, min(kind) AS kind,
               sum(net) AS n, sum(net) * rate / 100 AS e, count(*) AS lines, min(id) AS first_id
        FROM l GROUP BY invoice_id, rate
    ),
    r1 AS (
        SELECT *, trunc(e, 2) AS s0,
               (trunc(sum(e) OVER (PARTITION BY invoice_id), 2)
                - sum(trunc(e, 2)) OVER (PARTITION BY invoice_id)) * 100 AS left_p
        FROM r
    ),
    r2 AS (
        SELECT *, s0 + CASE WHEN row_number() OVER (
                   PARTITION BY invoice_id
                   ORDER BY CASE WHEN left_p > 0 THEN trunc(e, 2) - e ELSE e - trunc(e, 2) END, rate DESC
               ) <= abs(left_p) THEN sign(left_p) * 0.01 ELSE 0 END AS v
        FROM r1
    ),
    r3 AS (
        SELECT invoice_id, rate, currency, kind, n, v, lines, first_id,
               CASE WHEN currency = 'GBP' THEN n WHEN gbp_rate IS NOT NULL THEN round(n * gbp_rate, 2) END AS ng,
               CASE WHEN currency = 'GBP' THEN v WHEN gbp_rate IS NOT NULL THEN trunc(v * gbp_rate, 2) END AS vg
        FROM r2
    ),
    x AS (
        SELECT l.id, l.invoice_id, l.rate, l.net, r3.currency, r3.n, r3.v, r3.ng, r3.vg, r3.lines, r3.first_id
        FROM l JOIN r3 ON r3.invoice_id = l.invoice_id AND r3.rate = l.rate
    ),
    single AS (
        SELECT id, v AS vat, ng AS net_gbp, vg AS vat_gbp FROM x WHERE lines = 1
    ),
    shared_gbp AS (
        SELECT id, vat, CASE WHEN currency = 'GBP' THEN net END AS net_gbp,
               CASE WHEN currency = 'GBP' THEN vat END AS vat_gbp
        FROM (
            SELECT id, currency, net, {_settle("xv", "v", "vat")}
            FROM (
                SELECT x.*, {_share("x.v", "xv")} FROM x WHERE lines > 1 AND (currency = 'GBP' OR ng IS NULL)
            ) AS x
            WINDOW p AS (PARTITION BY invoice_id, rate)
        ) AS settled
    ),
    shared_other AS (
        SELECT id, {_settle("xv", "v", "vat")}, {_settle("xn", "ng", "net_gbp")}, {_settle("xg", "vg", "vat_gbp")}
        FROM (
            SELECT x.*, {_share("x.v", "xv")}, {_share("x.ng", "xn")}, {_share("x.vg", "xg")}
            FROM x WHERE lines > 1 AND currency <> 'GBP' AND ng IS NOT NULL
        ) AS x
        WINDOW p AS (PARTITION BY invoice_id, rate)
    ),
    shares AS (
        SELECT * FROM single UNION ALL SELECT * FROM shared_gbp UNION ALL SELECT * FROM shared_other
    ),
    d AS (
        SELECT l.id, l.description, l.net, COALESCE(l.vat_rate, 0) AS rate, l.vat_category,
               i.number, i.kind, i.issued_on, COALESCE(i.tax_point, i.issued_on) AS tax_point, i.customer_id,
               i.currency, i.gbp_rate, i.vat_rule, CASE WHEN i.kind = 'credit_note' THEN -1 ELSE 1 END AS sg,
               s.vat, s.net_gbp, s.vat_gbp
        FROM shares s
        JOIN billing_invoiceline l ON l.id = s.id
        JOIN billing_invoice i ON i.id = l.invoice_id
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
