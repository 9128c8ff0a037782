"""Background work for billing documents: thin wrappers that load by primary key and call one service."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction

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
        with transaction.atomic():
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
                attachments=[Attachment(pdf_filename(invoice), content, "application/pdf")],
                idempotency_key=f"invoice:{invoice.pk}",
                related=invoice,
            )
    except NoRecipients:
        # Not retried: nobody receives billing mail until a contact is given that role.
        # The PDF is stored and the document is in the portal for whoever gets the role.
        # Staff see it as "Not emailed" in the invoice admin (a stored PDF and no message
        # is this case) and email it from there once the customer has a contact.
        logger.warning("Invoice %s not emailed: %s has no billing contact or owner", invoice.number, invoice.customer)
