"""Mail under faults, against a real SMTP server on loopback (tests/smtp.py): recipients
refused for now or for good at RCPT, whole messages refused for now at DATA, the server
down for a while. Every recipient ends with exactly one copy or a recorded refusal;
nothing is lost, nothing is sent twice, and a message is sent only when all accepted."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.utils import timezone

from accounts import roles
from accounts.correspondence import delivery, gateway
from accounts.correspondence.models import MailKind, Message, MessageRecipient
from accounts.tasks import requeue_due_messages
from tests.accounts.factories import CustomerFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGES = 40


def _sweep_until_settled(server_up) -> None:
    for _ in range(delivery.MAX_ATTEMPTS + 2):
        Message.objects.filter(status=Message.Status.QUEUED).update(
            next_attempt_at=timezone.now() - dt.timedelta(hours=3)
        )
        server_up()
        requeue_due_messages()
        if not Message.objects.filter(status=Message.Status.QUEUED).exists():
            return


def test_every_recipient_gets_one_copy_or_a_recorded_refusal(provider, smtp_server, settings):
    rng = random.Random(20261206)
    customers = []
    for n in range(MESSAGES // 4):
        customer = CustomerFactory()
        for role, name in ((roles.Role.OWNER, "owner"), (roles.Role.BILLING, "accounts")):
            MembershipFactory(customer=customer, role=role, user=UserFactory(email=f"{name}{n}@c{n}.example"))
        customers.append(customer)
    refused_for_good, deferred_once = set(), set()
    for n in range(len(customers)):
        fate = rng.choice(["accept", "accept", "defer", "refuse"])
        address = f"accounts{n}@c{n}.example"
        if fate == "defer":
            smtp_server.refuse(address, "451 4.2.2 Mailbox full", None)
            deferred_once.add(address)
        elif fate == "refuse":
            smtp_server.refuse(address, "550 5.1.1 No such user")
            refused_for_good.add(address)
    assert refused_for_good and deferred_once  # the seed gives every kind of fault
    smtp_server.fail_next(*["451 4.3.0 Try later"] * 3)  # three whole messages refused for now

    real_port = settings.EMAIL_PORT
    for i in range(MESSAGES):
        down = i % 10 == 9  # now and then the server is unreachable
        settings.EMAIL_PORT = 9 if down else real_port
        gateway.send_mail(
            kind=MailKind.BILLING,
            template="staff_reply",
            customer=customers[i % len(customers)],
            context={"subject": f"Notice {i}", "body": "Body"},
            idempotency_key=f"fault-{i}",
        )

    def server_up():
        settings.EMAIL_PORT = real_port

    _sweep_until_settled(server_up)

    assert Message.objects.count() == MESSAGES
    assert not Message.objects.filter(status__in=[Message.Status.QUEUED, Message.Status.SENDING]).exists()
    copies: dict[tuple[str, str], int] = {}
    for envelope in smtp_server.received:
        subject = next(
            line.split(":", 1)[1].strip()
            for line in envelope.content.decode().splitlines()
            if line.startswith("Subject:")
        )
        for rcpt in envelope.rcpt_tos:
            copies[(subject, rcpt)] = copies.get((subject, rcpt), 0) + 1
    assert set(copies.values()) == {1}  # nothing twice
    for message in Message.objects.prefetch_related("recipients"):
        for recipient in message.recipients.all():
            got = copies.get((message.subject, recipient.address), 0)
            if recipient.address in refused_for_good:
                assert (recipient.status, got) == (MessageRecipient.Status.REFUSED, 0)
                assert "550 5.1.1 No such user" in recipient.reply
            else:
                assert (recipient.status, got) == (MessageRecipient.Status.ACCEPTED, 1)  # nothing lost
        refused = any(r.address in refused_for_good for r in message.recipients.all())
        assert message.status == (Message.Status.FAILED if refused else Message.Status.SENT)
