"""What each accountants' export contains, read from the database as a stream.

Every report is a list of typed columns and a generator of rows (tuples of str, date,
Decimal, int or None), so the writers (``billing.accounting.formats``) never hold a
period in memory. Rows are read with ``QuerySet.iterator``: on PostgreSQL a server-side
cursor, on SQLite a chunked cursor. What a report keeps while it streams is at most one
document's lines, the totals per currency and rate, and a figure per customer (the ledger
control and aged debtors).

Amounts are in the document's currency, and in sterling where the document has a
sterling value. In the day book, credit notes are negative: the day book's gross total is
then invoices less credit notes, the figure the sales ledger control carries.
"""

from __future__ import annotations

import abc
import datetime as dt
import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import DecimalField, OuterRef, Prefetch, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from accounts.models import Customer, Service
from billing.accounting import daybook_sql
from billing.accounting.codes import UK_VAT_CODES, Codes, ExportError, vat_code
from billing.accounting.periods import Period
from billing.documents.totals import sterling_summary
from billing.models import Invoice, InvoiceLine, Payment, PaymentAllocation, Refund, Subscription, VatCode
from billing.money import split_vat, to_money, vat_down
from core.registry import Category

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
CHUNK = 2000
_MONEY = DecimalField(max_digits=14, decimal_places=2)


@dataclass(frozen=True)
class Column:
    name: str
    kind: str = "text"  # text | date | money | rate | quantity | int


