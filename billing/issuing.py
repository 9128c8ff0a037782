"""Issuing: a draft becomes a numbered, immutable VAT invoice, credit note or payment
request. Knows nothing of payments: what a credit note does to money already paid is the
workflows' business (``billing.workflows.settlement``).

Views, admin actions, tasks and the billing run issue documents only through these
functions. Rules implemented here:
- Numbers come from ``billing.documents.numbering.next_number`` inside the issuing
  transaction: series ``INV`` (VAT invoices), ``CN`` (credit notes), ``PR`` (pro-forma
  payment requests). A failed issue rolls back and gives its number back (reg 14(1)(b)).
- Tax point: the date of issue for VAT invoices and credit notes (continuous supply,
  VAT reg 90: the earlier of payment or the VAT invoice), unless an earlier one is given
  (the VAT invoice for a payment received earlier: ``billing.workflows.proforma``). A
  pro-forma marked "This is not a VAT invoice" creates no tax point (HMRC VATTOS9165), so
  its ``tax_point`` stays None.
- VAT rates: each line has a VAT category; on issue ``billing.vat.decide_vat`` gives the
  rate for every category on the document in force at the tax point (the dated table
  ``billing.models.VatRate``; the request date for a
  pro-forma), so a draft's rates are provisional. Credit notes keep the original's rates.
- Credit notes carry **positive** amounts; ``kind=credit_note`` says they are subtracted
  in balances and statements. They keep the original's VAT rates, rule, wording and
  exchange rate (reg 15: the VAT credited is the VAT originally charged).
- When a document is issued, ``document_issued`` is sent; billing's tasks answer it by
  queuing the PDF and email, sent after the transaction commits (``billing.tasks``), so
  issuing does not depend on delivery.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from accounts import audit
from accounts.audit import Actor
from accounts.models import ProviderDetails
from billing.documents.locking import lock_customer
from billing.documents.numbering import next_number
from billing.documents.snapshots import BuyerSnapshot, SellerSnapshot
from billing.documents.totals import InvoiceError, build_line, compute_totals, credited_to
from billing.documents.window import address_problem
from billing.models import SERIES, BillingSettings, Invoice, InvoiceLine, VatRate
from billing.vat import NOT_A_SUPPLY, NOT_A_SUPPLY_WORDING, decide_vat

# Sent in the transaction that issued documents, with ``invoice_pks``: the one document
# issued, or all those a batch (a billing run's group) issued together.
document_issued = Signal()


def _require_draft(invoice: Invoice) -> None:
    if invoice.status != Invoice.Status.DRAFT:
        raise InvoiceError(f"{invoice} is issued: it cannot be changed (issue a credit note instead).")


def add_line(invoice: Invoice, **fields) -> InvoiceLine:
    """Add a line to a draft (the arguments of ``build_line``)."""
    _require_draft(invoice)
    line = build_line(invoice, **fields)
    line.save()
    return line


def announce_issued(*pks: int) -> None:
    """Send ``document_issued`` for the documents ``pks``, in the issuing transaction.

    Its receiver queues the PDF and email, which are sent after the transaction commits
    and never raise into it (``core.background.TransactionAwareTask``): the document is
    issued whatever happens to them, and one failing (a broker that is down; in-process,
    the render itself) stops no other document committed with it (a billing run's group).
    The failure is logged; with a broker, the sweep of unsent documents sends it again,
    and staff can email it from the admin.
    """
    if pks:
        document_issued.send(sender=Invoice, invoice_pks=list(pks))


# What issuing sets on a document: written by one conditional UPDATE (see _issue_locked).
ISSUE_FIELDS = (
    "status",
    "number",
    "issued_on",
    "tax_point",
    "due_on",
    "seller",
    "buyer",
    "vat_rule",
    "vat_wording",
    "total_net",
    "total_vat",
    "total_gross",
    "gbp_rate",
    "gbp_rate_source",
    "gbp_rate_date",
    "total_net_gbp",
    "total_vat_gbp",
)


def issue_invoice(
    invoice: Invoice, *, actor: Actor, issued_on: dt.date | None = None, tax_point: dt.date | None = None
) -> Invoice:
    """Number, freeze and issue a draft invoice, credit note or pro-forma request.

    ``tax_point`` (VAT invoices only) may be earlier than the date of issue: a payment
    received before the invoice fixed it (reg 90). All or nothing: on any error the
    transaction rolls back, the draft is unchanged and the number goes back to its series.
    ``invoice`` is updated in place on success.
    """
    with transaction.atomic():
        lock_customer(invoice.customer)
        # The lock makes two concurrent issues of one draft queue; the second sees "issued".
        draft = (
            Invoice.objects.select_for_update(of=("self",)).select_related("customer", "corrects").get(pk=invoice.pk)
        )
        _require_draft(draft)
        issue_locked(
            draft,
            lines=list(draft.lines.all()),
            provider=ProviderDetails.current(),
            policy=BillingSettings.current(),
            issued_on=issued_on or timezone.localdate(),
            tax_point=tax_point,
            actor=actor,
        )

    for field in draft._meta.concrete_fields:
        setattr(invoice, field.attname, getattr(draft, field.attname))
    return invoice


def issue_locked(
    draft: Invoice,
    *,
    lines: list[InvoiceLine],
    provider: ProviderDetails | None,
    policy: BillingSettings,
    issued_on: dt.date,
    tax_point: dt.date | None = None,
    actor: Actor,
    rates=None,
    recorded_by_caller: bool = False,
) -> None:
    """Issue ``draft``, whose customer row the caller has locked in the current transaction
    and whose ``lines`` are all its lines as stored: ``issue_invoice`` after its look-ups,
    and the billing run for the draft it has just created. ``actor`` issues it; a batch
    that records all its documents' events in one statement and announces them together
    (``record_issued``) says ``recorded_by_caller=True``."""
    if not lines:
        raise InvoiceError(f"{draft} has no lines: nothing to issue.")
    if provider is None:
        raise InvoiceError("Provider details are not configured: the seller's details go on every invoice.")
    # A document that asks to be paid says how; a credit note asks for nothing, nor does the
    # VAT invoice for a payment request already paid.
    if (
        draft.kind != Invoice.Kind.CREDIT_NOTE
        and draft.settles_id is None
        and (missing := policy.missing_payment_method())
    ):
        raise InvoiceError(missing)

    if tax_point is not None and draft.kind != Invoice.Kind.INVOICE:
        raise InvoiceError("Only a VAT invoice can have a tax point other than its date of issue.")
    if tax_point is not None and tax_point > issued_on:
        raise InvoiceError(
            f"The tax point ({tax_point:%-d %B %Y}) cannot be after the date of issue ({issued_on:%-d %B %Y}): "
            "issuing the VAT invoice is itself a tax point."
        )
    # A pro-forma creates no tax point (HMRC VATTOS9165).
    tax_point = None if draft.kind == Invoice.Kind.PRO_FORMA else (tax_point or issued_on)

    if draft.kind == Invoice.Kind.CREDIT_NOTE:
        _prepare_credit_note(draft, lines)
    elif draft.kind == Invoice.Kind.LATE_PAYMENT_CLAIM:
        # Statutory interest and compensation are not consideration for a supply: no VAT.
        tax_point = None
        for line in lines:
            line.vat_rate = Decimal("0")
        InvoiceLine.objects.filter(pk__in=[line.pk for line in lines]).update(vat_rate=Decimal("0"))
        draft.vat_rule, draft.vat_wording = NOT_A_SUPPLY, NOT_A_SUPPLY_WORDING
    else:
        save_line_rates(decide_line_rates(draft, lines, on=tax_point or issued_on, rates=rates))

    compute_totals(draft, lines)
    if draft.kind == Invoice.Kind.CREDIT_NOTE:
        if any(line.net <= 0 for line in lines):
            raise InvoiceError(
                "A credit note's lines are positive amounts (the document being a credit note is what "
                "takes them off): remove the lines of zero or less."
            )
        remaining = draft.corrects.total_gross - credited_to(draft.corrects)
        if draft.total_gross > remaining:
            raise InvoiceError(
                f"This credit note is for {draft.total_gross} {draft.currency}, more than the {remaining} "
                f"{draft.currency} of {draft.corrects} not yet credited."
            )
    elif draft.total_gross < 0:
        raise InvoiceError(
            f"{draft} totals {draft.total_gross} {draft.currency}: an invoice cannot be less than zero; "
            "issue a credit note against the invoice it corrects instead."
        )

    if draft.currency != "GBP":
        # Where UK VAT is due, the totals in sterling too (compute_totals set them from the rate).
        missing = [
            name
            for name, value in (
                ("gbp_rate", draft.gbp_rate),
                ("gbp_rate_source", draft.gbp_rate_source),
                ("gbp_rate_date", draft.gbp_rate_date),
            )
            if not value
        ]
        if draft.vat_rule == "uk_rate" and missing:
            raise InvoiceError(
                f"UK VAT is due on this {draft.currency} invoice, so its totals must also be shown in "
                f"sterling: set {', '.join(missing)} (the UK market rate at the time of supply or "
                f"HMRC's period rate; the billing run takes it from Billing → Exchange rates for "
                f"{draft.currency}) before issuing."
            )

    buyer = BuyerSnapshot.of(draft.customer)
    if problem := address_problem(buyer.addressee_lines()):
        raise InvoiceError(f"{draft.customer}'s address would not show whole through a window envelope: {problem}.")

    draft.number = next_number(SERIES[draft.kind], issued_on=issued_on)
    draft.issued_on = issued_on
    draft.tax_point = tax_point
    if draft.kind != Invoice.Kind.CREDIT_NOTE:
        draft.due_on = issued_on + dt.timedelta(days=policy.payment_terms_days)
    draft.seller = SellerSnapshot.of(provider, policy).as_json()
    draft.buyer = buyer.as_json()
    draft.status = Invoice.Status.ISSUED
    # One UPDATE, and only of a draft: what Invoice.save() would check with a query first.
    issued = Invoice.objects.filter(pk=draft.pk, status=Invoice.Status.DRAFT).update(
        **{name: getattr(draft, name) for name in ISSUE_FIELDS}
    )
    if not issued:
        raise InvoiceError(f"{draft} was issued or deleted meanwhile: it cannot be issued again.")
    if not recorded_by_caller:
        audit.record(
            "document.issued", actor=actor, target=draft, customer=draft.customer, summary=issued_summary(draft)
        )
        announce_issued(draft.pk)


def issued_summary(document: Invoice) -> str:
    return (
        f"Issued {document.get_kind_display().lower()} {document.number} for {document.total_gross} {document.currency}"
    )


def record_issued(documents: list[Invoice], *, actor: Actor) -> None:
    """The audit events of documents a batch issued with ``issue_locked(recorded_by_caller=True)``,
    and their announcement together: their PDFs and emails are then made as a batch."""
    audit.record_many("document.issued", actor=actor, targets=documents, summary=issued_summary)
    announce_issued(*(document.pk for document in documents))


def _prepare_credit_note(draft: Invoice, lines: list[InvoiceLine]) -> None:
    """Check a draft credit note against the invoice it corrects and give it that invoice's
    VAT treatment (reg 15: the VAT credited is the VAT originally charged): its rule,
    wording and exchange rate, and for each line the rate the original charged for the
    line's VAT category."""
    original = draft.corrects
    if original is None:
        raise InvoiceError("A credit note must refer to the invoice it corrects.")
    if original.kind not in Invoice.DEBIT_KINDS or original.status in (Invoice.Status.DRAFT, Invoice.Status.CANCELLED):
        raise InvoiceError(
            f"{original} cannot be credited: only issued, uncancelled VAT invoices and late-payment claims can."
        )
    if original.customer_id != draft.customer_id:
        raise InvoiceError(f"{original} is another customer's invoice.")
    if original.currency != draft.currency:
        raise InvoiceError(f"{original} is in {original.currency}: its credit note must be too.")
    if not draft.reason.strip():
        raise InvoiceError("Give the reason for the credit note: it is printed on it.")
    charged: dict[str, set[Decimal]] = {}
    for category, rate in original.lines.values_list("vat_category", "vat_rate"):
        charged.setdefault(category, set()).add(rate)
    for line in lines:
        rates = charged.get(line.vat_category)
        if not rates:
            raise InvoiceError(
                f"{original} charged nothing in the {line.vat_category} VAT category: there is nothing to credit."
            )
        if len(rates) == 1:
            (rate,) = rates
            if line.vat_rate != rate:
                line.vat_rate = rate
                InvoiceLine.objects.filter(pk=line.pk).update(vat_rate=rate)
        elif line.vat_rate not in rates:
            # Lines copied from the original carry their own rate; a new line must say which.
            shown = ", ".join(f"{r.normalize():f}%" for r in sorted(rates))
            raise InvoiceError(
                f"{original} charged {line.vat_category}-category supplies at more than one rate ({shown}): "
                f"give “{line.description}” the rate it was charged."
            )
    draft.vat_rule, draft.vat_wording = original.vat_rule, original.vat_wording
    draft.gbp_rate, draft.gbp_rate_source, draft.gbp_rate_date = (
        original.gbp_rate,
        original.gbp_rate_source,
        original.gbp_rate_date,
    )


def decide_line_rates(draft: Invoice, lines: list[InvoiceLine], *, on: dt.date, rates=None) -> list[InvoiceLine]:
    """Record the VAT rule on ``draft`` and set each line's rate from its category, as on ``on``
    (the tax point; a pro-forma has none, so its request date). In memory: returns the saved
    lines whose rate changed, for ``save_line_rates``. ``rates`` is the VAT-rate look-up
    (``VatRate.rate_on`` unless the caller read the table once: ``VatRate.table()``)."""
    decisions = {}
    changed = []
    for line in lines:
        if line.vat_category not in decisions:
            decisions[line.vat_category] = decide_vat(
                draft.customer, tax_point=on, category=line.vat_category, rates=rates or VatRate.rate_on
            )
        rate = decisions[line.vat_category].rate
        if line.vat_rate is None or line.vat_rate != rate:
            line.vat_rate = rate
            if line.pk is not None:
                changed.append(line)
    # The rule depends on the customer only, so every category's decision carries the same.
    decision = next(iter(decisions.values()))
    draft.vat_rule = decision.rule
    draft.vat_wording = decision.wording
    return changed


def save_line_rates(lines: list[InvoiceLine]) -> None:
    by_rate: dict[Decimal, list[int]] = {}
    for line in lines:
        by_rate.setdefault(line.vat_rate, []).append(line.pk)
    for rate, pks in by_rate.items():
        InvoiceLine.objects.filter(pk__in=pks).update(vat_rate=rate)


def issue_credit_note(
    invoice: Invoice,
    *,
    lines: Iterable[dict] | None = None,
    reason: str,
    actor: Actor,
    issued_on: dt.date | None = None,
) -> Invoice:
    """Issue a credit note correcting ``invoice`` (VAT reg 15).

    ``lines=None`` credits the whole invoice, which then becomes cancelled (its number
    stays used: no gaps). Otherwise ``lines`` are dicts of ``add_line`` arguments
    (description, quantity, unit_price, vat_rate). Amounts are positive; the kind says
    they are a credit. ``reason`` is stored on the note and printed on it.

    Issuing only: staff and workflows credit an invoice through
    ``billing.workflows.settlement.credit_invoice``, which also gives back to the account
    what the credit makes overpaid.
    """
    reason = reason.strip()
    if not reason:
        raise InvoiceError("Give the reason for the credit note: it is printed on it.")
    with transaction.atomic():
        lock_customer(invoice.customer)
        original = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if original.kind not in Invoice.DEBIT_KINDS or original.status in (
            Invoice.Status.DRAFT,
            Invoice.Status.CANCELLED,
        ):
            raise InvoiceError(
                f"{original} cannot be credited: only issued, uncancelled VAT invoices and late-payment claims can."
            )
        note = Invoice.objects.create(
            kind=Invoice.Kind.CREDIT_NOTE,
            customer=original.customer,
            corrects=original,
            reason=reason,
            currency=original.currency,
            vat_rule=original.vat_rule,
            vat_wording=original.vat_wording,
            gbp_rate=original.gbp_rate,
            gbp_rate_source=original.gbp_rate_source,
            gbp_rate_date=original.gbp_rate_date,
        )
        if lines is None:
            copy_lines(original, note)
        else:
            for line in lines:
                add_line(note, **line)
        issue_invoice(note, actor=actor, issued_on=issued_on)
        if lines is None:
            original.status = Invoice.Status.CANCELLED
            original.save(update_fields=["status"])
    invoice.status = original.status
    return note


def copy_lines(source: Invoice, target: Invoice) -> list[InvoiceLine]:
    """Copy every line of ``source`` onto the draft ``target`` (a credit note, the VAT invoice
    for a paid payment request)."""
    return [
        add_line(
            target,
            description=line.description,
            quantity=line.quantity,
            unit_price=line.unit_price,
            vat_category=line.vat_category,
            vat_rate=line.vat_rate,
            subscription=line.subscription,
            period_start=line.period_start,
            period_end=line.period_end,
        )
        for line in source.lines.all()
    ]
