"""Regressions for leaks a security review found in the privacy centre."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pytest
from allauth.account.models import EmailAddress
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import roles
from accounts.correspondence import inbound
from accounts.correspondence.models import Message
from privacy.models import DataExport, DisclosureEntry
from privacy.services import erasure, holds, ledger, retention
from privacy.services import export as export_service
from privacy.services import requests as services
from tests.accounts.factories import CustomerFactory, MembershipFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db


def _zip_bytes(export: DataExport) -> bytes:
    with default_storage.open(export.file.name, "rb") as handle:
        archive = zipfile.ZipFile(io.BytesIO(handle.read()))
        return b"".join(archive.read(name) for name in archive.namelist())


def test_an_owners_export_leaves_out_contacts_requests_about_themselves(provider):
    customer = CustomerFactory()
    owner = MembershipFactory(customer=customer, role=roles.Role.OWNER).user
    technical = MembershipFactory(customer=customer, role=roles.Role.TECHNICAL)
    dsr = services.open_request_from_portal(technical, "erasure", "SECRET-DETAILS of my own", "uk_gdpr")
    services.add_note(dsr, text="STAFF-INTERNAL-NOTE", actor=None)
    export = export_service.build_export(DataExport.objects.create(requested_by=owner, customer=customer).pk)
    blob = _zip_bytes(export)
    assert b"SECRET-DETAILS" not in blob and b"STAFF-INTERNAL-NOTE" not in blob
    own = export_service.build_export(DataExport.objects.create(requested_by=owner, person=technical.user).pk)
    assert b"SECRET-DETAILS" in _zip_bytes(own)  # it is the contact's own data


def test_a_reply_to_mail_about_one_persons_request_stays_theirs(provider):
    customer = CustomerFactory()
    person = MembershipFactory(customer=customer, role=roles.Role.OWNER, user=UserFactory(email="p@example.org"))
    colleague = MembershipFactory(customer=customer, role=roles.Role.BILLING).user
    dsr = services.open_request_from_portal(person, "erasure", "x", "uk_gdpr")
    ours = Message.objects.get(related_id=str(dsr.pk))
    reply = inbound.receive(
        f"From: p@example.org\r\nTo: {provider.privacy_email}\r\nSubject: Re: your request\r\n"
        f"Message-ID: <r1@example.org>\r\nIn-Reply-To: <{ours.message_id}>\r\n\r\nMY PASSPORT NUMBER 123\r\n".encode()
    )
    assert (reply.person, reply.in_reply_to) == (person.user, ours)
    assert reply.status == Message.Status.RECEIVED
    client = Client()
    client.force_login(colleague)
    assert client.get(reverse("correspondence:detail", args=[reply.pk])).status_code == 404
    assert b"PASSPORT" not in client.get(reverse("correspondence:list")).content


def test_a_whole_customer_hold_covers_its_contacts_personal_records(provider):
    customer = CustomerFactory()
    person = MembershipFactory(customer=customer, role=roles.Role.OWNER)
    EmailAddress.objects.filter(user=person.user).update(verified=True)
    dsr = services.open_request_from_portal(person, "access", "x", "uk_gdpr")
    personal_mail = Message.objects.get(related_id=str(dsr.pk))
    assert personal_mail.customer_id is None
    holds.place_hold(customer, reason="PACE production order", actor=StaffFactory())
    assert holds.is_held(personal_mail)
    plan = [item for item in erasure.erasure_plan(person=person.user) if item["model"] == "accounts.Message"]
    assert plan and all(item["held"] or item["action"] == "keep" for item in plan)


def test_the_retention_sweep_never_prunes_the_hash_chained_ledger(provider):
    customer = CustomerFactory()
    first = ledger.record_disclosure(
        recipient_kind="accountant", recipient="A", purpose="p", legal_basis="b", categories=[], customers=[customer]
    )
    ledger.record_disclosure(
        recipient_kind="accountant", recipient="B", purpose="p", legal_basis="b", categories=[], customers=[customer]
    )
    DisclosureEntry.objects.filter(pk=first.pk).update(created_at=first.created_at - dt.timedelta(days=365 * 8))
    retention.sweep(dry_run=False, today=timezone.localdate() + dt.timedelta(days=365 * 8))
    assert DisclosureEntry.objects.count() == 2
