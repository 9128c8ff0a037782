"""A customer with ten years of history, for the query-count pins and the page benchmark.

At full size (``scale=1``): 500 documents (VAT invoices, a few credit notes, most paid),
5,004 messages in threads of about four, 50 services with their IP addresses, 25 contacts,
120 monthly disclosures to the accountants, a dozen data-subject requests and exports.

The first invoice is issued through the one write path (``billing.issuing``), so its
seller and buyer snapshots are real; the rest of the history copies them and is inserted
in bulk, as a migration from another system would (issuing 500 documents one by one
renders 500 PDFs). ``scale`` shrinks everything but keeps the shape.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal

from accounts.audit import System

YEARS = 10
DOCUMENTS = 500
MESSAGES = 5004
SERVICES = 50
CONTACTS = 25
DISCLOSURES = 120
REQUESTS = 12
EXPORTS = 12

WORDS = [
    "server", "reboot", "invoice", "backup", "disk", "network", "traffic", "address", "renewal", "payment",
    "kernel", "upgrade", "ticket", "thanks", "please", "regards", "outage", "maintenance", "window", "monitor",
]  # fmt: skip


@dataclass
class LargeCustomer:
    customer: object
    owner: object
    documents: int
    messages: int
    services: int
    contacts: int


def build(*, scale: float = 1.0, today: dt.date | None = None) -> LargeCustomer:
    """Build the customer and return it with its owner (who can see every page)."""
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from accounts import roles
    from accounts.correspondence.models import MailKind, Message
    from accounts.models import IPAssignment, Membership, Service, User
    from billing.models import Invoice, InvoiceLine, Payment, PaymentAllocation
    from privacy.models import DataExport, DataSubjectRequest
    from tests.accounts.factories import PASSWORD, CustomerFactory, MembershipFactory
    from tests.billing.factories import issued_invoice

    def n(full: int) -> int:
        return max(1, round(full * scale))

    today = today or timezone.localdate()
    start = today - dt.timedelta(days=365 * YEARS)
    rng = random.Random(2016)
    customer = CustomerFactory()
    owner = MembershipFactory(customer=customer, role=roles.Role.OWNER).user

    # Contacts: one owner (above) and the rest in every other role, inserted in bulk.
    other_roles = [roles.Role.BILLING, roles.Role.TECHNICAL]
    password = make_password(PASSWORD)
    users = User.objects.bulk_create(
        User(email=f"contact{i}-{customer.pk}@large.example", full_name=f"Contact {i}", password=password)
        for i in range(n(CONTACTS) - 1)
    )
    Membership.objects.bulk_create(
        Membership(user=user, customer=customer, role=other_roles[i % 2]) for i, user in enumerate(users)
    )

    services = Service.objects.bulk_create(
        Service(customer=customer, name=f"web-{s:02d}", kind=Service.Kind.VPS, platform=Service.Platform.VIRTUAL)
        for s in range(n(SERVICES))
    )
    for s, service in enumerate(services):  # save() derives the address's keys
        for a in range(2):
            IPAssignment(service=service, network=f"10.{s // 250}.{s % 250}.{a * 8}/29").save()

    # Documents: the first issued for real, the rest copied from it in bulk.
    documents = n(DOCUMENTS)
    notes = max(0, documents // 25)
    invoices_wanted = documents - notes
    step = dt.timedelta(days=(365 * YEARS) // invoices_wanted)
    first = issued_invoice(
        customer, lines=[("VPS hosting", 1, "50.00")], issued_on=start, period_start=start, period_end=start
    )
    template = {
        field.attname: getattr(first, field.attname)
        for field in Invoice._meta.concrete_fields
        if field.attname not in ("id", "number", "issued_on", "tax_point", "due_on", "period_start", "period_end")
        and field.attname not in ("pdf", "pdf_sha256", "status", "kind", "corrects_id", "settles_id", "created_at")
    }
    rows = []
    for i in range(1, invoices_wanted):
        issued_on = start + step * i
        rows.append(
            Invoice(
                **template,
                kind=Invoice.Kind.INVOICE,
                # Drafts until their lines are in: issued documents' lines cannot change
                # (on PostgreSQL a trigger refuses them).
                status=Invoice.Status.DRAFT,
                number=f"L{customer.pk}-{i:06d}",
                issued_on=issued_on,
                tax_point=issued_on,
                due_on=issued_on + dt.timedelta(days=14),
                period_start=issued_on,
                period_end=issued_on + step - dt.timedelta(days=1),
                created_at=timezone.make_aware(dt.datetime.combine(issued_on, dt.time(9))),
            )
        )
    invoices = Invoice.objects.bulk_create(rows, batch_size=500)
    InvoiceLine.objects.bulk_create(
        (
            InvoiceLine(
                invoice=invoice,
                description=f"VPS hosting {invoice.period_start:%d %b %Y}",
                quantity=Decimal("1"),
                unit_price=first.total_net,
                vat_rate=Decimal("20"),
                net=first.total_net,
            )
            for invoice in invoices
        ),
        batch_size=500,
    )
    # Most are paid; the last few months are still open.
    paid = [invoice for invoice in invoices if invoice.issued_on < today - dt.timedelta(days=60)]
    Invoice.objects.filter(pk__in=[invoice.pk for invoice in paid]).update(status=Invoice.Status.PAID)
    Invoice.objects.filter(pk__in=[i.pk for i in invoices], status=Invoice.Status.DRAFT).update(
        status=Invoice.Status.ISSUED
    )
    payments = Payment.objects.bulk_create(
        (
            Payment(
                customer=customer,
                method=Payment.Method.BANK_TRANSFER,
                amount=invoice.total_gross,
                received_on=invoice.issued_on + dt.timedelta(days=7),
                reference=f"BACS {invoice.number}",
            )
            for invoice in paid
        ),
        batch_size=500,
    )
    PaymentAllocation.objects.bulk_create(
        (
            PaymentAllocation(payment=payment, invoice=invoice, amount=invoice.total_gross)
            for payment, invoice in zip(payments, paid, strict=True)
        ),
        batch_size=500,
    )
    # Credit notes against some of the open ones' predecessors: small corrections.
    credit_template = {**template, "total_net": Decimal("5.00"), "total_vat": Decimal("1.00"), "reason": ""}
    credit_template.update(total_gross=Decimal("6.00"), reason="Service credit for downtime")
    Invoice.objects.bulk_create(
        Invoice(
            **credit_template,
            kind=Invoice.Kind.CREDIT_NOTE,
            status=Invoice.Status.ISSUED,
            corrects=invoices[(j * 23) % len(invoices)],
            number=f"C{customer.pk}-{j:06d}",
            issued_on=invoices[(j * 23) % len(invoices)].issued_on + dt.timedelta(days=3),
            tax_point=invoices[(j * 23) % len(invoices)].issued_on + dt.timedelta(days=3),
        )
        for j in range(notes)
    )

    # Messages, in threads of four (a notice, a reply, our answer, their thanks).
    messages = []
    total_messages = n(MESSAGES)
    minutes = (365 * YEARS * 24 * 60) // total_messages
    first_message = timezone.make_aware(dt.datetime.combine(start, dt.time(8)))
    for i in range(total_messages):
        outbound = i % 2 == 0
        contact = users[i % len(users)] if users else owner
        messages.append(
            Message(
                customer=customer,
                direction=Message.Direction.OUTBOUND if outbound else Message.Direction.INBOUND,
                kind=MailKind.BILLING if (i // 4) % 3 == 0 else MailKind.SERVICE,
                status=Message.Status.SENT if outbound else Message.Status.RECEIVED,
                message_id=f"large-{customer.pk}-{i}@large.example",
                from_address="support@hosting.example" if outbound else contact.email,
                to_addresses=[contact.email] if outbound else ["support@hosting.example"],
                subject=f"Conversation {i // 4} about web-{(i // 4) % n(SERVICES):02d}",
                body_text=" ".join(rng.choice(WORDS) for _ in range(120)),
                created_at=first_message + dt.timedelta(minutes=minutes * i),
            )
        )
    Message.objects.bulk_create(messages, batch_size=500)
    roots = {}
    replies = []
    for i, message in enumerate(messages):
        if i % 4 == 0:
            roots[i // 4] = message
        else:
            message.thread_id = roots[i // 4].pk
            replies.append(message)
    Message.objects.bulk_update(replies, ["thread"], batch_size=500)

    _disclosures(customer, n(DISCLOSURES))
    for r in range(n(REQUESTS)):
        received = timezone.now() - dt.timedelta(days=300 * r + 1)
        DataSubjectRequest.objects.create(
            kind=DataSubjectRequest.Kind.ACCESS,
            channel=DataSubjectRequest.Channel.PORTAL,
            customer=customer,
            status=DataSubjectRequest.Status.FULFILLED if r else DataSubjectRequest.Status.OPEN,
            received_at=received,
            details=f"A copy of our data, request {r}",
        )
    DataExport.objects.bulk_create(
        DataExport(
            customer=customer,
            requested_by=owner,
            status=DataExport.Status.EXPIRED,
            created_at=timezone.now() - dt.timedelta(days=200 * e + 40),
        )
        for e in range(n(EXPORTS))
    )
    return LargeCustomer(customer, owner, documents, total_messages, n(SERVICES), n(CONTACTS))


def _disclosures(customer, count: int) -> None:
    from core.registry import Category
    from privacy.services.ledger import record_disclosure

    for month in range(count):
        record_disclosure(
            recipient_kind="accountant",
            recipient="Example Accountants LLP",
            purpose=f"Monthly bookkeeping, month {month + 1}",
            legal_basis="legal_obligation",
            categories=[Category.FINANCIAL, Category.IDENTITY],
            customers=[customer],
            actor=System("tests"),
        )
