"""Passing a debt to a collection agency or solicitors, and writing one off
(docs/collections.md).

``check_handoff`` lists every reason a handoff would be refused; ``hand_off`` refuses
with them, or builds the pack, stores it, appends the disclosure to the ledger, places a
legal hold on the customer's records and emails the customer (kind legal), all in one
transaction.

The pack holds exactly what the agency needs (``PACK_CONTENTS``): the statement of
account, the documents and their PDFs as stored, the letters and their proof of sending,
the billing and legal correspondence with the customer, the terms version accepted and
the customer's contact details. Nothing about services, privacy requests or other people.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import zipfile
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts import audit, roles
from accounts.correspondence.gateway import NoRecipients, send_mail, store_file
from accounts.correspondence.models import MailKind, Message
from billing.collections.letters import (
    PROTOCOL_FORMS,
    accepted_terms,
    handoff_wait,
    letter_filename,
    letter_pdf_bytes,
)
from billing.collections.models import (
    CollectionAgency,
    DunningStep,
    Handoff,
    HandoffEvent,
    Letter,
    ReminderSent,
    WriteOff,
)
from billing.collections.state import collectable
from billing.delivery.pdf import pdf_filename, render_statement_pdf, stored_pdf_bytes
from billing.documents.locking import lock_customer
from billing.models import Invoice
from billing.money import format_money
from billing.receivables.statements import statement
from core.registry import Category, LawfulBasis
from privacy.models import DisclosureEntry
from privacy.services.holds import lift_hold, place_hold
from privacy.services.ledger import artefact_hash, record_disclosure

# What the pack contains, folder by folder (README.txt in the pack says the same).
PACK_CONTENTS = (
    "README.txt",
    "customer.json",
    "statement-of-account.pdf",
    "documents/<number>.pdf",
    "documents/documents.json",
    "letters/<letter>.pdf",
    "letters/proof-of-sending.json",
    "correspondence/<date>-<id>.txt",
    "terms/terms-of-service-v<version>.txt",
)
DISCLOSED_CATEGORIES = [Category.IDENTITY, Category.CONTACT, Category.FINANCIAL, Category.CORRESPONDENCE]


def check_handoff(customer, invoices, *, today: dt.date | None = None) -> list[str]:
    """Why passing ``invoices`` of ``customer`` on would be wrong today; empty when it may go."""
    today = today or timezone.localdate()
    invoices = list(invoices)
    if not invoices:
        return ["Choose the overdue documents to pass on."]
    problems: list[str] = []
    chased = {inv.pk: inv for inv in collectable(Invoice.objects.filter(customer=customer))}
    final_steps = list(DunningStep.objects.filter(active=True, days_after_due__gte=0))
    for invoice in invoices:
        if invoice.customer_id != customer.pk:
            problems.append(f"{invoice} is another customer's document.")
            continue
        if invoice.pk not in chased:
            problems.append(
                f"{invoice} is not open and undisputed (paid, credited, disputed, written off or already passed on)."
            )
            continue
        if chased[invoice.pk].due_on >= today:
            problems.append(f"{invoice} is not overdue.")
        sent = set(
            ReminderSent.objects.filter(invoice=invoice, skipped=False).values_list("step__days_after_due", flat=True)
        )
        if final_steps and max(s.days_after_due for s in final_steps) not in sent:
            problems.append(f"{invoice}: the final reminder has not been sent.")
        letters = list(Letter.objects.filter(invoices=invoice).order_by("-dated"))
        if not letters:
            problems.append(
                f"{invoice}: no {'Letter of Claim' if _protocol(customer) else 'letter before action'} has been sent."
            )
            continue
        wait = handoff_wait(letters[0])
        if wait.until is None:
            problems.append(f"{invoice}: not yet, {wait.reason}.")
        elif today < wait.until:
            problems.append(f"{invoice}: not before {wait.until:%-d %B %Y} ({wait.reason}).")
    return problems


def _protocol(customer) -> bool:
    return customer.legal_form in PROTOCOL_FORMS


def hand_off(customer, *, invoices, agency: CollectionAgency, actor, today: dt.date | None = None) -> Handoff:
    today = today or timezone.localdate()
    invoices = list(invoices)
    with transaction.atomic():
        lock_customer(customer)
        problems = check_handoff(customer, invoices, today=today)
        if problems:
            raise ValidationError(problems)
        if not agency.active:
            raise ValidationError(f"{agency} is no longer one of our agencies.")
        documents = list(collectable(Invoice.objects.filter(pk__in=[inv.pk for inv in invoices])).order_by("due_on"))
        amount = sum((doc.balance for doc in documents), Decimal("0.00"))
        content = build_pack(customer, documents, agency=agency, today=today)
        digest = artefact_hash(content)
        name, _ = store_file("billing/handoffs", f"handoff-{customer.pk}-{today.isoformat()}.zip", content)
        numbers = ", ".join(doc.number for doc in documents)
        disclosure = record_disclosure(
            recipient_kind=DisclosureEntry.Recipient.DEBT_COLLECTION,
            recipient=agency.name,
            recipient_address=agency.email,
            purpose="Debt recovery",
            legal_basis=LawfulBasis.LEGITIMATE_INTERESTS.value,
            categories=[c.value for c in DISCLOSED_CATEGORIES],
            customers=[customer],
            summary=f"Handoff pack for {format_money(amount, customer.currency)} owed ({numbers}): statement of "
            "account, the documents, letters and proof of sending, billing correspondence, terms accepted, "
            "contact details.",
            artefact_sha256=digest,
            actor=actor,
        )
        hold = place_hold(customer, reason=f"Debt passed to {agency.name} for recovery ({numbers})", actor=actor)
        handoff = Handoff.objects.create(
            customer=customer,
            agency=agency,
            amount=amount,
            currency=customer.currency,
            pack=name,
            pack_sha256=digest,
            disclosure=disclosure,
            hold=hold,
            created_by=actor,
        )
        handoff.invoices.set(documents)
        audit.record(
            "collections.handed_over",
            actor=actor,
            target=handoff,
            summary=f"{format_money(amount, customer.currency)} ({numbers}) passed to {agency.name}; "
            f"pack SHA-256 {digest}",
        )
        with contextlib.suppress(NoRecipients):  # the portal shows it all the same
            send_mail(
                kind=MailKind.LEGAL,
                template="collections_handed_over",
                customer=customer,
                context={
                    "handoff": handoff,
                    "agency": agency,
                    "amount": format_money(amount, customer.currency),
                    "documents": documents,
                },
                idempotency_key=f"collections-handoff:{handoff.pk}",
                related=handoff,
            )
    return handoff


def build_pack(customer, documents, *, agency, today: dt.date) -> bytes:
    """The ZIP the agency receives (``PACK_CONTENTS``), deterministic for the same records."""
    buffer = io.BytesIO()
    stamp = (today.year, today.month, today.day, 0, 0, 0)

    def add(name: str, content: bytes | str) -> None:
        info = zipfile.ZipInfo(name, date_time=stamp)
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, content.encode() if isinstance(content, str) else content)

    letters = list(Letter.objects.filter(invoices__in=documents).distinct().order_by("dated", "pk"))
    with zipfile.ZipFile(buffer, "w") as archive:
        add("README.txt", _readme(customer, documents, agency, today))
        add("customer.json", json.dumps(_contact_details(customer), indent=2, ensure_ascii=False))
        add(
            "statement-of-account.pdf",
            render_statement_pdf(statement(customer, min(d.issued_on for d in documents), today)),
        )
        for doc in documents:
            add(f"documents/{pdf_filename(doc)}", stored_pdf_bytes(doc))
        add(
            "documents/documents.json",
            json.dumps(
                [
                    {
                        "number": d.number,
                        "kind": d.get_kind_display(),
                        "issued_on": d.issued_on.isoformat(),
                        "due_on": d.due_on.isoformat(),
                        "total": str(d.total_gross),
                        "owed": str(d.balance),
                        "currency": d.currency,
                        "pdf_sha256": d.pdf_sha256,
                    }
                    for d in documents
                ],
                indent=2,
            ),
        )
        proof = []
        for letter in letters:
            add(f"letters/{letter_filename(letter)}", letter_pdf_bytes(letter))
            proof.append(
                {
                    "letter": letter_filename(letter),
                    "kind": letter.get_kind_display(),
                    "dated": letter.dated.isoformat(),
                    "pdf_sha256": letter.pdf_sha256,
                    "emailed_at": letter.message.created_at.isoformat() if letter.message else None,
                    "emailed_to": letter.message.to_addresses if letter.message else [],
                    "email_status": letter.message.status if letter.message else None,
                    "posted_on": letter.posted_on.isoformat() if letter.posted_on else None,
                    "replies": [
                        {
                            "submitted_at": r.submitted_at.isoformat(),
                            "response": r.get_response_display(),
                            "wanted_documents": r.wants_documents,
                            "seeking_advice": r.seeking_advice,
                            "answered_on": r.answered_on.isoformat() if r.answered_on else None,
                        }
                        for r in letter.replies.all()
                    ],
                }
            )
        add("letters/proof-of-sending.json", json.dumps(proof, indent=2, ensure_ascii=False))
        for message in (
            Message.objects.filter(customer=customer, kind__in=[MailKind.BILLING, MailKind.LEGAL])
            .exclude(status__in=[Message.Status.QUARANTINED, Message.Status.REJECTED])
            .order_by("created_at", "pk")
        ):
            add(
                f"correspondence/{timezone.localtime(message.created_at):%Y-%m-%d}-{message.pk}.txt",
                _message_text(message),
            )
        terms, accepted_at = accepted_terms(customer)
        if terms is not None:
            add(
                f"terms/terms-of-service-v{terms.version}.txt",
                f"{terms} in force from {terms.effective_from:%-d %B %Y}; accepted "
                f"{timezone.localtime(accepted_at):%-d %B %Y %H:%M}.\n\n{terms.body}\n",
            )
    return buffer.getvalue()


def pack_names(content: bytes) -> list[str]:
    return sorted(zipfile.ZipFile(io.BytesIO(content)).namelist())


def _contact_details(customer) -> dict:
    """The debtor and the people who act for it on billing: names, addresses, emails, phones."""
    contacts = customer.memberships.filter(role__in=[roles.Role.OWNER, roles.Role.BILLING]).select_related("user")
    return {
        "registered_name": customer.registered_name,
        "trading_name": customer.trading_name,
        "legal_form": customer.get_legal_form_display(),
        "company_number": customer.company_number,
        "postal_address": customer.postal_address_lines(),
        "phone": customer.phone,
        "billing_contacts": [
            {
                "name": m.user.get_full_name() if hasattr(m.user, "get_full_name") else "",
                "email": m.user.email,
                "role": m.get_role_display(),
            }
            for m in contacts
        ],
    }


def _message_text(message: Message) -> str:
    direction = "From us" if message.direction == Message.Direction.OUTBOUND else "From the customer"
    return (
        f"{direction}\nDate: {timezone.localtime(message.created_at):%-d %B %Y %H:%M}\nFrom: {message.from_address}\n"
        f"To: {', '.join(message.to_addresses or [])}\nSubject: {message.subject}\n\n{message.body_text}\n"
    )


def _readme(customer, documents, agency, today) -> str:
    lines = [
        f"Debt recovery pack for {customer.registered_name}, prepared {today:%-d %B %Y} for {agency.name} "
        f"(our reference with you: {agency.reference}).",
        "",
        "Documents passed on: "
        + ", ".join(f"{d.number} ({format_money(d.balance, d.currency)} owed)" for d in documents),
        "",
        "Contents:",
        *(f"  {item}" for item in PACK_CONTENTS),
        "",
        "Personal data in this pack is disclosed for debt recovery only (UK GDPR Art 6(1)(f)). Do not pass it on "
        "further, and tell us of any payment you receive.",
    ]
    return "\n".join(lines) + "\n"


def record_event(
    handoff: Handoff, *, kind: str, on: dt.date, actor, amount=None, note: str = "", payment=None
) -> HandoffEvent:
    """A payment the agency collected, a recall or a settlement. A recall or a settlement
    ends the handoff and lifts its hold."""
    with transaction.atomic():
        handoff = Handoff.objects.select_for_update().select_related("hold").get(pk=handoff.pk)
        if handoff.status != Handoff.Status.ACTIVE:
            raise ValidationError(f"This debt is {handoff.get_status_display().lower()}: nothing more is recorded.")
        if kind == HandoffEvent.Kind.PAYMENT and (amount is None or Decimal(amount) <= 0):
            raise ValidationError("Give the amount the agency collected.")
        event = HandoffEvent.objects.create(
            handoff=handoff, kind=kind, on=on, amount=amount, note=note, payment=payment, recorded_by=actor
        )
        audit.record(
            f"collections.handoff_{kind}",
            actor=actor,
            target=handoff,
            summary=f"{event.get_kind_display()} on {on:%-d %B %Y}"
            + (f": {amount}" if amount else "")
            + (f" ({note})" if note else ""),
        )
        if kind in (HandoffEvent.Kind.RECALL, HandoffEvent.Kind.SETTLEMENT):
            handoff.status = Handoff.Status.RECALLED if kind == HandoffEvent.Kind.RECALL else Handoff.Status.SETTLED
            stamp = timezone.now()
            handoff.recalled_at = stamp if kind == HandoffEvent.Kind.RECALL else handoff.recalled_at
            handoff.settled_at = stamp if kind == HandoffEvent.Kind.SETTLEMENT else handoff.settled_at
            handoff.save(update_fields=["status", "recalled_at", "settled_at"])
            if handoff.hold.lifted_at is None:
                lift_hold(handoff.hold, actor=actor)
    return event


def written_off_amounts(invoice_ids: list[int], as_at: dt.date) -> dict[int, Decimal]:
    """What was written off on these invoices by ``as_at``: the aged debtors leave it out
    (registered with ``billing.accounting.reports`` by ``BillingConfig.ready``)."""
    return dict(
        WriteOff.objects.filter(invoice_id__in=invoice_ids, written_off_on__lte=as_at).values_list(
            "invoice_id", "amount"
        )
    )


def write_off(invoice: Invoice, *, reason: str, actor, on: dt.date | None = None) -> WriteOff:
    """Write off what is still owed on ``invoice``; the debt stays on the account (VAT
    bad-debt relief needs the invoice kept and the debt written off in the accounts)."""
    reason = reason.strip()
    if not reason:
        raise ValidationError("Say why the debt is written off.")
    with transaction.atomic():
        lock_customer(invoice.customer)
        found = Invoice.objects.open().with_balance().filter(pk=invoice.pk).first()
        if found is None or found.balance <= 0:
            raise ValidationError(f"{invoice}: nothing is owed on it to write off.")
        if WriteOff.objects.filter(invoice=invoice).exists():
            raise ValidationError(f"{invoice} is already written off.")
        written = WriteOff.objects.create(
            invoice=invoice,
            amount=found.balance.quantize(Decimal("0.01")),
            reason=reason,
            written_off_on=on or timezone.localdate(),
            written_off_by=actor,
        )
        audit.record(
            "invoice.written_off",
            actor=actor,
            target=invoice,
            customer=invoice.customer,
            changes={"written_off": [None, str(written.amount)]},
            summary=f"{invoice.number}: {written.amount} {invoice.currency} written off: {reason}",
        )
    return written
