"""Staff see in the invoice admin whether each issued document's email reached the
customer, find the ones that did not, and email them once the customer has someone
to send them to."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging

import pytest
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import roles
from accounts.correspondence.models import Message
from billing.models import Invoice
from tests.accounts.factories import CustomerFactory, MembershipFactory, UserFactory
from tests.billing.factories import InvoiceFactory, issued_invoice

ISSUED = dt.date(2026, 3, 2)
CHANGELIST = "admin:billing_invoice_changelist"


@pytest.fixture
def billing_staff(billing_staff_client) -> Client:
    return billing_staff_client


@pytest.fixture
def issue(django_capture_on_commit_callbacks):
    """Issue a document as the billing run does: its PDF and email task runs after commit."""

    def issue(customer) -> Invoice:
        with django_capture_on_commit_callbacks(execute=True):
            invoice = issued_invoice(customer, issued_on=ISSUED)
        invoice.refresh_from_db()
        return invoice

    return issue


def changelist(client: Client, **params) -> str:
    response = client.get(reverse(CHANGELIST), params)
    assert response.status_code == 200
    return response.content.decode()


def email_again(client: Client, capture, *invoices: Invoice) -> str:
    with capture(execute=True):
        response = client.post(
            reverse(CHANGELIST),
            {"action": "email_to_billing_contacts", "_selected_action": [invoice.pk for invoice in invoices]},
            follow=True,
        )
    assert response.status_code == 200
    return response.content.decode()


def document_emails(invoice: Invoice):
    return Message.objects.filter(related_type=ContentType.objects.get_for_model(Invoice), related_id=str(invoice.pk))


def test_document_for_a_customer_without_billing_contact_shows_not_emailed(billing_staff, issue, caplog):
    customer = CustomerFactory(registered_name="Nobody Home Ltd")

    with caplog.at_level(logging.WARNING, logger="billing.tasks"):
        invoice = issue(customer)

    assert invoice.pdf  # stored and in the portal for whoever gets the role
    assert not document_emails(invoice).exists()
    assert f"Invoice {invoice.number} not emailed" in caplog.text
    not_emailed = "Not emailed: Nobody Home Ltd has no billing contact or owner"
    assert not_emailed in changelist(billing_staff)
    assert invoice.number in changelist(billing_staff, emailed="no")
    assert invoice.number not in changelist(billing_staff, emailed="sent")
    page = billing_staff.get(reverse("admin:billing_invoice_change", args=[invoice.pk])).content.decode()
    assert "Emailed" in page and not_emailed in page


def test_emailing_again_after_a_billing_contact_is_added_sends_the_pdf_once(
    billing_staff, issue, mailoutbox, django_capture_on_commit_callbacks
):
    customer = CustomerFactory(registered_name="Late Contact Ltd")
    invoice = issue(customer)
    MembershipFactory(customer=customer, role=roles.Role.BILLING, user=UserFactory(email="accounts@late.example"))
    assert "Late Contact Ltd has a billing contact or owner now" in changelist(billing_staff)

    result = email_again(billing_staff, django_capture_on_commit_callbacks, invoice)

    assert f"Queued 1 document(s) to email: {invoice.number}." in result
    message = document_emails(invoice).get()
    assert message.idempotency_key == f"invoice:{invoice.pk}"
    assert message.to_addresses == ["accounts@late.example"]
    assert message.status == Message.Status.SENT
    [attachment] = message.attachments.all()
    assert attachment.filename == f"{invoice.number}.pdf" and attachment.sha256 == invoice.pdf_sha256
    assert len(mailoutbox) == 1
    [(filename, content, _)] = mailoutbox[0].attachments
    assert filename == f"{invoice.number}.pdf" and hashlib.sha256(content).hexdigest() == invoice.pdf_sha256

    today = timezone.localdate()
    listing = changelist(billing_staff)
    assert f"Sent {today.day} {today:%b %Y} to accounts@late.example" in listing
    assert reverse("admin:accounts_message_change", args=[message.pk]) in listing
    assert invoice.number in changelist(billing_staff, emailed="sent")
    assert invoice.number not in changelist(billing_staff, emailed="no")

    again = email_again(billing_staff, django_capture_on_commit_callbacks, invoice)

    assert f"Skipped 1 that already have an email: {invoice.number}." in again
    assert "Queued 1 document" not in again
    assert document_emails(invoice).count() == 1
    assert len(mailoutbox) == 1


def test_emailing_again_names_customers_who_still_have_no_billing_contact(
    billing_staff, issue, mailoutbox, django_capture_on_commit_callbacks
):
    invoice = issue(CustomerFactory(registered_name="Still Nobody Ltd"))
    draft = InvoiceFactory()

    result = email_again(billing_staff, django_capture_on_commit_callbacks, invoice, draft)

    assert f"no billing contact or owner: Still Nobody Ltd ({invoice.number})" in result
    assert "Skipped 1 draft(s)" in result
    assert "document(s) to email" not in result
    assert not Message.objects.exists()
    assert mailoutbox == []


def test_failed_delivery_shows_failed_and_points_to_the_correspondence_retry(
    billing_staff, issue, smtp_server, django_capture_on_commit_callbacks
):
    customer = CustomerFactory()
    MembershipFactory(customer=customer, role=roles.Role.OWNER)
    smtp_server.fail_next("550 5.1.1 mailbox unavailable")

    invoice = issue(customer)

    message = document_emails(invoice).get()
    assert message.status == Message.Status.FAILED
    listing = changelist(billing_staff, emailed="failed")
    assert invoice.number in listing
    message_page = reverse("admin:accounts_message_change", args=[message.pk])
    assert f'<a href="{message_page}">Failed: 550 5.1.1 mailbox unavailable</a>' in listing
    assert invoice.number not in changelist(billing_staff, emailed="no")

    result = email_again(billing_staff, django_capture_on_commit_callbacks, invoice)

    assert f"Skipped 1 whose email failed: {invoice.number}" in result
    failed_messages = reverse("admin:accounts_message_changelist") + "?status__exact=failed"
    assert f'<a href="{failed_messages}">Messages</a> with “Retry delivery of failed messages”' in result
    assert document_emails(invoice).count() == 1
    assert smtp_server.received == []


def test_draft_shows_no_email_state(billing_staff, provider):
    InvoiceFactory()

    listing = changelist(billing_staff)

    assert "Draft vat invoice" in listing and "Not emailed:" not in listing and "Not yet" not in listing


def test_issued_document_whose_task_has_not_run_shows_not_yet_and_counts_as_not_emailed(billing_staff, provider):
    invoice = issued_invoice(CustomerFactory(), issued_on=ISSUED)  # after-commit task not run

    assert "Not yet" in changelist(billing_staff)
    assert invoice.number in changelist(billing_staff, emailed="no")


def test_changelist_queries_do_not_grow_with_the_number_of_documents(
    billing_staff, issue, smtp_server, django_assert_max_num_queries
):
    def one_of_each() -> None:
        issue(CustomerFactory())  # not emailed
        sent = CustomerFactory()
        MembershipFactory(customer=sent, role=roles.Role.BILLING)
        issue(sent)
        failing = CustomerFactory()
        MembershipFactory(customer=failing, role=roles.Role.OWNER)
        smtp_server.fail_next("550 5.1.1 mailbox unavailable")
        issue(failing)
        InvoiceFactory()

    one_of_each()
    with django_assert_max_num_queries(13):
        changelist(billing_staff)
    for _ in range(4):
        one_of_each()
    with django_assert_max_num_queries(13):
        listing = changelist(billing_staff)
    assert listing.count("Not emailed:") == 5 and listing.count("Failed: 550") == 5 and listing.count(">Sent ") == 5


# ---------------------------------------------------------------------------------------
# The sweep for documents whose task was lost (broker down, worker died)
# ---------------------------------------------------------------------------------------


def _issued_with_its_task_lost(customer, issued_on, **fields):
    # On-commit callbacks never run in these tests: the task queued on issue is lost.
    created_at = timezone.now() - dt.timedelta(minutes=30)
    return issued_invoice(customer, issued_on=issued_on, created_at=created_at, **fields)


@pytest.mark.django_db
def test_the_sweep_renders_and_emails_documents_whose_task_was_lost(provider):
    from billing.tasks import send_unsent_documents

    today = timezone.localdate()
    billed = CustomerFactory()
    MembershipFactory(customer=billed, role=roles.Role.BILLING)
    nobody = CustomerFactory()  # no billing contact or owner: the PDF is stored, nothing is sent
    old = _issued_with_its_task_lost(billed, today - dt.timedelta(days=30))  # staff send those by hand
    lost = _issued_with_its_task_lost(billed, today - dt.timedelta(days=1))
    unreachable = _issued_with_its_task_lost(nobody, today - dt.timedelta(days=1))
    withdrawn = _issued_with_its_task_lost(billed, today - dt.timedelta(days=1), kind=Invoice.Kind.PRO_FORMA)
    Invoice.objects.filter(pk=withdrawn.pk).update(status=Invoice.Status.CANCELLED)  # never ask to pay it now

    assert send_unsent_documents() == 2
    assert send_unsent_documents() == 0  # nothing left to do: nothing stored or sent twice

    [mail] = Message.objects.filter(related_id=str(lost.pk), template="invoice")
    lost.refresh_from_db()
    assert lost.pdf and mail.attachments.get().sha256 == lost.pdf_sha256
    unreachable.refresh_from_db()
    assert unreachable.pdf and not Message.objects.filter(related_id=str(unreachable.pk)).exists()
    old.refresh_from_db()
    assert not old.pdf and not Message.objects.filter(related_id=str(old.pk)).exists()


@pytest.mark.django_db
def test_the_migration_schedules_the_document_sweep_once():
    import importlib

    from django.apps import apps as global_apps
    from django_celery_beat.models import PeriodicTask

    migration = importlib.import_module("billing.migrations.0017_schedule_send_unsent_documents")
    migration.schedule(global_apps, None)
    migration.schedule(global_apps, None)
    task = PeriodicTask.objects.get(name=migration.NAME)
    assert task.task == "billing.tasks.send_unsent_documents" and task.enabled
    assert (task.interval.every, task.interval.period) == (15, "minutes")
