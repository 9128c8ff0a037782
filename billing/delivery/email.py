"""Emailing issued documents to the customer's billing contacts, with their stored PDF."""

from __future__ import annotations

import datetime as dt
import logging

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from accounts.correspondence.gateway import Attachment, NoRecipients, recipients_by_customer, send_mail
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
        # Rendered one by one, recorded together (one UPDATE for the batch's PDFs).
        pdfs = stored_pdfs_bytes(documents)
        for invoice, data in documents:
            try:
                content = pdfs[invoice.pk]
                if isinstance(content, Exception):
                    raise content
                _email(invoice, data, content, provider=provider, recipients=recipients.get(invoice.customer_id, []))
            except Exception:
                logger.exception("Document %s (%s): PDF or email failed", invoice.pk, invoice.number)


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
    _email(invoice, data, stored_pdf_bytes(invoice, data), provider=provider, recipients=recipients)


def _email(invoice: Invoice, data: dict, content: bytes, *, provider=None, recipients=None) -> None:
    """Email the document, its stored PDF ``content`` attached, once (``send_document``)."""
    try:
        send_mail(
            kind=MailKind.BILLING,
            template="invoice",
            customer=invoice.customer,
            context={
                "invoice": invoice,
                "total": data["total_gross"],
                # Payment instructions as printed on the document, not today's settings,
                # and what is paid and due as the document states it.
                "seller": data["seller"],
                "payment": data["payment"],
            },
            # The stored PDF itself is attached, not a copy: what the customer received is
            # the file every later download returns (and retention keeps it while either needs it).
            attachments=[
                Attachment(
                    pdf_filename(invoice), content, "application/pdf", stored=(invoice.pdf.name, invoice.pdf_sha256)
                )
            ],
            idempotency_key=f"invoice:{invoice.pk}",
            related=invoice,
            recipients=recipients,
            **({"provider": provider} if provider is not None else {}),
        )
    except NoRecipients:
        # Not retried: nobody receives billing mail until a contact is given that role.
        # The PDF is stored and the document is in the portal for whoever gets the role.
        # Staff see it as "Not emailed" in the invoice admin (a stored PDF and no message
        # is this case) and email it from there once the customer has a contact.
        logger.warning("Invoice %s not emailed: %s has no billing contact or owner", invoice.number, invoice.customer)


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