def apportion(total: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """Share ``total`` (pennies) between parts in proportion to ``weights`` so that the
    shares add up to ``total`` exactly: each share rounded towards zero, and the pennies
    left over given to the parts with the largest remainders (earliest first on ties)."""
    if not weights:
        return []
    whole = sum(weights, Decimal(0))
    if whole == 0:
        return [total] + [ZERO] * (len(weights) - 1)
    exact = [total * weight / whole for weight in weights]
    shares = [value.quantize(CENT, rounding="ROUND_DOWN") for value in exact]
    left = int(((total - sum(shares, Decimal(0))) / CENT).to_integral_value())
    step = CENT if left > 0 else -CENT
    order = sorted(range(len(weights)), key=lambda i: abs(exact[i] - shares[i]), reverse=True)
    for i in order[: abs(left)]:
        shares[i] += step
    return shares


# ---------------------------------------------------------------------------------------
# Documents of the period, with each line's share of the document's VAT
# ---------------------------------------------------------------------------------------


@dataclass
class DocLine:
    description: str
    quantity: Decimal
    unit_price: Decimal
    net: Decimal
    vat_rate: Decimal
    vat_category: str
    vat_code: str = ""
    vat: Decimal = ZERO
    net_gbp: Decimal | None = None
    vat_gbp: Decimal | None = None


@dataclass
class Document:
    """An issued invoice or credit note of the period with its lines; amounts positive."""

    pk: int
    number: str
    kind: str
    issued_on: dt.date
    tax_point: dt.date | None
    due_on: dt.date | None
    customer_id: int
    customer_name: str
    currency: str
    gbp_rate: Decimal | None
    vat_rule: str
    corrects: str
    lines: list[DocLine] = field(default_factory=list)

    @property
    def is_credit_note(self) -> bool:
        return self.kind == Invoice.Kind.CREDIT_NOTE

    @property
    def sign(self) -> int:
        return -1 if self.is_credit_note else 1

    @property
    def type_label(self) -> str:
        return "Credit note" if self.is_credit_note else "Invoice"

    @property
    def net(self) -> Decimal:
        return sum((line.net for line in self.lines), ZERO)

    @property
    def vat(self) -> Decimal:
        return sum((line.vat for line in self.lines), ZERO)

    @property
    def gross(self) -> Decimal:
        return self.net + self.vat

    @property
    def exchange_rate(self) -> Decimal | None:
        return Decimal(1) if self.currency == "GBP" else self.gbp_rate

    def share_vat(self) -> None:
        """Each line's VAT and sterling amounts: per VAT rate the document's VAT (rounded
        as the invoice rounds it, ``billing.money.split_vat``) shared between the rate's lines
        by net, so the lines add up to the document exactly."""
        nets: dict[Decimal, Decimal] = {}
        for line in self.lines:
            line.vat_code = vat_code(self.vat_rule, line.vat_category)
            nets[line.vat_rate] = nets.get(line.vat_rate, ZERO) + line.net
        summary = split_vat(list(nets.items()), self.currency)
        if self.currency == "GBP":
            sterling = summary
        elif self.gbp_rate:
            sterling = sterling_summary(self.gbp_rate, summary)
        else:
            sterling = None
        for index, (rate, _net, vat) in enumerate(summary):
            at_rate = [line for line in self.lines if line.vat_rate == rate]
            weights = [line.net for line in at_rate]
            for line, share in zip(at_rate, apportion(vat, weights), strict=True):
                line.vat = share
            if sterling is not None:
                _, net_gbp, vat_gbp = sterling[index]
                for line, net_share, vat_share in zip(
                    at_rate, apportion(net_gbp, weights), apportion(vat_gbp, weights), strict=True
                ):
                    line.net_gbp, line.vat_gbp = net_share, vat_share


DOCUMENT_KINDS = (Invoice.Kind.INVOICE, Invoice.Kind.CREDIT_NOTE)


def period_documents(period: Period, kinds: Iterable[str] = DOCUMENT_KINDS):
    return Invoice.objects.filter(
        kind__in=list(kinds), status__in=Invoice.POSTED_STATUSES, issued_on__range=(period.start, period.end)
    )


def count_lines(period: Period, kinds: Iterable[str] = DOCUMENT_KINDS) -> int:
    return InvoiceLine.objects.filter(invoice__in=period_documents(period, kinds)).count()


_LINE_FIELDS = (
    "invoice_id",
    "invoice__number",
    "invoice__kind",
    "invoice__issued_on",
    "invoice__tax_point",
    "invoice__due_on",
    "invoice__customer_id",
    "invoice__customer__registered_name",
    "invoice__currency",
    "invoice__gbp_rate",
    "invoice__vat_rule",
    "invoice__corrects__number",
    "description",
    "quantity",
    "unit_price",
    "net",
    "vat_rate",
    "vat_category",
)


def line_rows(period: Period, kinds: Iterable[str] = DOCUMENT_KINDS):
    """The query the day book reads: each line of the period's documents with what it
    needs of its document, in date and number order (also what the benchmark copies out
    with PostgreSQL's COPY as the floor)."""
    return (
        InvoiceLine.objects.filter(
            invoice__kind__in=list(kinds),
            invoice__status__in=Invoice.POSTED_STATUSES,
            invoice__issued_on__range=(period.start, period.end),
        )
        .order_by("invoice__issued_on", "invoice__kind", "invoice__number", "pk")
        .values_list(*_LINE_FIELDS)
    )


def documents(period: Period, kinds: Iterable[str] = DOCUMENT_KINDS) -> Iterator[Document]:
    """The period's issued invoices and credit notes in date and number order, one at a
    time, each with its lines (only one document's lines are ever held)."""
    rows = line_rows(period, kinds).iterator(chunk_size=CHUNK)
    for _pk, lines in itertools.groupby(rows, key=lambda row: row[0]):
        first = None
        for row in lines:
            if first is None:
                first = row
                document = Document(
                    pk=row[0],
                    number=row[1],
                    kind=row[2],
                    issued_on=row[3],
                    tax_point=row[4],
                    due_on=row[5],
                    customer_id=row[6],
                    customer_name=row[7],
                    currency=row[8],
                    gbp_rate=row[9],
                    vat_rule=row[10],
                    corrects=row[11] or "",
                )
            document.lines.append(
                DocLine(
                    description=row[12],
                    quantity=row[13],
                    unit_price=row[14],
                    net=row[15],
                    vat_rate=row[16] if row[16] is not None else Decimal("0"),
                    vat_category=row[17],
                )
            )
        document.share_vat()
        yield document


# ---------------------------------------------------------------------------------------
# The reports
# ---------------------------------------------------------------------------------------


class Report(abc.ABC):
    """A tabular export. Subclasses give ``title``, ``columns`` and ``rows()``; ``customer_ids``
    fills while the rows are read (whose data the file holds, for the ledger)."""

    kind = ""
    title = ""
    columns: list[Column] = []
    categories: tuple[str, ...] = (Category.FINANCIAL, Category.IDENTITY)

    def __init__(self, period: Period, *, codes: Codes, as_at: dt.date | None = None) -> None:
        self.period = period
        self.codes = codes
        self.as_at = as_at or period.end
        self.customer_ids: set[int] = set()
        self.data_rows = 0  # rows of data (not totals), counted while streaming

    @abc.abstractmethod
    def expected_rows(self) -> int:
        """About how many data rows the report will have (for the progress bar)."""

    @abc.abstractmethod
    def rows(self) -> Iterator[tuple]:
        """The report's rows in order: data rows, then its total rows."""

    def tick(self, rows_done: int) -> None:  # noqa: B027  (a hook: by default nothing listens)
        """Told how far the writer has got (the export's progress bar listens)."""

    def copy_query(self) -> tuple[str, list] | None:
        """SQL whose result is the report's data rows as CSV, for ``COPY … TO STDOUT``, or None."""
        return None

    def header(self) -> list[str]:
        return [column.name for column in self.columns]

    def _seen(self, customer_id: int) -> None:
        self.customer_ids.add(customer_id)
        self.data_rows += 1

    def _customer_line(self, totals: dict[str, list[Decimal]], customer_id: int, name: str, currency: str,
                       amounts: list[Decimal], *after) -> tuple:  # fmt: skip
        """A customer's line of a balances report, its amounts added to its currency's totals."""
        self._seen(customer_id)
        total = totals.setdefault(currency, [ZERO] * len(amounts))
        for index, amount in enumerate(amounts):
            total[index] += amount
        return ("line", self.codes.reference(customer_id), name, currency, *amounts, *after)

    @staticmethod
    def _total_lines(totals: dict[str, list[Decimal]], label: str, *after) -> Iterator[tuple]:
        """One total line per currency, after the customers' lines."""
        for currency, total in sorted(totals.items()):
            yield ("total", "", f"{label} ({currency})", currency, *total, *after)


def _money(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(CENT)


class DayBook(Report):
    """Every invoice and credit note line issued in the period; totals per currency and VAT rate."""

    kind = "day_book"
    title = "Sales day book"
    columns = [
        Column("record"),
        Column("document_number"),
        Column("type"),
        Column("issue_date", "date"),
        Column("tax_point", "date"),
        Column("customer_account"),
        Column("customer_name"),
        Column("description"),
        Column("net", "money"),
        Column("vat_rate", "rate"),
        Column("vat_code"),
        Column("vat", "money"),
        Column("gross", "money"),
        Column("currency"),
        Column("exchange_rate", "rate"),
        Column("net_gbp", "money"),
        Column("vat_gbp", "money"),
    ]

    def expected_rows(self) -> int:
        return count_lines(self.period)

    def _in_sql(self) -> bool:
        return connection.vendor == "postgresql" and daybook_sql.usable(self.period, self.codes)

    def copy_query(self) -> tuple[str, list] | None:
        return daybook_sql.lines_sql(self.period, self.codes) if self._in_sql() else None

    def copied(self, rows: int) -> Iterator[tuple]:
        """After the lines were copied out by PostgreSQL: note what they covered, and the totals rows."""
        self.data_rows = rows
        self.customer_ids = set(
            period_documents(self.period).values_list("customer_id", flat=True).distinct().order_by()
        )
        with connection.cursor() as cursor:
            cursor.execute(*daybook_sql.totals_sql(self.period))
            totals = cursor.fetchall()
        for currency, rate, net, vat, net_gbp, vat_gbp in totals:
            yield self._total_row(currency, rate, net, vat, net_gbp, vat_gbp)

    @staticmethod
    def _total_row(currency, rate, net, vat, net_gbp, vat_gbp) -> tuple:
        shown = f"{Decimal(rate).normalize():f}"
        return (
            "total",
            "",
            f"Total at {shown}%",
            None,
            None,
            "",
            "",
            f"Invoices less credit notes at {shown}% VAT ({currency})",
            net,
            rate,
            "",
            vat,
            net + vat,
            currency,
            None,
            net_gbp,
            vat_gbp,
        )

    def _sql_rows(self) -> Iterator[tuple]:
        """The same rows from PostgreSQL's query, typed (for XLSX), through a server-side cursor."""
        sql, params = daybook_sql.lines_sql(self.period, self.codes, guard=False)
        money = [i for i, column in enumerate(self.columns) if column.kind in ("money", "rate")]
        dates = [i for i, column in enumerate(self.columns) if column.kind == "date"]
        connection.ensure_connection()
        count = 0
        with connection.connection.cursor(name=f"day_book_{id(self)}") as cursor:
            cursor.itersize = CHUNK
            cursor.execute(sql, params)
            for raw in cursor:
                row = list(raw)
                for i in money:
                    if row[i] is not None:
                        row[i] = Decimal(row[i])
                for i in dates:
                    row[i] = dt.date.fromisoformat(row[i])
                count += 1
                yield tuple(row)
        yield from self.copied(count)

    def rows(self) -> Iterator[tuple]:
        if self._in_sql():
            # Server-side cursors need a transaction on PostgreSQL unless declared WITH HOLD.
            with transaction.atomic():
                yield from self._sql_rows()
            return
        totals: dict[tuple[str, Decimal], list[Decimal]] = {}
        for doc in documents(self.period):
            account = self.codes.reference(doc.customer_id)
            sign = doc.sign
            for line in doc.lines:
                self._seen(doc.customer_id)
                net, vat = sign * line.net, sign * line.vat
                net_gbp = None if line.net_gbp is None else sign * line.net_gbp
                vat_gbp = None if line.vat_gbp is None else sign * line.vat_gbp
                entry = totals.setdefault((doc.currency, line.vat_rate), [ZERO, ZERO, ZERO, ZERO])
                entry[0] += net
                entry[1] += vat
                entry[2] += net_gbp or ZERO
                entry[3] += vat_gbp or ZERO
                yield (
                    "line",
                    doc.number,
                    doc.type_label,
                    doc.issued_on,
                    doc.tax_point or doc.issued_on,
                    account,
                    doc.customer_name,
                    line.description,
                    net,
                    line.vat_rate,
                    line.vat_code,
                    vat,
                    net + vat,
                    doc.currency,
                    doc.exchange_rate,
                    net_gbp,
                    vat_gbp,
                )
        for (currency, rate), (net, vat, net_gbp, vat_gbp) in sorted(totals.items()):
            yield self._total_row(currency, rate, net, vat, net_gbp, vat_gbp)


def _allocation_text(payment: Payment) -> str:
    parts = []
    for allocation in payment.allocations.all():
        if allocation.released_by_id:
            parts.append(
                f"{allocation.invoice.number} {allocation.amount:.2f} (released by {allocation.released_by.number})"
            )
        else:
            parts.append(f"{allocation.invoice.number} {allocation.amount:.2f}")
    return "; ".join(parts)


class Receipts(Report):
    """Every payment received and refund paid in the period, and how each was allocated."""

    kind = "receipts"
    title = "Receipts and refunds"
    categories = (Category.FINANCIAL, Category.IDENTITY)
    columns = [
        Column("record"),
        Column("date", "date"),
        Column("type"),
        Column("customer_account"),
        Column("customer_name"),
        Column("method"),
        Column("reference"),
        Column("currency"),
        Column("amount", "money"),
        Column("allocated_to"),
        Column("unallocated", "money"),
    ]

    def payments(self):
        return Payment.objects.filter(received_on__range=(self.period.start, self.period.end))

    def refunds(self):
        return Refund.objects.filter(paid_on__range=(self.period.start, self.period.end))

    def expected_rows(self) -> int:
        return self.payments().count() + self.refunds().count()

    def _line(self, order: int, when: dt.date, label: str, item, what: str, unallocated) -> tuple:
        """A payment (``order`` 0) or refund (1) as the merged stream takes it: its sort
        key (date, order, id), its row and its customer."""
        method = dict(Payment.Method.choices).get(item.method, item.method)
        row = ("line", when, label, self.codes.reference(item.customer_id), item.customer.registered_name, method,
               item.reference, item.currency, item.amount, what, unallocated)  # fmt: skip
        return (when, order, item.pk, row, item.customer_id)

    def _payment_rows(self) -> Iterator[tuple]:
        allocations = PaymentAllocation.objects.select_related("invoice", "released_by").order_by("pk")
        payments = (
            self.payments()
            .select_related("customer")
            .prefetch_related(Prefetch("allocations", queryset=allocations))
            .order_by("received_on", "pk")
        )
        for payment in payments.iterator(chunk_size=CHUNK):
            allocated = sum((a.amount for a in payment.allocations.all()), ZERO)
            yield self._line(
                0, payment.received_on, "Receipt", payment, _allocation_text(payment), payment.amount - allocated
            )

    def _refund_rows(self) -> Iterator[tuple]:
        refunds = self.refunds().select_related("customer", "credit_note").order_by("paid_on", "pk")
        for refund in refunds.iterator(chunk_size=CHUNK):
            what = f"Refund of {refund.credit_note.number}" if refund.credit_note_id else "Account credit (overpayment)"
            yield self._line(1, refund.paid_on, "Refund", refund, what, None)

    def rows(self) -> Iterator[tuple]:
        totals: dict[tuple[str, str], Decimal] = {}
        for *_, row, customer_id in heapq.merge(self._payment_rows(), self._refund_rows(), key=lambda r: r[:3]):
            self._seen(customer_id)
            key = (row[7], row[2])
            totals[key] = totals.get(key, ZERO) + row[8]
            yield row
        for currency in sorted({currency for currency, _ in totals}):
            received, refunded = totals.get((currency, "Receipt"), ZERO), totals.get((currency, "Refund"), ZERO)
            yield ("total", None, "Receipts", "", "", "", "", currency, received, "", None)
            yield ("total", None, "Refunds", "", "", "", "", currency, refunded, "", None)
            yield ("total", None, "Receipts less refunds", "", "", "", "", currency, received - refunded, "", None)


# Hooks that take balances out of the aged debtors (e.g. a debt written off by
# collections): each is called with the ids of one customer's outstanding invoices and
# the as-at date, and returns {invoice id: amount to exclude}.
BalanceExclusion = Callable[[list[int], dt.date], dict[int, Decimal]]
BALANCE_EXCLUSIONS: list[BalanceExclusion] = []


def register_balance_exclusion(hook: BalanceExclusion) -> BalanceExclusion:
    if hook not in BALANCE_EXCLUSIONS:
        BALANCE_EXCLUSIONS.append(hook)
    return hook


def _counted_allocations(as_at: dt.date):
    """Allocations in force on ``as_at``: the payment had been received, the invoice issued
    and, for a released part, the credit note that released it issued by then."""
    return PaymentAllocation.objects.filter(
        Q(payment__received_on__lte=as_at),
        Q(invoice__issued_on__lte=as_at),
        Q(released_by__isnull=True) | Q(released_by__issued_on__lte=as_at),
    )


AGE_BANDS = ("current", "days_1_30", "days_31_60", "days_61_90", "over_90")


def age_band(as_at: dt.date, due_on: dt.date | None) -> int:
    if due_on is None:
        return 0
    overdue = (as_at - due_on).days
    if overdue <= 0:
        return 0
    if overdue <= 30:
        return 1
    if overdue <= 60:
        return 2
    if overdue <= 90:
        return 3
    return 4


class AgedDebtors(Report):
    """Per customer at the as-at date: what is due split by days overdue, less money
    received and not yet allocated; a negative balance is a credit balance."""

    kind = "aged_debtors"
    title = "Aged debtors"
    columns = [
        Column("record"),
        Column("customer_account"),
        Column("customer_name"),
        Column("currency"),
        Column("current", "money"),
        Column("days_1_30", "money"),
        Column("days_31_60", "money"),
        Column("days_61_90", "money"),
        Column("over_90", "money"),
        Column("unallocated_credit", "money"),
        Column("balance", "money"),
        Column("position"),
    ]

    def outstanding(self):
        as_at = self.as_at
        allocated = (
            _counted_allocations(as_at)
            .filter(invoice=OuterRef("pk"))
            .order_by()
            .values("invoice")
            .annotate(total=Sum("amount"))
            .values("total")
        )
        credited = (
            Invoice.objects.filter(
                corrects=OuterRef("pk"),
                kind=Invoice.Kind.CREDIT_NOTE,
                status__in=Invoice.POSTED_STATUSES,
                issued_on__lte=as_at,
            )
            .order_by()
            .values("corrects")
            .annotate(total=Sum("total_gross"))
            .values("total")
        )
        zero = Value(ZERO, output_field=_MONEY)
        return (
            Invoice.objects.filter(kind=Invoice.Kind.INVOICE, status__in=Invoice.POSTED_STATUSES, issued_on__lte=as_at)
            .annotate(
                paid_then=Coalesce(Subquery(allocated, output_field=_MONEY), zero),
                credited_then=Coalesce(Subquery(credited, output_field=_MONEY), zero),
            )
            .order_by("customer_id", "due_on", "pk")
            .values_list("pk", "customer_id", "currency", "due_on", "total_gross", "paid_then", "credited_then")
        )

    def unallocated(self) -> dict[tuple[int, str], Decimal]:
        """Money received by the as-at date and not allocated then (less refunds), per customer and currency."""
        as_at = self.as_at
        credit: dict[tuple[int, str], Decimal] = {}
        for model, date_field, sign in ((Payment, "received_on", 1), (Refund, "paid_on", -1)):
            sums = (
                model.objects.filter(**{f"{date_field}__lte": as_at})
                .values_list("customer_id", "currency")
                .annotate(total=Sum("amount"))
                .order_by()
            )
            for customer_id, currency, total in sums:
                credit[(customer_id, currency)] = credit.get((customer_id, currency), ZERO) + sign * total
        sums = (
            _counted_allocations(as_at)
            .values_list("payment__customer_id", "payment__currency")
            .annotate(total=Sum("amount"))
            .order_by()
        )
        for customer_id, currency, total in sums:
            credit[(customer_id, currency)] = credit.get((customer_id, currency), ZERO) - total
        return {key: value for key, value in credit.items() if value != 0}

    def expected_rows(self) -> int:
        return Customer.objects.count()

    def _customer_groups(self) -> Iterator[tuple[int, str, list[Decimal]]]:
        """(customer id, currency, balance per age band) from the outstanding invoices."""
        rows = self.outstanding().iterator(chunk_size=CHUNK)
        for (customer_id, currency), group in itertools.groupby(rows, key=lambda row: (row[1], row[2])):
            balances = {pk: (due_on, gross - paid - credited) for pk, _, _, due_on, gross, paid, credited in group}
            for hook in BALANCE_EXCLUSIONS:
                for pk, amount in hook(list(balances), self.as_at).items():
                    due_on, balance = balances[pk]
                    balances[pk] = (due_on, balance - amount)
            bands = [ZERO] * len(AGE_BANDS)
            for due_on, balance in balances.values():
                bands[age_band(self.as_at, due_on)] += balance
            if any(bands):
                yield customer_id, currency, bands

    def rows(self) -> Iterator[tuple]:
        credit = self.unallocated()
        # One name per customer (the report keeps a figure per customer anyway).
        names = dict(Customer.objects.values_list("pk", "registered_name"))

        def credit_groups() -> Iterator[tuple[int, str, None]]:
            for customer_id, currency in sorted(credit):
                yield customer_id, currency, None

        totals: dict[str, list[Decimal]] = {}
        merged = heapq.merge(self._customer_groups(), credit_groups(), key=lambda row: (row[0], row[1]))
        for (customer_id, currency), group in itertools.groupby(merged, key=lambda row: (row[0], row[1])):
            bands = next((bands for _, _, bands in group if bands is not None), [ZERO] * len(AGE_BANDS))
            unallocated = -credit.get((customer_id, currency), ZERO)
            balance = sum(bands, ZERO) + unallocated
            if not any(bands) and not unallocated:
                continue
            position = "owes" if balance > 0 else "in credit" if balance < 0 else "settled"
            amounts = [*bands, unallocated, balance]
            yield self._customer_line(totals, customer_id, names.get(customer_id, ""), currency, amounts, position)
        yield from self._total_lines(totals, "All customers", "")


class LedgerControl(Report):
    """Per customer and in total: opening balance + invoices − credit notes − receipts +
    refunds = closing balance. The totals reconcile with the day book and the receipts."""

    kind = "ledger_control"
    title = "Sales ledger control"
    columns = [
        Column("record"),
        Column("customer_account"),
        Column("customer_name"),
        Column("currency"),
        Column("opening_balance", "money"),
        Column("invoices", "money"),
        Column("credit_notes", "money"),
        Column("receipts", "money"),
        Column("refunds", "money"),
        Column("closing_balance", "money"),
    ]

    def figures(self) -> dict[tuple[int, str], list[Decimal]]:
        """[opening, invoices, credit notes, receipts, refunds] per (customer, currency)."""
        start, end = self.period.start, self.period.end
        figures: dict[tuple[int, str], list[Decimal]] = {}

        def add(rows, columns: list[tuple[int, int]]):
            for customer_id, currency, *amounts in rows:
                entry = figures.setdefault((customer_id, currency), [ZERO] * 5)
                for (index, sign), amount in zip(columns, amounts, strict=True):
                    entry[index] += sign * (amount or ZERO)

        documents_before = Q(issued_on__lt=start)
        documents_in = Q(issued_on__gte=start)
        add(
            Invoice.objects.filter(kind__in=DOCUMENT_KINDS, status__in=Invoice.POSTED_STATUSES, issued_on__lte=end)
            .values_list("customer_id", "currency")
            .annotate(
                invoiced_before=Sum("total_gross", filter=documents_before & Q(kind=Invoice.Kind.INVOICE)),
                credited_before=Sum("total_gross", filter=documents_before & Q(kind=Invoice.Kind.CREDIT_NOTE)),
                invoiced=Sum("total_gross", filter=documents_in & Q(kind=Invoice.Kind.INVOICE)),
                credited=Sum("total_gross", filter=documents_in & Q(kind=Invoice.Kind.CREDIT_NOTE)),
            )
            .order_by(),
            [(0, 1), (0, -1), (1, 1), (2, 1)],
        )
        for model, date_field, before_sign, index in ((Payment, "received_on", -1, 3), (Refund, "paid_on", 1, 4)):
            add(
                model.objects.filter(**{f"{date_field}__lte": end})
                .values_list("customer_id", "currency")
                .annotate(
                    before=Sum("amount", filter=Q(**{f"{date_field}__lt": start})),
                    during=Sum("amount", filter=Q(**{f"{date_field}__gte": start})),
                )
                .order_by(),
                [(0, before_sign), (index, 1)],
            )
        return figures

    def expected_rows(self) -> int:
        return Customer.objects.count()

    def rows(self) -> Iterator[tuple]:
        figures = self.figures()
        names = dict(Customer.objects.filter(pk__in={pk for pk, _ in figures}).values_list("pk", "registered_name"))
        totals: dict[str, list[Decimal]] = {}
        keyed = sorted(figures.items(), key=lambda item: (self.codes.reference(item[0][0]), item[0][1]))
        for (customer_id, currency), (opening, invoiced, credited, received, refunded) in keyed:
            closing = opening + invoiced - credited - received + refunded
            if not any((opening, invoiced, credited, received, refunded)):
                continue
            amounts = [opening, invoiced, credited, received, refunded, closing]
            yield self._customer_line(totals, customer_id, names.get(customer_id, ""), currency, amounts)
        yield from self._total_lines(totals, "Control account")


class VatReturn(Report):
    """The VAT100 boxes our sales fill, with the documents (or, under cash accounting, the
    payments) behind each figure. Amounts in sterling."""

    kind = "vat_return"
    title = "VAT return figures"
    categories = (Category.FINANCIAL,)
    columns = [
        Column("record"),
        Column("box"),
        Column("description"),
        Column("value_gbp", "money"),
        Column("document_number"),
        Column("document_type"),
        Column("tax_point", "date"),
        Column("customer_account"),
        Column("vat_code"),
        Column("net_gbp", "money"),
        Column("vat_gbp", "money"),
    ]

    def expected_rows(self) -> int:
        return period_documents(self._documents_period()).count() + 9

    def _documents_period(self) -> Period:
        # Documents issued up to a month before the period may have their tax point in it.
        return Period(self.period.start - dt.timedelta(days=31), self.period.end, "")

    def _invoice_basis(self) -> Iterator[tuple]:
        for doc in documents(self._documents_period()):
            tax_point = doc.tax_point or doc.issued_on
            if tax_point not in self.period:
                continue
            by_code: dict[str, list[Decimal]] = {}
            for line in doc.lines:
                if line.net_gbp is None:
                    raise ExportError(
                        f"{doc.type_label} {doc.number}: field sterling value: it is in {doc.currency} with no "
                        "exchange rate, so its value in pounds for the VAT return is unknown."
                    )
                entry = by_code.setdefault(line.vat_code, [ZERO, ZERO])
                entry[0] += line.net_gbp
                entry[1] += line.vat_gbp
            for code, (net, vat) in sorted(by_code.items()):
                yield doc, tax_point, code, doc.sign * net, doc.sign * vat

    def _cash_basis(self) -> Iterator[tuple]:
        """Under cash accounting VAT is due when paid: each allocation of a payment received
        in the period (or a part released by a credit note issued in it) carries the share
        of its invoice's VAT that the amount is of the invoice's gross."""
        start, end = self.period.start, self.period.end
        allocations = (
            PaymentAllocation.objects.filter(
                Q(released_by__isnull=True, payment__received_on__range=(start, end))
                | Q(released_by__isnull=False, released_by__issued_on__range=(start, end))
            )
            .select_related("invoice", "payment", "released_by")
            .order_by("payment__received_on", "pk")
        )
        for allocation in allocations.iterator(chunk_size=CHUNK):
            invoice = allocation.invoice
            if not invoice.total_gross:
                continue
            net_gbp = invoice.total_net if invoice.currency == "GBP" else invoice.total_net_gbp
            vat_gbp = invoice.total_vat if invoice.currency == "GBP" else invoice.total_vat_gbp
            if net_gbp is None or vat_gbp is None:
                raise ExportError(
                    f"Invoice {invoice.number}: field sterling value: it is in {invoice.currency} with no "
                    "exchange rate, so its value in pounds for the VAT return is unknown."
                )
            share = allocation.amount / invoice.total_gross
            code = vat_code(invoice.vat_rule, "standard") if invoice.vat_rule != "uk_rate" else VatCode.STANDARD
            when = allocation.released_by.issued_on if allocation.released_by_id else allocation.payment.received_on
            document = Document(
                pk=invoice.pk,
                number=invoice.number,
                kind=invoice.kind,
                issued_on=invoice.issued_on,
                tax_point=when,
                due_on=invoice.due_on,
                customer_id=invoice.customer_id,
                customer_name="",
                currency=invoice.currency,
                gbp_rate=invoice.gbp_rate,
                vat_rule=invoice.vat_rule,
                corrects="",
            )
            yield document, when, code, net_gbp * share, vat_gbp * share

    def rows(self) -> Iterator[tuple]:
        cash = self.codes.settings.cash_accounting
        box1 = box6 = Decimal(0)
        # The boxes come first, so the documents behind them are read twice (a stream
        # cannot be rewound): once to add up, once to list.
        for _doc, _tax_point, code, net, vat in self._cash_basis() if cash else self._invoice_basis():
            if code == VatCode.CONSUMER_COUNTRY:
                continue
            if code in UK_VAT_CODES:
                box1 += vat
            box6 += net
        box1 = vat_down(box1) if cash else box1.quantize(CENT)
        box6_exact = to_money(box6) if cash else box6.quantize(CENT)
        box6_pounds = box6_exact.quantize(Decimal(1), rounding="ROUND_DOWN")
        basis = "cash accounting: VAT on payments received" if cash else "invoice basis: by tax point"
        box_rows = [
            ("1", f"VAT due on sales ({basis})", box1),
            ("2", "VAT due on acquisitions of goods from the EU: none, we sell services", ZERO),
            ("3", "Total VAT due (box 1 + box 2)", box1),
            ("4", "VAT reclaimed on purchases: not recorded here, add from your purchase records", ZERO),
            ("5", "Net VAT (box 3 − box 4) before purchases", box1),
            ("6", f"Total value of sales excluding VAT, whole pounds (exact: {box6_exact:.2f})", box6_pounds),
            ("7", "Total value of purchases excluding VAT: not recorded here", ZERO),
            ("8", "Supplies of goods to the EU: none, we sell services", ZERO),
            ("9", "Acquisitions of goods from the EU: none, we sell services", ZERO),
        ]
        for number, label, amount in box_rows:
            yield ("box", number, label, amount, "", "", None, "", "", None, None)
        for doc, tax_point, code, net, vat in self._cash_basis() if cash else self._invoice_basis():
            self._seen(doc.customer_id)
            if code == VatCode.CONSUMER_COUNTRY:
                boxes = "none: another country's VAT (One Stop Shop return)"
            else:
                boxes = "1 and 6" if code in UK_VAT_CODES else "6"
            yield (
                "document",
                boxes,
                "Payment received" if cash else "",
                None,
                doc.number,
                "Invoice (paid)" if cash else doc.type_label,
                tax_point,
                self.codes.reference(doc.customer_id),
                code,
                to_money(net),
                to_money(vat),
            )


class ServicesRegister(Report):
    """Every service held in the period: customer, service, plan, start, end and price."""

    kind = "services"
    title = "Services register"
    categories = (Category.SERVICE, Category.IDENTITY)
    columns = [
        Column("customer_account"),
        Column("customer_name"),
        Column("service"),
        Column("service_kind"),
        Column("service_start", "date"),
        Column("service_end", "date"),
        Column("plan"),
        Column("billing_period"),
        Column("plan_start", "date"),
        Column("plan_end", "date"),
        Column("price", "money"),
        Column("currency"),
        Column("vat_category"),
    ]

    def services(self):
        start, end = self.period.start, self.period.end
        return Service.objects.filter(Q(started_on__lte=end), Q(ended_on__isnull=True) | Q(ended_on__gte=start))

    def expected_rows(self) -> int:
        return self.services().count()

    def rows(self) -> Iterator[tuple]:
        start, end = self.period.start, self.period.end
        subscriptions = (
            Subscription.objects.filter(Q(started_on__lte=end), Q(ended_on__isnull=True) | Q(ended_on__gte=start))
            .select_related("plan")
            .order_by("started_on", "pk")
        )
        services = (
            self.services()
            .select_related("customer")
            .prefetch_related(Prefetch("subscriptions", queryset=subscriptions))
            .order_by("customer__registered_name", "customer_id", "started_on", "pk")
        )
        for service in services.iterator(chunk_size=CHUNK):
            base = (
                self.codes.reference(service.customer_id),
                service.customer.registered_name,
                service.name,
                service.get_kind_display(),
                service.started_on,
                service.ended_on,
            )
            held = list(service.subscriptions.all())
            if not held:
                self._seen(service.customer_id)
                yield (*base, "", "", None, None, None, "", "")
            for subscription in held:
                self._seen(service.customer_id)
                plan = subscription.plan
                yield (
                    *base,
                    plan.name,
                    plan.get_period_display(),
                    subscription.started_on,
                    subscription.ended_on,
                    plan.price,
                    plan.currency,
                    plan.get_vat_category_display(),
                )


REPORTS: dict[str, type[Report]] = {
    report.kind: report for report in (DayBook, Receipts, AgedDebtors, LedgerControl, VatReturn, ServicesRegister)
}
