"""Staff open stored files from the admin: an issued PDF, an email's attachment and the
original received email, each through an access-checked view that needs the right
permission and records who opened it."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from accounts import roles
from accounts.correspondence import gateway, inbound
from accounts.correspondence.models import MailKind
from billing.delivery.pdf import pdf_filename, store_invoice_pdf
from tests.accounts.factories import MembershipFactory, StaffFactory, enable_totp
from tests.billing.factories import issued_invoice

pytestmark = pytest.mark.django_db


def staff_in(group: str) -> tuple[Client, object]:
    person = StaffFactory()
    person.groups.add(Group.objects.get(name=group))
    enable_totp(person)
    client = Client()
    client.force_login(person)
    return client, person


def opened(obj, user) -> list[str]:
    from accounts.audit import AuditEvent

    events = AuditEvent.objects.about(obj).filter(actor=user, action="file.opened")
    return list(events.values_list("summary", flat=True))


def test_billing_staff_open_an_issued_pdf_from_the_admin_and_the_opening_is_recorded(customer, provider):
    invoice = store_invoice_pdf(issued_invoice(customer))
    client, person = staff_in(roles.BILLING_GROUP)
    page = client.get(reverse("admin:billing_invoice_change", args=[invoice.pk])).content.decode()
    url = reverse("admin:billing_invoice_pdf", args=[invoice.pk])
    assert url in page and "/media/" not in page

    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content).startswith(b"%PDF")
    assert "no-store" in response["Cache-Control"] and "inline" in response["Content-Disposition"]
    assert opened(invoice, person) == [f"Opened the PDF {pdf_filename(invoice)}"]
    assert opened(invoice, person) and invoice.customer_id == customer.pk

    support, _ = staff_in(roles.SUPPORT_GROUP)  # support staff do not see billing documents
    assert support.get(url).status_code == 403


def test_a_swapped_pdf_is_refused_to_staff_too(customer, provider, settings):
    invoice = store_invoice_pdf(issued_invoice(customer))
    (settings.PRIVATE_STORAGE_DIR / invoice.pdf.name).write_bytes(b"%PDF-1.7 pay someone else")
    client, person = staff_in(roles.BILLING_GROUP)
    response = client.get(reverse("admin:billing_invoice_pdf", args=[invoice.pk]))
    assert response.status_code == 503 and b"not the file we stored" in response.content
    assert opened(invoice, person) == []


def test_staff_download_a_messages_attachment_and_the_original_email(customer, provider):
    MembershipFactory(customer=customer, role=roles.Role.OWNER, user__email="owner@c.example")
    sent = gateway.send_mail(
        kind=MailKind.SERVICE, template="staff_reply", customer=customer, idempotency_key="logs",
        context={"subject": "Logs", "body": "Attached."},
        attachments=[gateway.Attachment("log.txt", b"the real log", "text/plain")],
    )  # fmt: skip
    attachment = sent.attachments.get()
    received = inbound.receive(b"From: owner@c.example\r\nSubject: Thanks\r\n\r\nGot it")

    client, person = staff_in(roles.SUPPORT_GROUP)
    page = client.get(reverse("admin:accounts_message_change", args=[sent.pk])).content.decode()
    url = reverse("admin:accounts_message_attachment", args=[sent.pk, attachment.pk])
    assert url in page
    response = client.get(url)
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"the real log"
    assert "attachment" in response["Content-Disposition"]  # from outside: never rendered inline
    assert opened(sent, person) == ["Opened the attachment log.txt"]

    original = reverse("admin:accounts_message_original", args=[received.pk])
    assert original in client.get(reverse("admin:accounts_message_change", args=[received.pk])).content.decode()
    response = client.get(original)
    assert response.status_code == 200 and b"Got it" in b"".join(response.streaming_content)

    # Someone else's message id with this attachment's id: not found.
    assert (
        client.get(reverse("admin:accounts_message_attachment", args=[received.pk, attachment.pk])).status_code == 404
    )
    accountant, _ = staff_in(roles.ACCOUNTANT_GROUP)
    assert accountant.get(url).status_code in (302, 403)
