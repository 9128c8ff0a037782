"""Letters before recovery (docs/collections.md).

- An **individual or sole trader** is sent a Letter of Claim under the Pre-Action Protocol
  for Debt Claims: dated; the amount; whether interest or charges continue; the agreement
  (the terms version they accepted, and when); how to pay and how to discuss options;
  where to send the Reply Form; with the Information Sheet, the Reply Form, the Financial
  Statement and an up-to-date statement of account enclosed. It is emailed (kind legal)
  and must be posted by staff, who record the posting day. The debt may not be passed on
  until 30 days after the letter was sent (the later of its email and its posting), and,
  when the reply asks for documents, says the debtor is getting debt advice or needs more
  time, until 30 days after the later of that reply and our answer to it (and past the
  day they asked for, up to 90 days ahead).
- A **business** is sent a letter before action under the Practice Direction on
  Pre-Action Conduct, with 14 days to reply.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from accounts import audit, roles
from accounts.correspondence.gateway import Attachment, NoRecipients, send_mail, store_file
from accounts.correspondence.models import MailKind
from accounts.models import LegalForm, ProviderDetails
from billing.collections.charges import accrued, why_not_chargeable
from billing.collections.interest import interest
from billing.collections.models import INCOME_FIELDS, SPENDING_FIELDS, Letter, LetterReply
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


MORE_TIME_MAX_DAYS = 90


def reply_problems(letter: Letter, answers: dict, *, today: dt.date) -> dict[str, str]:
    """What is missing or wrong in a Reply Form, by field, in the customer's words."""
    problems: dict[str, str] = {}
    get = answers.get
    response = get("response")
    if response not in LetterReply.Response.values:
        problems["response"] = "Say whether you owe the debt, part of it, none of it, or do not know."
    if response == LetterReply.Response.OWE_PART:
        accepted = get("amount_accepted")
        if accepted is None or accepted <= 0:
            problems["amount_accepted"] = "You said you owe part of the debt: say how much you accept you owe."
        elif accepted >= letter.amount:
            problems["amount_accepted"] = (
                f"That is all of the {letter.amount} {letter.currency} we say is owed: "
                "choose \u201cI agree I owe the debt\u201d instead."
            )
    if response == LetterReply.Response.DISPUTE and not (get("dispute_reason") or "").strip():
        problems["dispute_reason"] = "You said you do not owe the debt: say why."
    if response == LetterReply.Response.DONT_KNOW and not get("wants_documents"):
        problems["wants_documents"] = (
            "You said you do not know whether you owe the debt: say which documents or information you need."
        )
    payment = get("payment") or ""
    if payment == LetterReply.Payment.ALREADY_PAID:
        if not get("paid_on"):
            problems["paid_on"] = "You said you have already paid: say on what day."
        elif get("paid_on") > today:
            problems["paid_on"] = "The day you paid cannot be in the future."
        if not (get("paid_how") or "").strip():
            problems["paid_how"] = "You said you have already paid: say how (for example bank transfer or card)."
    elif payment == LetterReply.Payment.IN_FULL:
        if not get("pay_in_full_by"):
            problems["pay_in_full_by"] = "You said you will pay in full: say by what day."
        elif get("pay_in_full_by") < today:
            problems["pay_in_full_by"] = "The day you will pay by cannot be in the past."
    elif payment == LetterReply.Payment.INSTALMENTS:
        if not get("instalment_amount"):
            problems["instalment_amount"] = "You want to pay by instalments: say how much you offer each time."
        if not get("instalment_frequency"):
            problems["instalment_frequency"] = "Say whether the instalments are each week or each month."
        if not get("instalments_from"):
            problems["instalments_from"] = "Say on what day the instalments would start."
        elif get("instalments_from") < today:
            problems["instalments_from"] = "The first instalment cannot be in the past."
    if get("seeking_advice") and not (get("advice_from") or "").strip():
        problems["advice_from"] = "You said you are getting debt advice: say from whom."
    if get("needs_more_time"):
        until = get("more_time_until")
        if not until:
            problems["more_time_until"] = "You said you need more time: say until what day."
        elif until <= today:
            problems["more_time_until"] = "The day you need until must be after today."
        elif until > today + dt.timedelta(days=MORE_TIME_MAX_DAYS):
            problems["more_time_until"] = (
                f"Ask for up to {MORE_TIME_MAX_DAYS} days from today; if you need longer, tell us why under "
                "\u201cAnything else\u201d and we will consider it."
            )
        if not (get("more_time_why") or "").strip():
            problems["more_time_why"] = "You said you need more time: say why."
    named = any(get(f) for f in ("documents_agreement", "documents_statement", "documents_invoices"))
    if get("wants_documents") and not named and not (get("documents_wanted") or "").strip():
        problems["documents_wanted"] = "Say which documents you need: tick them, or name them here."
    return problems


