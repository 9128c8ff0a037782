"""Background work for billing documents: thin wrappers that load by primary key and call one service."""

from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task
def render_and_send_invoice(invoice_id: int) -> None:
    """Store an issued document's PDF (once) and email it to the billing contacts (once).

    Safe to run twice: the PDF is stored by a conditional UPDATE on an empty ``pdf``, and
    the email carries the idempotency key ``invoice:<pk>``, so a rerun after a crash or a
    duplicate delivery from the broker stores and sends nothing new.
    """
    from accounts.correspondence.gateway import Attachment, NoRecipients, send_mail
    from billing.models import Invoice
    from billing.money import format_money
    from billing.pdf import party_details, pdf_filename, stored_pdf_bytes

    invoice = Invoice.objects.select_related("customer").get(pk=invoice_id)
    content = stored_pdf_bytes(invoice)
    try:
        send_mail(
            kind="billing",
            template="invoice",
            customer=invoice.customer,
            context={
                "invoice": invoice,
                "total": format_money(invoice.total_gross, invoice.currency),
                # Payment instructions as printed on the document, not today's settings.
                "seller": party_details(invoice.seller),
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
        )
    except NoRecipients:
        # Not retried: nobody receives billing mail until a contact is given that role.
        # The PDF is stored and the document is in the portal for whoever gets the role.
        # Staff see it as "Not emailed" in the invoice admin (a stored PDF and no message
        # is this case) and email it from there once the customer has a contact.
        logger.warning("Invoice %s not emailed: %s has no billing contact or owner", invoice.number, invoice.customer)


# Documents this recent are sent when they can be; older ones only by staff (admin
# "Email to billing contacts (again)"), so nobody is mailed a months-old invoice out of the blue.
CATCH_UP_DAYS = 7
# Long enough for the task queued on commit to have run.
CATCH_UP_AFTER = dt.timedelta(minutes=10)


@shared_task
def send_unsent_documents() -> int:
    """Every 15 minutes (django-celery-beat): queue again the documents issued in the last
    week that have no stored PDF, or no email although someone now receives billing mail.

    The task queued when a document is issued is lost if the broker is down at that
    moment or the worker dies mid-way; this sweep is what makes "rendered and sent in the
    background" hold anyway. Queuing a document twice stores and sends nothing twice
    (see ``render_and_send_invoice``). Returns how many were queued.
    """
    from django.db.models import Exists, OuterRef, Q
    from django.utils import timezone

    from accounts.correspondence.models import RECIPIENT_ROLES, MailKind
    from accounts.models import Membership
    from billing.models import Invoice, document_emails

    recipient = Membership.objects.filter(
        customer=OuterRef("customer_id"), role__in=RECIPIENT_ROLES[MailKind.BILLING], user__is_active=True
    )
    pending = list(
        Invoice.objects.exclude(status=Invoice.Status.DRAFT)
        .exclude(kind=Invoice.Kind.PRO_FORMA, status=Invoice.Status.CANCELLED)  # "please pay" no more
        .filter(
            issued_on__gte=timezone.localdate() - dt.timedelta(days=CATCH_UP_DAYS),
            created_at__lte=timezone.now() - CATCH_UP_AFTER,
        )
        .filter(Q(pdf="") | (~Exists(document_emails()) & Exists(recipient)))
        .values_list("pk", flat=True)
    )
    for pk in pending:
        render_and_send_invoice.delay(pk)
    if pending:
        logger.info("Queued %d issued document(s) without a PDF or an email", len(pending))
    return len(pending)
