"""A legal hold on a record covers what the registry says belongs to it.

A held message keeps its attachments and their files, a held service its IP assignments, a
held invoice its payment allocations (and so the payments they belong to), a held person
their email addresses, memberships and consents: against the retention sweep and erasure.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from allauth.account.models import EmailAddress
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from accounts import roles
from accounts.audit import System
from accounts.correspondence.models import Message, MessageAttachment
from accounts.models import Customer, IPAssignment, Membership, User
from billing.models import Invoice, Payment, PaymentAllocation
from billing.receivables.payments import record_payment
from core.registry import no_personal_data, owner_paths, withdraw
from privacy.checks import check_belongs_to
from privacy.models import ConsentRecord
from privacy.services import holds
from privacy.services.erasure import erasure_plan, execute_erasure
from privacy.services.retention import sweep
from tests.accounts.factories import (
    CustomerFactory,
    IPAssignmentFactory,
    MembershipFactory,
    ServiceFactory,
    StaffFactory,
)
from tests.billing.factories import issued_invoice
from tests.privacy.test_erasure import make_message

pytestmark = pytest.mark.django_db

LONDON = timezone.get_default_timezone()
LONG_AFTER = dt.date(2045, 1, 1)


def at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), tzinfo=LONDON)


def _close(customer: Customer, on: dt.date) -> None:
    Customer.objects.filter(pk=customer.pk).update(status=Customer.Status.CLOSED, closed_at=at(on))


def _attachment(message: Message, content: bytes = b"%PDF-1.4 the contract") -> MessageAttachment:
    attachment = MessageAttachment(
        message=message, filename="contract.pdf", content_type="application/pdf", size=len(content), sha256="0" * 64
    )
    attachment.file.save("contract.pdf", ContentFile(content), save=False)
    attachment.save()
    return attachment


def test_a_held_message_keeps_its_attachment_and_the_file_through_the_sweep(django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    held, other = make_message(customer), make_message(customer)
    held_file, other_file = _attachment(held), _attachment(other)
    _close(customer, dt.date(2012, 5, 1))
    holds.place_hold(customer, reason="Claim about the contract", actor=StaffFactory(), target=held)

    with django_capture_on_commit_callbacks(execute=True):
        report = sweep(dry_run=False, today=LONG_AFTER)

    assert MessageAttachment.objects.filter(pk=held_file.pk).exists()
    assert default_storage.exists(held_file.file.name)
    entry = next(m for m in report.models if m.model == "accounts.MessageAttachment")
    assert entry.held == 1 and entry.done == 1
    # The message's sibling, not held, went with its file.
    assert not MessageAttachment.objects.filter(pk=other_file.pk).exists()
    assert not default_storage.exists(other_file.file.name)


def test_a_held_message_keeps_its_attachment_through_an_erasure(provider, django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    held = make_message(customer)
    attachment = _attachment(held)
    holds.place_hold(customer, reason="Claim about the contract", actor=StaffFactory(), target=held)

    plan = [item for item in erasure_plan(customer=customer) if item["model"] == "accounts.MessageAttachment"]
    assert [item["held"] for item in plan] == [True]
    with django_capture_on_commit_callbacks(execute=True):
        execute_erasure(customer=customer, actor=StaffFactory())

    attachment.refresh_from_db()
    assert attachment.filename == "contract.pdf" and default_storage.exists(attachment.file.name)
    assert holds.is_held(attachment)


def test_a_held_service_keeps_its_ip_assignments():
    customer = CustomerFactory()
    held = ServiceFactory(customer=customer, started_on=dt.date(2010, 1, 1), ended_on=dt.date(2012, 1, 1))
    other = ServiceFactory(customer=customer, started_on=dt.date(2010, 1, 1), ended_on=dt.date(2012, 1, 1))
    kept = IPAssignmentFactory(service=held, assigned_on=dt.date(2010, 1, 1), released_on=dt.date(2012, 1, 1))
    gone = IPAssignmentFactory(service=other, assigned_on=dt.date(2010, 1, 1), released_on=dt.date(2012, 1, 1))
    _close(customer, dt.date(2012, 1, 1))
    holds.place_hold(customer, reason="Abuse complaint from the police", actor=StaffFactory(), target=held)

    sweep(dry_run=False, today=LONG_AFTER)

    assert IPAssignment.objects.filter(pk=kept.pk).exists()
    assert not IPAssignment.objects.filter(pk=gone.pk).exists()
    assert holds.hold_reasons(IPAssignment, IPAssignment.objects.filter(pk=kept.pk)) == [
        "Abuse complaint from the police"
    ]


def test_a_held_invoice_keeps_its_payment_allocations_and_so_its_payment(provider):
    customer = CustomerFactory()
    held = issued_invoice(customer, issued_on=dt.date(2012, 6, 1))
    other = issued_invoice(customer, issued_on=dt.date(2012, 6, 1))
    paid_held = record_payment(
        customer,
        amount=held.total_gross,
        received_on=dt.date(2012, 6, 5),
        method=Payment.Method.BANK_TRANSFER,
        allocate_to=[(held, held.total_gross)],
        actor=System("tests"),
    )
    paid_other = record_payment(
        customer,
        amount=other.total_gross,
        received_on=dt.date(2012, 6, 5),
        method=Payment.Method.BANK_TRANSFER,
        allocate_to=[(other, other.total_gross)],
        actor=System("tests"),
    )
    _close(customer, dt.date(2012, 7, 1))
    holds.place_hold(customer, reason="Disputed invoice", actor=StaffFactory(), target=held)

    sweep(dry_run=False, today=LONG_AFTER)

    assert Invoice.objects.filter(pk=held.pk).exists()
    assert PaymentAllocation.objects.filter(invoice=held, payment=paid_held, amount=held.total_gross).exists()
    assert Payment.objects.filter(pk=paid_held.pk).exists()
    # The invoice not held went, with its payment and allocation.
    assert not Invoice.objects.filter(pk=other.pk).exists()
    assert not Payment.objects.filter(pk=paid_other.pk).exists()
    assert Decimal(held.total_gross) > 0


def test_a_held_person_keeps_their_email_addresses_membership_and_consents():
    customer = CustomerFactory()
    membership = MembershipFactory(customer=customer, role=roles.Role.TECHNICAL)
    person = membership.user
    consent = ConsentRecord.objects.create(
        person=person,
        purpose="analytics_cookies",
        wording="May we count your visits?",
        wording_version="1",
        method="cookie banner",
        given_at=at(dt.date(2011, 1, 1)),
        withdrawn_at=at(dt.date(2011, 6, 1)),
    )
    other = MembershipFactory(customer=customer, role=roles.Role.BILLING).user
    User.objects.filter(pk__in=[person.pk, other.pk]).update(deactivated_at=at(dt.date(2012, 1, 1)))
    _close(customer, dt.date(2012, 1, 1))
    holds.place_hold(customer, reason="Employment tribunal", actor=StaffFactory(), target=person)

    sweep(dry_run=False, today=LONG_AFTER)

    assert EmailAddress.objects.filter(user=person, email=person.email).exists()
    assert Membership.objects.filter(pk=membership.pk).exists()
    assert ConsentRecord.objects.filter(pk=consent.pk).exists()
    assert not EmailAddress.objects.filter(user=other).exists()
    assert not Membership.objects.filter(user=other).exists()


def test_erasing_a_held_person_keeps_their_email_addresses_and_membership(provider):
    customer = CustomerFactory()
    MembershipFactory(customer=customer, role=roles.Role.OWNER)
    membership = MembershipFactory(customer=customer, role=roles.Role.TECHNICAL)
    person = membership.user
    holds.place_hold(customer, reason="Employment tribunal", actor=StaffFactory(), target=person)

    plan = {item["model"]: item for item in erasure_plan(person=person) if item["held"]}
    assert {"account.EmailAddress", "accounts.Membership", "accounts.User"} <= set(plan)
    execute_erasure(person=person, actor=StaffFactory())

    assert EmailAddress.objects.filter(user=person, email=person.email).exists()
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_owner_paths_are_the_person_and_the_declared_records():
    assert owner_paths(MessageAttachment) == ("message__person", "message")
    assert owner_paths(PaymentAllocation) == ("invoice", "payment", "released_by")
    assert owner_paths(User) == ()


def test_a_belongs_to_path_must_follow_a_foreign_key_to_one_record():
    @no_personal_data("Scratch", belongs_to=["nothing"])
    class _Scratch:
        class _meta:
            label = "tests.Scratch"

    try:
        errors = check_belongs_to(Membership, ("nothing",))
        assert errors and "has no field 'nothing'" in errors[0].msg
        errors = check_belongs_to(Membership, ("role",))
        assert errors and "must follow a foreign key to one record" in errors[0].msg
        assert check_belongs_to(Membership, ("customer",)) == []
    finally:
        withdraw("tests.Scratch")
