"""Billing's sections of the customer overview (accounts.overview): the balance, the
documents and the payments, with the actions billing staff take from there."""

from __future__ import annotations

from django.db.models import Count, Sum
from django.http import HttpRequest

from accounts import overview
from accounts.models import Customer
from billing.models import Invoice, Payment
from billing.money import format_money
from billing.receivables.payments import account_balance, unallocated_credit


def _record_payment(request: HttpRequest, customer: Customer) -> list[overview.Link]:
    if not request.user.has_perm("billing.add_payment"):
        return []
    return [overview.Link("Record a payment", overview.admin_url("billing_payment_add", customer=customer.pk))]


@overview.section(40)
def balance_section(request: HttpRequest, customer: Customer) -> overview.Section | None:
    if not request.user.has_perm("billing.view_invoice"):
        return None
    currency = customer.currency
    balance = account_balance(customer)
    overdue = (
        Invoice.objects.filter(customer=customer).overdue().with_balance().aggregate(n=Count("pk"), due=Sum("balance"))
    )
    if balance > 0:
        owed = f"Owes {format_money(balance, currency)}"
    elif balance < 0:
        owed = f"In credit by {format_money(-balance, currency)}"
    else:
        owed = "Nothing owed"
    facts: list[tuple[str, overview.Cell]] = [("Balance", owed)]
    if overdue["n"]:
        facts.append(
            (
                "Overdue",
                overview.Link(
                    f"{overdue['n']} document{'s' if overdue['n'] != 1 else ''}, "
                    f"{format_money(overdue['due'], currency)} due",
                    overview.admin_url("billing_invoice_changelist", customer=customer.pk, overdue="yes"),
                ),
            )
        )
    credit = unallocated_credit(customer, currency)
    if credit:
        facts.append(("Unallocated payments", format_money(credit, currency)))
    actions = _record_payment(request, customer)
    if request.user.has_perm("billing.add_refund"):
        actions.append(overview.Link("Record a refund", overview.admin_url("billing_refund_add", customer=customer.pk)))
    if request.user.has_perm("billing.add_billingrun"):
        actions.append(
            overview.Link(
                "Run billing for this customer", overview.admin_url("billing_billingrun_add", customer=customer.pk)
            )
        )
    return overview.Section("balance", "Balance", facts=facts, actions=actions)


@overview.section(50)
def documents_section(request: HttpRequest, customer: Customer) -> overview.Section | None:
    if not request.user.has_perm("billing.view_invoice"):
        return None
    shown, total = overview.latest(Invoice.objects.filter(customer=customer).order_by("-created_at", "-pk"))
    rows = [
        (
            overview.Link(str(doc), overview.admin_url("billing_invoice_change", doc.pk)),
            doc.get_kind_display(),
            doc.display_status,
            overview.when(doc.issued_on),
            format_money(doc.total_gross, doc.currency),
            overview.Link("PDF", overview.admin_url("billing_invoice_pdf", doc.pk)) if doc.pdf else None,
        )
        for doc in shown
    ]
    actions = []
    if request.user.has_perm("billing.add_invoice"):
        for kind, label in (
            (Invoice.Kind.INVOICE, "New invoice draft"),
            (Invoice.Kind.CREDIT_NOTE, "New credit note draft"),
        ):
            url = overview.admin_url("billing_invoice_add", customer=customer.pk, kind=kind, currency=customer.currency)
            actions.append(overview.Link(label, url))
    return overview.Section(
        "documents",
        "Invoices, credit notes and payment requests",
        ("Document", "Kind", "Status", "Issued", "Total", ""),
        rows=rows,
        total=total,
        all_url=overview.admin_url("billing_invoice_changelist", customer=customer.pk),
        actions=actions,
        empty="No documents yet.",
    )


@overview.section(60)
def payments_section(request: HttpRequest, customer: Customer) -> overview.Section | None:
    if not request.user.has_perm("billing.view_payment"):
        return None
    shown, total = overview.latest(Payment.objects.filter(customer=customer).order_by("-received_on", "-pk"))
    rows = [
        (
            overview.Link(overview.when(payment.received_on), overview.admin_url("billing_payment_change", payment.pk)),
            format_money(payment.amount, payment.currency),
            payment.get_method_display(),
            payment.reference or "—",
        )
        for payment in shown
    ]
    return overview.Section(
        "payments",
        "Payments",
        ("Received", "Amount", "Method", "Reference"),
        rows=rows,
        total=total,
        all_url=overview.admin_url("billing_payment_changelist", customer=customer.pk),
        actions=_record_payment(request, customer),
        empty="No payments yet.",
    )
