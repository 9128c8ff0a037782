"""Where a customer's documents stand in collections: which are open and not excluded
(disputed, handed over, written off, paused). Read-only."""

from __future__ import annotations

import datetime as dt

from django.db.models import Exists, OuterRef, Q, QuerySet

from billing.collections.models import CollectionsPause, Dispute, Handoff, WriteOff
from billing.models import Invoice


def paused_customers(today: dt.date) -> QuerySet:
    return CollectionsPause.objects.filter(CollectionsPause.active_q(today)).values("customer_id")


def is_paused(customer, today: dt.date) -> bool:
    return CollectionsPause.objects.filter(CollectionsPause.active_q(today), customer=customer).exists()


def open_dispute_q() -> Exists:
    return Exists(Dispute.objects.open().filter(invoice=OuterRef("pk")))


def handed_over_q() -> Exists:
    return Exists(Handoff.objects.filter(status=Handoff.Status.ACTIVE, invoices=OuterRef("pk")))


def written_off_q() -> Exists:
    return Exists(WriteOff.objects.filter(invoice=OuterRef("pk")))


def collectable(queryset: QuerySet | None = None) -> QuerySet:
    """Open payable documents with a balance, not disputed, not handed over, not written off."""
    queryset = Invoice.objects.all() if queryset is None else queryset
    return (
        queryset.open()
        .filter(due_on__isnull=False)
        .exclude(open_dispute_q())
        .exclude(handed_over_q())
        .exclude(written_off_q())
        .with_balance()
        .filter(balance__gt=0)
    )


def exclusion(invoice: Invoice) -> str:
    """Why collections leave ``invoice`` alone, or "" when it may be chased."""
    if invoice.status not in (Invoice.Status.ISSUED, Invoice.Status.PART_PAID) or invoice.kind not in (
        Invoice.PAYABLE_KINDS
    ):
        return f"{invoice} is {invoice.get_status_display().lower()}: nothing is owed on it."
    if Dispute.objects.open().filter(invoice=invoice).exists():
        return f"{invoice} is disputed: the dispute must be decided first."
    if Handoff.objects.filter(status=Handoff.Status.ACTIVE, invoices=invoice).exists():
        return f"{invoice} is with a collection agency."
    if WriteOff.objects.filter(invoice=invoice).exists():
        return f"{invoice} has been written off."
    return ""


def active_handoff_for(invoice: Invoice) -> Handoff | None:
    return Handoff.objects.filter(invoices=invoice).exclude(status=Handoff.Status.RECALLED).first()


def open_documents_q(customer) -> Q:
    return Q(customer=customer)