def _totals(answers: dict) -> dict:
    """The Financial Statement's totals, from its headings when any is filled in."""
    for total, headings in (("monthly_income", INCOME_FIELDS), ("monthly_outgoings", SPENDING_FIELDS)):
        amounts = [answers[f] for f in headings if answers.get(f) is not None]
        if amounts:
            answers[total] = sum(amounts, Decimal("0"))
    return answers


def submit_reply(letter: Letter, *, membership, submission_key: str = "", **answers) -> LetterReply:
    """The Reply Form, completed in the portal by a billing contact or owner. Refused, with
    every problem named by field, unless each answer has what it needs.

    ``submission_key`` is the form's one-time key: the same form sent again (a double
    click, a browser resending) returns the reply it made, and nothing is recorded or sent
    twice."""
    if (
        membership is None
        or not membership.can(roles.Action.VIEW_BILLING)
        or letter.customer_id != membership.customer_id
    ):
        raise ValidationError("Only the customer's billing contacts and owners can reply to this letter.")
    if letter.kind != Letter.Kind.LETTER_OF_CLAIM:
        raise ValidationError("This letter has no Reply Form: reply by email.")
    if submission_key and (sent := LetterReply.objects.filter(letter=letter, submission_key=submission_key).first()):
        return sent
    problems = reply_problems(letter, answers, today=timezone.localdate())
    if problems:
        raise ValidationError(problems)
    try:
        return _record_reply(letter, membership, submission_key, answers)
    except IntegrityError:  # the same form, sent twice at once: the other request recorded it
        return LetterReply.objects.get(letter=letter, submission_key=submission_key)


def _record_reply(letter: Letter, membership, submission_key: str, answers: dict) -> LetterReply:
    with transaction.atomic():
        reply = LetterReply.objects.create(
            letter=letter, submitted_by=membership.user, submission_key=submission_key, **_totals(answers)
        )
        audit.record(
            "collections.letter_replied",
            actor=membership.user,
            target=letter,
            summary=f"Reply Form: {reply.get_response_display()}"
            + (f"; {reply.get_payment_display().lower()}" if reply.payment else "")
            + ("; documents asked for" if reply.wants_documents else "")
            + ("; seeking advice" if reply.seeking_advice else "")
            + (f"; more time until {reply.more_time_until:%-d %B %Y}" if reply.needs_more_time else ""),
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
        if not reply.holds_handoff:
            continue
        if reply.answered_on is None and reply.wants_documents:
            return Wait(None, "the customer asked for documents, which have not been recorded as sent")
        replied = timezone.localdate(reply.submitted_at)
        later = max(replied, reply.answered_on or replied)
        why = (
            "asking for documents"
            if reply.wants_documents
            else "seeking advice"
            if reply.seeking_advice
            else "asking for more time"
        )
        if later + dt.timedelta(days=PROTOCOL_DAYS) > until:
            until = later + dt.timedelta(days=PROTOCOL_DAYS)
            reason = f"{PROTOCOL_DAYS} days after the later of the customer's reply ({why}) and our answer"
        if reply.needs_more_time and reply.more_time_until and reply.more_time_until >= until:
            until = reply.more_time_until + dt.timedelta(days=1)
            reason = f"the customer asked for more time, until {reply.more_time_until:%-d %B %Y}"
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
