"""Letters before recovery (docs/collections.md).

- An **individual or sole trader** is sent a Letter of Claim under the Pre-Action Protocol
  for Debt Claims: dated; the amount; whether interest or charges continue; the agreement
  (the terms version they accepted, and when); how to pay and how to discuss options;
  where to send the Reply Form; with the Information Sheet, the Reply Form, the Financial
  Statement and an up-to-date statement of account enclosed. It is emailed (kind legal)
  and must be posted by staff, who record the posting day. The debt may not be passed on
  until 30 days after the letter was sent (the later of its email and its posting), and,
  when the reply asks for documents or says the debtor is seeking advice, until 30 days
  after the later of that reply and our answer to it.
- A **business** is sent a letter before action under the Practice Direction on
  Pre-Action Conduct, with 14 days to reply.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from accounts import audit, roles
from accounts.correspondence.gateway import Attachment, NoRecipients, send_mail, store_file
from accounts.correspondence.models import MailKind
from accounts.models import LegalForm, ProviderDetails
from billing.collections.charges import accrued, why_not_chargeable
from billing.collections.interest import interest
from billing.collections.models import Letter, LetterReply
from billing.collections.state import collectable
from billing.delivery.pdf import render_html_pdf, statement_context
from billing.documents.locking import lock_customer
from billing.models import Invoice
from billing.money import format_money
from billing.receivables.statements import statement
from core.files import read_verified
from privacy.models import PolicyAcknowledgement, PolicyVersion

PROTOCOL_DAYS = 30
BEFORE_ACTION_DAYS = 14
PROTOCOL_FORMS = {LegalForm.INDIVIDUAL, LegalForm.SOLE_TRADER}


def letter_kind(customer) -> str:
    return Letter.Kind.LETTER_OF_CLAIM if customer.legal_form in PROTOCOL_FORMS else Letter.Kind.BEFORE_ACTION


def accepted_terms(customer) -> tuple[PolicyVersion | None, dt.datetime | dt.date | None]:
    """The terms version the customer accepted and when: the latest acknowledged by one of
    its contacts, else the version in force when the account was opened."""
    ack = (
        PolicyAcknowledgement.objects.filter(
            version__document=PolicyVersion.Document.TERMS,
            person__memberships__customer=customer,
        )
        .select_related("version")
        .order_by("-version__version", "acknowledged_at")
        .first()
    )
    if ack:
        return ack.version, ack.acknowledged_at
    opened = timezone.localdate(customer.created_at)
    version = (
        PolicyVersion.objects.filter(document=PolicyVersion.Document.TERMS, effective_from__lte=opened)
        .order_by("-effective_from", "-version")
        .first()
    )
    return version, (customer.created_at if version else None)


def send_letter(customer, *, invoices, actor, today: dt.date | None = None) -> Letter:
    """Write, store and email the letter for ``invoices`` (overdue, undisputed)."""
    today = today or timezone.localdate()
    invoices = list(invoices)
    if not invoices:
        raise ValidationError("Choose the overdue documents the letter is about.")
    with transaction.atomic():
        lock_customer(customer)
        chased = {inv.pk: inv for inv in collectable(Invoice.objects.filter(customer=customer))}
        problems = []
        for invoice in invoices:
            if invoice.customer_id != customer.pk:
                problems.append(f"{invoice} is another customer's")
            elif invoice.pk not in chased:
                problems.append(f"{invoice} is not open and undisputed")
            elif chased[invoice.pk].due_on >= today:
                problems.append(f"{invoice} is not overdue")
        if problems:
            raise ValidationError(f"No letter was written: {'; '.join(problems)}.")
        documents = [chased[inv.pk] for inv in invoices]
        amount = sum((doc.balance for doc in documents), Decimal("0.00"))
        letter = Letter.objects.create(
            customer=customer,
            kind=letter_kind(customer),
            dated=today,
            amount=amount,
            currency=customer.currency,
            created_by=actor,
        )
        letter.invoices.set(documents)
        content = render_letter_pdf(letter, documents=documents)
        letter.pdf, letter.pdf_sha256 = store_file("billing/letters", letter_filename(letter), content)
        try:
            letter.message = send_mail(
                kind=MailKind.LEGAL,
                template="collections_letter",
                customer=customer,
                context={"letter": letter, "amount": format_money(amount, letter.currency)},
                attachments=[
                    Attachment(
                        letter_filename(letter), content, "application/pdf", stored=(letter.pdf, letter.pdf_sha256)
                    )
                ],
                idempotency_key=f"collections-letter:{letter.pk}",
                related=letter,
            )
        except NoRecipients:
            letter.message = None  # the posted copy is the one that counts
        letter.save(update_fields=["pdf", "pdf_sha256", "message"])
        audit.record(
            "collections.letter_sent",
            actor=actor,
            target=letter,
            summary=f"{letter.get_kind_display()} for {format_money(amount, letter.currency)} "
            f"({', '.join(doc.number for doc in documents)})",
        )
    return letter


def letter_filename(letter: Letter) -> str:
    name = "letter-of-claim" if letter.kind == Letter.Kind.LETTER_OF_CLAIM else "letter-before-action"
    return f"{name}-{letter.dated.isoformat()}-{letter.pk}.pdf"


def letter_pdf_bytes(letter: Letter) -> bytes:
    return read_verified(letter.pdf, letter.pdf_sha256)


def record_posting(letter: Letter, *, posted_on: dt.date, actor) -> Letter:
    if posted_on < letter.dated:
        raise ValidationError("A letter cannot be posted before its date.")
    if posted_on > timezone.localdate():
        raise ValidationError("Record the posting once it is done, not in advance.")
    if letter.posted_on is not None:
        raise ValidationError(f"This letter was recorded as posted on {letter.posted_on:%-d %B %Y}.")
    with transaction.atomic():
        Letter.objects.filter(pk=letter.pk).update(posted_on=posted_on, posted_by=actor)
        audit.record(
            "collections.letter_posted", actor=actor, target=letter, summary=f"Posted on {posted_on:%-d %B %Y}"
        )
    letter.posted_on, letter.posted_by = posted_on, actor
    return letter


def submit_reply(letter: Letter, *, membership, **answers) -> LetterReply:
    """The Reply Form, completed in the portal by a billing contact or owner."""
    if (
        membership is None
        or not membership.can(roles.Action.VIEW_BILLING)
        or letter.customer_id != membership.customer_id
    ):
        raise ValidationError("Only the customer's billing contacts and owners can reply to this letter.")
    if letter.kind != Letter.Kind.LETTER_OF_CLAIM:
        raise ValidationError("This letter has no Reply Form: reply by email.")
    if answers.get("response") not in LetterReply.Response.values:
        raise ValidationError("Say whether you agree you owe the debt, part of it, or none of it.")
    if answers.get("wants_documents") and not (answers.get("documents_wanted") or "").strip():
        raise ValidationError("Say which documents you would like.")
    reply = LetterReply.objects.create(letter=letter, submitted_by=membership.user, **answers)
    audit.record(
        "collections.letter_replied",
        actor=membership.user,
        target=letter,
        summary=f"Reply Form: {reply.get_response_display()}"
        + ("; documents asked for" if reply.wants_documents else "")
        + ("; seeking advice" if reply.seeking_advice else ""),
    )
    with contextlib.suppress(NoRecipients):  # the portal shows it all the same
        send_mail(
            kind=MailKind.LEGAL,
            template="collections_reply_received",
            customer=letter.customer,
            context={"letter": letter, "reply": reply},
            idempotency_key=f"collections-reply:{reply.pk}",
            related=letter,
        )
    return reply


def record_answer(reply: LetterReply, *, answered_on: dt.date, actor) -> LetterReply:
    """Staff sent the documents asked for (or answered the reply) on ``answered_on``."""
    if answered_on < timezone.localdate(reply.submitted_at):
        raise ValidationError("The answer cannot be before the reply.")
    with transaction.atomic():
        LetterReply.objects.filter(pk=reply.pk).update(answered_on=answered_on, answered_by=actor)
        audit.record(
            "collections.letter_reply_answered",
            actor=actor,
            target=reply.letter,
            summary=f"Documents sent or reply answered on {answered_on:%-d %B %Y}",
        )
    reply.answered_on, reply.answered_by = answered_on, actor
    return reply


@dataclass(frozen=True)
class Wait:
    until: dt.date | None  # the first day the debt may be passed on; None: not yet known
    reason: str


def handoff_wait(letter: Letter) -> Wait:
    """When the debt in ``letter`` may first be passed on, and why."""
    if letter.kind == Letter.Kind.BEFORE_ACTION:
        sent = letter.dated
        return Wait(
            sent + dt.timedelta(days=BEFORE_ACTION_DAYS), f"{BEFORE_ACTION_DAYS} days after the letter before action"
        )
    if letter.posted_on is None:
        return Wait(None, "the Letter of Claim has not been recorded as posted")
    sent = max(letter.dated, letter.posted_on)
    until = sent + dt.timedelta(days=PROTOCOL_DAYS)
    reason = f"{PROTOCOL_DAYS} days after the Letter of Claim was sent"
    for reply in letter.replies.all():
        if reply.wants_documents or reply.seeking_advice:
            if reply.answered_on is None and reply.wants_documents:
                return Wait(None, "the customer asked for documents, which have not been recorded as sent")
            later = max(
                timezone.localdate(reply.submitted_at), reply.answered_on or timezone.localdate(reply.submitted_at)
            )
            if later + dt.timedelta(days=PROTOCOL_DAYS) > until:
                until = later + dt.timedelta(days=PROTOCOL_DAYS)
                reason = (
                    f"{PROTOCOL_DAYS} days after the later of the customer's reply "
                    f"({'asking for documents' if reply.wants_documents else 'seeking advice'}) and our answer"
                )
    return Wait(until, reason)


def letter_context(letter: Letter, *, documents) -> dict:
    """Everything the letter's PDF shows."""
    customer = letter.customer
    provider = ProviderDetails.current()
    if provider is None:
        raise ValidationError("Provider details are not configured: the sender's details go on every letter.")
    start = min(doc.issued_on for doc in documents)
    stmt = statement(customer, start, letter.dated)
    context = statement_context(stmt)
    money = lambda amount: format_money(amount, letter.currency)  # noqa: E731
    rows, continuing = [], []
    for doc in documents:
        found = accrued(doc, today=letter.dated)
        rows.append(
            {
                "number": doc.number,
                "issued_on": doc.issued_on,
                "due_on": doc.due_on,
                "balance": money(doc.balance),
                "kind": doc.get_kind_display(),
            }
        )
        if not why_not_chargeable(doc) and found.interest is not None:
            daily = interest(
                owed=doc.balance,
                due_on=doc.due_on,
                until=doc.due_on + dt.timedelta(days=1),
                reference_rate=found.interest.reference_rate,
                currency=doc.currency,
            ).amount
            continuing.append(
                {
                    "number": doc.number,
                    "rate": found.interest.annual_rate,
                    "daily": money(daily),
                    "accrued": money(found.interest.amount),
                    "compensation": found.compensation_text() if found.compensation else "",
                }
            )
    terms, accepted_at = accepted_terms(customer)
    reply_by = letter.dated + dt.timedelta(days=letter.reply_days)
    context.update(
        {
            "title": "Letter of Claim" if letter.kind == Letter.Kind.LETTER_OF_CLAIM else "Letter before action",
            "letter": letter,
            "is_protocol": letter.kind == Letter.Kind.LETTER_OF_CLAIM,
            "amount": money(letter.amount),
            "documents": rows,
            "continuing": continuing,
            "terms": terms,
            "terms_accepted_at": accepted_at,
            "reply_by": reply_by,
            "provider": provider,
            "customer": customer,
            "portal_path": "/billing/letters/",
        }
    )
    return context


def render_letter_pdf(letter: Letter, *, documents) -> bytes:
    return render_html_pdf(render_to_string("billing/letter_pdf.html", letter_context(letter, documents=documents)))
