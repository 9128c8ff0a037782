"""Stored files are served only while they are the bytes that were stored: an issued
invoice's PDF reference is set once, and a file swapped on disk is refused with an alert
instead of being handed to the customer."""

from __future__ import annotations

import logging

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts import roles
from billing.delivery.pdf import store_invoice_pdf
from billing.models import Invoice
from tests.accounts.factories import MembershipFactory
from tests.billing.factories import issued_invoice

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored(customer, provider, settings):
    invoice = store_invoice_pdf(issued_invoice(customer))
    return invoice, settings.PRIVATE_STORAGE_DIR / invoice.pdf.name


def test_an_issued_documents_stored_pdf_is_set_once(stored):
    invoice, _path = stored
    invoice.pdf = "billing/pdf/someone-elses.pdf"
    with pytest.raises(ValidationError, match="set once"):
        invoice.save(update_fields=["pdf"])
    invoice.refresh_from_db()
    invoice.pdf, invoice.pdf_sha256 = "", ""
    with pytest.raises(ValidationError, match="set once"):
        invoice.save(update_fields=["pdf", "pdf_sha256"])


def test_a_swapped_pdf_is_refused_and_staff_are_alerted(client, customer, stored, caplog):
    invoice, path = stored
    client.force_login(MembershipFactory(customer=customer, role=roles.Role.BILLING).user)
    url = reverse("billing:invoice_pdf", args=[invoice.pk])
    assert client.get(url).status_code == 200

    path.write_bytes(b"%PDF-1.7 pay a different account")
    with caplog.at_level(logging.ERROR, logger="core.files"):
        response = client.get(url)
    assert response.status_code == 503 and b"not the file we stored" in response.content
    assert "does not match its recorded SHA-256" in caplog.text
    assert Invoice.objects.get(pk=invoice.pk).pdf_sha256 == invoice.pdf_sha256  # nothing rewritten


def test_a_swapped_attachment_is_refused(client, customer, provider, settings):
    from accounts.correspondence import gateway
    from accounts.correspondence.models import MailKind

    owner = MembershipFactory(customer=customer, role=roles.Role.OWNER)
    message = gateway.send_mail(
        kind=MailKind.SERVICE, template="staff_reply", customer=customer, idempotency_key="swap",
        context={"subject": "Logs", "body": "Attached."},
        attachments=[gateway.Attachment("log.txt", b"the real log", "text/plain")],
    )  # fmt: skip
    attachment = message.attachments.get()
    (settings.PRIVATE_STORAGE_DIR / attachment.file.name).write_bytes(b"something else")
    client.force_login(owner.user)
    response = client.get(reverse("correspondence:attachment", args=[message.pk, attachment.pk]))
    assert response.status_code == 503
