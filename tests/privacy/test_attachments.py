"""Email attachments under erasure and retention: only our own issued documents are VAT records.

An attachment follows its message (its content is erased with the message's), except a copy
of a record another declaration keeps: the stored PDF of an issued invoice or credit note
that its email attached, which is kept with the invoice for the invoice's reason.
"""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage

import pytest
from django.core.files.storage import default_storage

from accounts import roles
from accounts.correspondence import inbound
from accounts.correspondence.models import Message, MessageAttachment
from billing.tasks import render_and_send_invoice
from privacy.services.erasure import erasure_notice, erasure_plan, execute_erasure
from tests.accounts.factories import MembershipFactory, StaffFactory, UserFactory
from tests.billing.factories import issued_invoice

pytestmark = pytest.mark.django_db


def _inbound_with_attachment(sender: str, filename: str, content: bytes) -> Message:
    email = EmailMessage()
    email["From"], email["To"], email["Subject"] = sender, "support@hosting.example", "My ID, as asked"
    email["Message-ID"] = f"<{filename}@customer.example>"
    email.set_content("Here is my passport.")
    email.add_attachment(content, maintype="application", subtype="pdf", filename=filename)
    return inbound.receive(email.as_bytes())


def test_an_inbound_id_document_follows_its_message_and_only_issued_invoices_are_kept(
    customer, provider, django_capture_on_commit_callbacks
):
    owner = MembershipFactory(
        customer=customer, role=roles.Role.OWNER, user=UserFactory(email="alice@customer.example")
    )
    MembershipFactory(customer=customer, role=roles.Role.BILLING)
    invoice = issued_invoice(customer, issued_on=dt.date(2026, 6, 1))
    with django_capture_on_commit_callbacks(execute=True):
        render_and_send_invoice(invoice.pk)
    invoice.refresh_from_db()
    emailed_invoice = MessageAttachment.objects.get(message__idempotency_key=f"invoice:{invoice.pk}")
    message = _inbound_with_attachment(owner.user.email, "passport-alice.pdf", b"%PDF-1.4 passport scan")
    assert message.customer == customer
    passport = MessageAttachment.objects.get(filename="passport-alice.pdf")
    passport_file = passport.file.name

    plan = [item for item in erasure_plan(customer=customer) if item["model"] == "accounts.MessageAttachment"]
    kept = [item for item in plan if item["action"] == "keep"]
    [deleted] = [item for item in plan if item["action"] == "delete"]
    assert deleted["count"] == 1
    assert [item["count"] for item in kept] == [1] and "VAT" in kept[0]["reason"]

    with django_capture_on_commit_callbacks(execute=True):
        run = execute_erasure(customer=customer, actor=StaffFactory())

    assert not MessageAttachment.objects.filter(pk=passport.pk).exists()
    assert not default_storage.exists(passport_file)
    emailed_invoice.refresh_from_db()
    assert emailed_invoice.file.name == invoice.pdf.name and default_storage.exists(invoice.pdf.name)
    notice = erasure_notice(run)
    _erased, kept_text = notice.split("What we kept, and why")
    assert "passport" not in notice
    assert "Files attached to emails in either direction. Copies of: Invoices, credit notes" in kept_text
    assert "Files attached to emails in either direction. (1 record): deleted." in _erased
