"""An issued document as the customer reads it: the one function (``document_data``) that
its PDF, its page in the portal and its email are all drawn from, so they cannot disagree.

Everything about the document itself comes from what it holds — the seller and buyer
snapshots copied on at issue, its lines and its totals — never from the live customer or
provider rows, so it reads the same in six years as on the day it was issued (VAT
Regulations 1995 reg 14). What has been paid on it and what is still due is read from the
account when the data is asked for (``billing.receivables.settlement``): the PDF, rendered
once just after issue, shows it as it was then; the page shows it as it is now.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django_countries.fields import Country
from stdnum import iban

from accounts.models import LegalForm
from billing.documents.snapshots import BuyerSnapshot, SellerSnapshot
from billing.documents.totals import sterling_summary, vat_summary
from billing.models import Invoice
from billing.money import format_money
from billing.receivables.settlement import settlement_of
from billing.vat import EU_COUNTRIES, OUTSIDE_SCOPE_RULES, UK_COUNTRIES


def _legal_form_label(value: str) -> str:
    return LegalForm(value).label.lower() if value in LegalForm.values else ""


def seller_block(snapshot: SellerSnapshot) -> dict[str, Any]:
    """The seller as documents and their emails print it: its address is its registered
    office, its IBAN in groups of four as banks print it (and people read it out)."""
    return {
        "name": snapshot.trading_name or snapshot.registered_name,
        "registered_name": snapshot.registered_name,
        "address_lines": snapshot.registered_office,
        "registered_office": snapshot.registered_office,
        "vat_number": snapshot.vat_number,
        "company_number": snapshot.company_number,
        "legal_form": _legal_form_label(snapshot.legal_form),
        "registered_in": snapshot.registered_in,
        "email": snapshot.billing_email,
        "bank_account_name": snapshot.bank_account_name,
        "bank_sort_code": snapshot.bank_sort_code,
        "bank_account_number": snapshot.bank_account_number,
        "bank_iban": iban.format(snapshot.bank_iban) if snapshot.bank_iban else "",
        "bank_bic": snapshot.bank_bic,
        # The return address over the window: the name, then the office's last two lines (town, postcode).
        "return_address": " · ".join(
            [snapshot.trading_name or snapshot.registered_name, *snapshot.registered_office[-2:]]
        ),
    }


def buyer_block(snapshot: BuyerSnapshot) -> dict[str, Any]:
    """The customer as documents print it: its legal name, with a different trading name added."""
    return {
        "name": snapshot.registered_name,
        "trading_name": snapshot.trading_name if snapshot.trading_name != snapshot.registered_name else "",
        "address_lines": snapshot.address,
        "vat_number": snapshot.vat_number,
        "company_number": snapshot.company_number,
        "legal_form": _legal_form_label(snapshot.legal_form),
        "window_lines": snapshot.addressee_lines(),
    }


def _title(invoice: Invoice) -> str:
    if invoice.kind == Invoice.Kind.CREDIT_NOTE:
        return "Credit note"
    if invoice.kind == Invoice.Kind.LATE_PAYMENT_CLAIM:
        return "Late-payment claim — This is not a VAT invoice"
    if invoice.kind == Invoice.Kind.PRO_FORMA:
        # VAT reg 90 / HMRC VATTOS9165: a payment request creates no tax point.
        return "Payment request — This is not a VAT invoice"
    return "VAT invoice"


def _vat_summary(invoice: Invoice, lines: list) -> list[dict[str, Any]]:
    """Net and VAT per rate, highest rate first, exactly as issuing computed the totals
    (``billing.documents.totals.vat_summary``). With a stored sterling rate, each rate's net
    and VAT in sterling too."""
    summary = vat_summary(invoice, lines)
    rows = [{"rate": rate, "net": net, "vat": vat} for rate, net, vat in summary]
    if invoice.currency != "GBP" and invoice.gbp_rate:
        for row, (_, net_gbp, vat_gbp) in zip(rows, sterling_summary(invoice.gbp_rate, summary), strict=True):
            row["net_gbp"], row["vat_gbp"] = net_gbp, vat_gbp
    return rows


def _payment_state(invoice: Invoice, money, *, with_balance: bool) -> dict[str, Any]:
    """What has been paid and what is due, as every rendering of the document states it:
    a settled document says Paid, with the date and reference of each payment, and asks
    for nothing; a part-paid one shows what was paid so far and the balance."""
    state = settlement_of(invoice, with_balance=with_balance)
    asks_payment = (
        invoice.kind != Invoice.Kind.CREDIT_NOTE and invoice.status != Invoice.Status.CANCELLED and state.balance > 0
    )
    return {
        "is_settled": state.is_settled and invoice.kind != Invoice.Kind.CREDIT_NOTE,
        "is_part_paid": state.is_part_paid,
        "asks_payment": asks_payment,
        "paid": money(state.paid),
        "credited": money(state.credited) if state.credited else "",
        "balance": money(state.balance),
        "paid_on": state.paid_on,
        "payments": [
            {
                "amount": money(payment.amount),
                "received_on": payment.received_on,
                "reference": payment.reference,
                "method": payment.method,
            }
            for payment in state.payments
        ],
        "settled_by": state.settled_by,
        # What was paid back of a credit note.
        "refunds": [
            {
                "amount": money(refund.amount),
                "paid_on": refund.paid_on,
                "reference": refund.reference,
                "method": refund.get_method_display().lower(),
            }
            for refund in invoice.refunds.all()
        ],
    }


def document_data(invoice: Invoice, *, with_balance: bool = False) -> dict[str, Any]:
    """Everything the customer is shown of an issued document, amounts formatted as they
    are printed: the PDF template, the portal page and the email all take this.

    ``with_balance``: ``invoice`` was just read with ``Invoice.objects.with_balance()``,
    whose figures are used (``settlement_of``)."""
    lines = list(invoice.lines.all())
    currency = invoice.currency
    seller = seller_block(SellerSnapshot.from_json(invoice.seller))
    # The customer's name on a VAT invoice is its legal name; a trading name is added to it.
    buyer = buyer_block(BuyerSnapshot.from_json(invoice.buyer))

    def money(amount: Decimal | None, cur: str = currency) -> str:
        return "" if amount is None else format_money(amount, cur)

    summary = _vat_summary(invoice, lines)
    buyer_country = BuyerSnapshot.from_json(invoice.buyer).country
    # Sterling VAT figures are what UK VAT requires; VAT charged under a consumer's own
    # country's rules is that country's VAT, labelled so, in the invoice currency only.
    uk_vat = invoice.vat_rule == "uk_rate"
    foreign_vat = invoice.vat_rule == "consumer_country_rate"
    vat_label = f"VAT ({Country(buyer_country).name})" if foreign_vat and buyer_country else "VAT"
    # A supply outside the scope of UK VAT has no rate: it says so instead of "0%".
    no_rate = OUTSIDE_SCOPE_RULES.get(invoice.vat_rule)

    def rate(value: Decimal) -> str:
        return no_rate or f"{value.normalize():f}%"

    buyer["tax_id_label"] = (
        "VAT number" if not buyer_country or buyer_country in UK_COUNTRIES | EU_COUNTRIES else "tax number"
    )
    return {
        "invoice": invoice,
        "title": _title(invoice),
        "is_credit_note": invoice.kind == Invoice.Kind.CREDIT_NOTE,
        "is_pro_forma": invoice.kind == Invoice.Kind.PRO_FORMA,
        "is_claim": invoice.kind == Invoice.Kind.LATE_PAYMENT_CLAIM,
        "original": invoice.corrects,
        "seller": seller,
        "buyer": buyer,
        "lines": [
            {
                "description": line.description,
                "quantity": f"{line.quantity.normalize():f}",
                "unit_price": money(line.unit_price),
                "vat_rate": rate(line.vat_rate),
                "net": money(line.net),
                "period_start": line.period_start,
                "period_end": line.period_end,
            }
            for line in lines
        ],
        "vat_summary": [
            {
                "rate": rate(row["rate"]),
                "net": money(row["net"]),
                "vat": money(row["vat"]),
                "net_gbp": money(row.get("net_gbp"), "GBP"),
                "vat_gbp": money(row.get("vat_gbp"), "GBP"),
            }
            for row in summary
        ],
        "total_net": money(invoice.total_net),
        "total_vat": money(invoice.total_vat),
        "total_gross": money(invoice.total_gross),
        "foreign_currency": currency != "GBP",
        "uk_vat": uk_vat,
        "vat_label": vat_label,
        "has_sterling_totals": uk_vat and currency != "GBP" and invoice.total_vat_gbp is not None,
        # The total VAT in sterling, and for other currencies the sterling net and VAT at
        # the stored rate with its source and date (HMRC: VAT on an invoice in another
        # currency is shown in sterling too).
        "total_vat_gbp": money(invoice.total_vat if currency == "GBP" else invoice.total_vat_gbp, "GBP"),
        "total_net_gbp": money(invoice.total_net if currency == "GBP" else invoice.total_net_gbp, "GBP"),
        "payment": _payment_state(invoice, money, with_balance=with_balance),
    }
