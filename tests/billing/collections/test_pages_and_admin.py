"""Collections as people use it: customers in the portal, billing staff in the admin."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from accounts import roles
from accounts.audit import System
from accounts.models import LegalForm, Membership
from billing.collections.models import CollectionAgency, Dispute, Handoff, LatePaymentCharge, Letter, LetterReply
from billing.collections.reminders import run_reminders
from billing.models import Invoice
from privacy.services.holds import is_held
from tests.accounts.factories import MembershipFactory
from tests.billing.collections.helpers import charges_on, customer, invoice_due, mails

D = dt.date
pytestmark = pytest.mark.django_db


def at(day: dt.date):
    return time_machine.travel(dt.datetime.combine(day, dt.time(10), tzinfo=dt.UTC), tick=False)


def logged_in(membership: Membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    return client


def action(client, model, action_name, objects, **data):
    changelist = reverse(f"admin:billing_{model}_changelist")
    return client.post(
        changelist, {"action": action_name, "_selected_action": [o.pk for o in objects], "apply": "1", **data},
        follow=True,
    )  # fmt: skip


def test_a_billing_contact_disputes_lines_with_an_attachment_and_follows_it(provider):
    company = customer()
    invoice = invoice_due(company, D(2026, 3, 10))
    contact = logged_in(Membership.objects.get(customer=company, role=roles.Role.BILLING))
    url = reverse("billing:dispute_new", args=[invoice.pk])

    assert "Dispute this invoice" in contact.get(reverse("billing:invoice_detail", args=[invoice.pk])).content.decode()
    refused = contact.post(url, {"reason": ""})
    assert refused.status_code == 400 and not Dispute.objects.exists()
    response = contact.post(
        url,
        {"reason": "Charged twice for March", "lines": [invoice.lines.get().pk],
         "attachments": [SimpleUploadedFile("bank.csv", b"date,amount", "text/csv")]},
        follow=True,
    )  # fmt: skip

    page = response.content.decode()
    assert "Charged twice for March" in page and "reminders and charges on this document are paused" in page
    assert "Dispute this invoice" not in page  # one open dispute at a time
    dispute = Dispute.objects.get()
    assert dispute.attachments.get().filename == "bank.csv" and is_held(invoice)
    assert mails(company, "collections_dispute_received")


def test_a_technical_contact_cannot_dispute(provider):
    company = customer()
    invoice = invoice_due(company, D(2026, 3, 10))
    technical = logged_in(MembershipFactory(customer=company, role=roles.Role.TECHNICAL))

    response = technical.post(reverse("billing:dispute_new", args=[invoice.pk]), {"reason": "No"})

    assert response.status_code == 403 and not Dispute.objects.exists()


def test_a_business_customer_sees_interest_accrued_and_a_consumer_sees_none(provider):
    charges_on()
    company = customer()
    person = customer(legal_form=LegalForm.INDIVIDUAL, company_number="")
    business_invoice = invoice_due(company, D(2025, 7, 1), amount="1000.00")
    consumer_invoice = invoice_due(person, D(2025, 7, 1), amount="1000.00")

    with at(D(2025, 7, 31)):
        business_page = logged_in(Membership.objects.get(customer=company)).get(
            reverse("billing:invoice_detail", args=[business_invoice.pk])
        )
        consumer_page = logged_in(Membership.objects.get(customer=person)).get(
            reverse("billing:invoice_detail", args=[consumer_invoice.pk])
        )

    # £1,200 × 12.25% × 30 / 365 = £12.08; compensation £70
    assert "30 days overdue" in business_page.content.decode()
    assert "£12.08 so far" in business_page.content.decode() and "£70.00" in business_page.content.decode()
    assert "30 days overdue" in consumer_page.content.decode()
    assert "Late-payment charges" not in consumer_page.content.decode()


def test_staff_charge_from_the_admin_and_the_claim_is_a_document_of_its_own(provider, billing_staff_client):
    charges_on()
    company = customer()
    invoice = invoice_due(company, D(2025, 7, 1), amount="1000.00")

    with at(D(2025, 7, 31)):
        response = billing_staff_client.post(
            reverse("admin:billing_latepaymentcharge_add"), {"customer": company.pk}, follow=True
        )

    claim = Invoice.objects.get(kind=Invoice.Kind.LATE_PAYMENT_CLAIM)
    assert f"Issued late-payment claim {claim.number}" in response.content.decode()
    assert claim.total_gross == Decimal("82.08") and LatePaymentCharge.objects.get().debt == invoice
    with at(D(2025, 7, 31)):
        response = billing_staff_client.post(
            reverse("admin:billing_latepaymentcharge_add"), {"customer": company.pk}, follow=True
        )
    assert "Nothing was charged" in response.content.decode()
    assert Invoice.objects.filter(kind=Invoice.Kind.LATE_PAYMENT_CLAIM).count() == 1


def test_staff_resolve_a_dispute_from_the_admin(provider, billing_staff_client):
    company = customer()
    invoice = invoice_due(company, D(2026, 3, 10))
    contact = logged_in(Membership.objects.get(customer=company, role=roles.Role.BILLING))
    contact.post(reverse("billing:dispute_new", args=[invoice.pk]), {"reason": "Not ours"})

    response = action(billing_staff_client, "dispute", "resolve", [Dispute.objects.get()], reason="Billed in error")

    dispute = Dispute.objects.get()
    assert dispute.status == Dispute.Status.RESOLVED and "resolved by CN-" in response.content.decode()
    page = contact.get(reverse("billing:invoice_detail", args=[invoice.pk])).content.decode()
    assert dispute.credit_note.number in page and "Billed in error" in page


def test_staff_reject_a_dispute_from_the_admin_after_its_form(provider, billing_staff_client):
    company = customer()
    invoice = invoice_due(company, D(2026, 3, 10))
    contact = logged_in(Membership.objects.get(customer=company, role=roles.Role.BILLING))
    contact.post(reverse("billing:dispute_new", args=[invoice.pk]), {"reason": "Not ours"})
    dispute = Dispute.objects.get()
    changelist = reverse("admin:billing_dispute_changelist")

    asked = billing_staff_client.post(changelist, {"action": "reject", "_selected_action": [dispute.pk]})
    assert "Reject disputes" in asked.content.decode() and str(dispute) in asked.content.decode()
    empty = action(billing_staff_client, "dispute", "reject", [dispute], reasons="")
    assert "This field is required" in empty.content.decode()
    done = action(billing_staff_client, "dispute", "reject", [dispute], reasons="The service was used.")

    dispute.refresh_from_db()
    assert dispute.status == Dispute.Status.REJECTED
    assert f"{dispute}: rejected; the customer is told why." in done.content.decode()
    # Deciding it again is refused with the service's reason, named for the dispute.
    again = action(billing_staff_client, "dispute", "reject", [dispute], reasons="Again")
    assert f"{dispute}: " in again.content.decode() and "rejected; the customer" not in again.content.decode()


def test_staff_write_post_and_hand_over_a_sole_traders_debt_from_the_admin(provider, billing_staff_client):
    debtor = customer(legal_form=LegalForm.SOLE_TRADER, company_number="", registered_name="Jo Bloggs")
    invoice = invoice_due(debtor, D(2026, 3, 10), amount="250.00")
    for day in range(7, 32):
        run_reminders(D(2026, 3, day), actor=System("tests"))
    agency = CollectionAgency.objects.create(
        name="Northern Recoveries LLP", kind="agency", address="1 Quay St, Manchester", email="a@n.example",
        reference="EXH-001",
    )  # fmt: skip
    owner = Membership.objects.filter(customer=debtor).first()

    with at(D(2026, 4, 1)):
        billing_staff_client.post(
            reverse("admin:billing_letter_add"), {"customer": debtor.pk, "invoices": [invoice.pk]}
        )
        letter = Letter.objects.get()
        assert letter.kind == Letter.Kind.LETTER_OF_CLAIM
        action(billing_staff_client, "letter", "record_posting", [letter], posted_on="2026-04-01")
    with at(D(2026, 4, 10)):
        reply = logged_in(owner).post(
            reverse("billing:letter_reply", args=[letter.pk]),
            {
                "response": "owe_all",
                "seeking_advice": "on",
                "advice_from": "StepChange",
                "payment_offer": "£50 a month",
            },
        )
        assert reply.status_code == 302 and LetterReply.objects.get().seeking_advice
        action(
            billing_staff_client, "letterreply", "record_answer", [LetterReply.objects.get()], answered_on="2026-04-10"
        )
        assert LetterReply.objects.get().answered_on == D(2026, 4, 10)
    with at(D(2026, 5, 5)):
        refused = billing_staff_client.post(
            reverse("admin:billing_handoff_add"), {"customer": debtor.pk, "agency": agency.pk, "invoices": [invoice.pk]}
        )
        # Seeking advice on 10 April: not before 10 May.
        assert "not before 10 May 2026" in refused.content.decode() and not Handoff.objects.exists()
    with at(D(2026, 5, 10)):
        billing_staff_client.post(
            reverse("admin:billing_handoff_add"), {"customer": debtor.pk, "agency": agency.pk, "invoices": [invoice.pk]}
        )
        handoff = Handoff.objects.get()
        pack = action(billing_staff_client, "handoff", "download_pack", [handoff])
        assert pack["Content-Type"] == "application/zip"

    page = logged_in(owner).get(reverse("billing:invoice_detail", args=[invoice.pk])).content.decode()
    assert "This debt is with Northern Recoveries LLP" in page and "EXH-001" in page
    assert "Dispute this invoice" not in page
    action(billing_staff_client, "handoff", "settle", [handoff])
    handoff.refresh_from_db()
    assert handoff.status == Handoff.Status.SETTLED and not is_held(invoice)
