"""Emailing issued documents to the customer's billing contacts, with their stored PDF."""

from __future__ import annotations

import datetime as dt
import logging

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from accounts.correspondence.gateway import Attachment, NoRecipients, recipients_by_customer, send_mail, send_many
from accounts.correspondence.models import MailKind, receives
from accounts.models import Membership, ProviderDetails
from billing.delivery.document import document_data
from billing.delivery.pdf import pdf_filename, stored_pdf_bytes, stored_pdfs_bytes
from billing.models import Invoice, PaymentAllocation, document_emails
from core import pagecache

logger = logging.getLogger(__name__)

# Documents this recent are sent when they can be; older ones only by staff (admin
# "Email to billing contacts (again)"), so nobody is mailed a months-old invoice out of the blue.
CATCH_UP_DAYS = 7
# Long enough for the task queued on commit to have run.
CATCH_UP_AFTER = dt.timedelta(minutes=10)


def send_documents(invoice_ids: list[int]) -> None:
    """``send_document`` for each of ``invoice_ids``, documents issued together (a billing
    run's group): read with their customer, lines, refunds and balance in a few queries
    for all of them rather than a few each, and the provider's details once.

    One failing stops none of the others: it is logged, and (as for a document whose task
    was lost) the sweep of unsent documents sends it again; staff can email it from the admin.
    """
    invoices = (
        Invoice.objects.with_balance()
        .annotate(has_allocations=Exists(PaymentAllocation.objects.filter(invoice=OuterRef("pk"))))
        .filter(pk__in=invoice_ids)
        .select_related("customer", "corrects")
        .prefetch_related("lines", "refunds")
        .order_by("pk")
    )
    provider = ProviderDetails.current()
    invoices = list(invoices)
    customers = {invoice.customer_id for invoice in invoices}
    recipients = recipients_by_customer(customers, MailKind.BILLING)
    # The customers' kept pages are replaced once, after the batch, not per document.
    with pagecache.writes_for(customers=customers):
        documents = []
        for invoice in invoices:
            try:
                documents.append((invoice, document_data(invoice, with_balance=True)))
            except Exception:
                logger.exception("Document %s (%s): PDF or email failed", invoice.pk, invoice.number)
        # Rendered one by one, recorded together (one UPDATE for the batch's PDFs), and
        # emailed together (one INSERT for the emails, one for their attachments).
        pdfs = stored_pdfs_bytes(documents)
        ready = []
        for invoice, data in documents:
            if isinstance(pdfs[invoice.pk], Exception):
                _failed(invoice, pdfs[invoice.pk])
            else:
                ready.append((invoice, data))
        try:
            answers = send_many(
                [
                    _mail(invoice, data, pdfs[invoice.pk], provider, recipients.get(invoice.customer_id, []))
                    for invoice, data in ready
                ]
            )
        except Exception as exc:  # the database refused the batch: the sweep sends them again
            answers = [exc] * len(ready)
        for (invoice, _data), answer in zip(ready, answers, strict=True):
            if isinstance(answer, NoRecipients):
                _nobody_to_mail(invoice)
            elif isinstance(answer, Exception):
                _failed(invoice, answer)


def _failed(invoice: Invoice, exc: Exception) -> None:
    logger.error("Document %s (%s): PDF or email failed", invoice.pk, invoice.number, exc_info=exc)


def _nobody_to_mail(invoice: Invoice) -> None:
    # Not retried: nobody receives billing mail until a contact is given that role.
    # The PDF is stored and the document is in the portal for whoever gets the role.
    # Staff see it as "Not emailed" in the invoice admin (a stored PDF and no message
    # is this case) and email it from there once the customer has a contact.
    logger.warning("Invoice %s not emailed: %s has no billing contact or owner", invoice.number, invoice.customer)


def send_document(invoice: Invoice, *, with_balance: bool = False, provider=None, recipients=None) -> None:
    """Store an issued document's PDF (once) and email it to the billing contacts (once).

    Safe to run twice: the PDF is stored by a conditional UPDATE on an empty ``pdf``, and
    the email carries the idempotency key ``invoice:<pk>``, so a rerun after a crash or a
    duplicate delivery from the broker stores and sends nothing new.

    ``with_balance``: ``invoice`` was read with ``Invoice.objects.with_balance()``;
    ``provider``: the provider details, just read; ``recipients``: the customer's contacts
    who receive billing mail, when the caller has just read them.
    """
    # Read once: the PDF (when it is still to be rendered) and the email say the same.
    data = document_data(invoice, with_balance=with_balance)
    try:
        send_mail(**_mail(invoice, data, stored_pdf_bytes(invoice, data), provider, recipients))
    except NoRecipients:
        _nobody_to_mail(invoice)


def _mail(invoice: Invoice, data: dict, content: bytes, provider, recipients) -> dict:
    """The document's email (``send_mail``'s arguments), its stored PDF ``content`` attached."""
    return {
        "kind": MailKind.BILLING,
        "template": "invoice",
        "customer": invoice.customer,
        "context": {
            "invoice": invoice,
            "total": data["total_gross"],
            # Payment instructions as printed on the document, not today's settings,
            # and what is paid and due as the document states it.
            "seller": data["seller"],
            "payment": data["payment"],
        },
        # The stored PDF itself is attached, not a copy: what the customer received is
        # the file every later download returns (and retention keeps it while either needs it).
        "attachments": [
            Attachment(pdf_filename(invoice), content, "application/pdf", stored=(invoice.pdf.name, invoice.pdf_sha256))
        ],
        "idempotency_key": f"invoice:{invoice.pk}",
        "related": invoice,
        "recipients": recipients,
        **({"provider": provider} if provider is not None else {}),
    }


def billing_recipients() -> Exists:
    """Whether the document's customer (in the outer query) has anyone receiving billing mail."""
    return Exists(Membership.objects.filter(receives(MailKind.BILLING), customer=OuterRef("customer_id")))


def unsent_documents() -> list[int]:
    """Documents issued in the last week that have no stored PDF, or no email although
    someone now receives billing mail (the task queued on issue was lost: the broker was
    down, or the worker died mid-way)."""
    return list(
        Invoice.objects.exclude(status=Invoice.Status.DRAFT)
        .exclude(kind=Invoice.Kind.PRO_FORMA, status=Invoice.Status.CANCELLED)  # "please pay" no more
        .filter(
            issued_on__gte=timezone.localdate() - dt.timedelta(days=CATCH_UP_DAYS),
            created_at__lte=timezone.now() - CATCH_UP_AFTER,
        )
        .filter(Q(pdf="") | (~Exists(document_emails()) & billing_recipients()))
        .values_list("pk", flat=True)
    )
