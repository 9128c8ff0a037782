"""Mail under faults: emails sent through a local SMTP server that refuses some recipients for
a while (451) or for good (550), refuses whole messages for a while at DATA, is unreachable
now and then, and is killed and restarted mid-run. Counted at the end: copies each
recipient should have had, delivered once, duplicated, lost, refused for good (recorded
with the server's answer).

Run through `make bench` (bench/run.py), which prepares a scratch database. The default
size keeps `make bench` short; BENCH_MAIL_FAULTS_MESSAGES=1070 runs the audit's size.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import time

from django.conf import settings
from django.utils import timezone

MESSAGES = int(os.environ.get("BENCH_MAIL_FAULTS_MESSAGES", "200"))
CUSTOMERS = 20
SEED = 20261206


def _restart(server) -> None:
    """Kill the SMTP server and start a new one on the same port (what it accepted stays counted)."""
    from aiosmtpd.controller import Controller

    server.controller.stop()
    server.controller = Controller(server.recorder, hostname="127.0.0.1", port=server.port)
    server.controller.start()


def run() -> dict:
    from accounts import roles
    from accounts.correspondence import delivery, gateway
    from accounts.correspondence.models import MailKind, Message, MessageRecipient
    from accounts.models import ProviderDetails
    from accounts.tasks import requeue_due_messages
    from tests.accounts.factories import CustomerFactory, MembershipFactory, ProviderDetailsFactory, UserFactory
    from tests.smtp import SMTPServer

    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command
    logging.getLogger("accounts").setLevel(logging.CRITICAL)  # every fault is logged, by design
    rng = random.Random(SEED)

    if not ProviderDetails.objects.exists():  # another benchmark may have made them
        ProviderDetailsFactory()
    customers = []
    for n in range(CUSTOMERS):
        customer = CustomerFactory()
        for role, name in (
            (roles.Role.OWNER, "owner"),
            (roles.Role.BILLING, "accounts"),
            (roles.Role.TECHNICAL, "ops"),
        ):
            MembershipFactory(customer=customer, role=role, user=UserFactory(email=f"{name}{n}@faults{n}.example"))
        customers.append(customer)

    with SMTPServer() as server:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", server.port, False
        settings.EMAIL_TIMEOUT = 5
        refused_for_good = set()
        for n in range(CUSTOMERS):
            for name in ("owner", "accounts"):  # who receives billing mail
                address = f"{name}{n}@faults{n}.example"
                fate = rng.choice(["accept", "accept", "accept", "defer", "defer_twice", "refuse"])
                if fate == "defer":
                    server.refuse(address, "451 4.2.2 Mailbox full", None)
                elif fate == "defer_twice":
                    server.refuse(address, "451 4.7.1 Greylisted", "451 4.7.1 Greylisted", None)
                elif fate == "refuse":
                    server.refuse(address, "550 5.1.1 No such user")
                    refused_for_good.add(address)
        server.fail_next(*["451 4.3.0 Try later"] * max(3, MESSAGES // 50))

        started = time.perf_counter()
        for i in range(MESSAGES):
            settings.EMAIL_PORT = 9 if i % 10 == 9 else server.port  # now and then unreachable
            if i == MESSAGES // 2:
                _restart(server)  # killed and back
            gateway.send_mail(
                kind=MailKind.BILLING,
                template="staff_reply",
                customer=customers[i % CUSTOMERS],
                context={"subject": f"Fault notice {i}", "body": "Body"},
                idempotency_key=f"bench-fault-{i}",
            )
        settings.EMAIL_PORT = server.port
        sweeps = 0
        for _ in range(delivery.MAX_ATTEMPTS + 2):
            if not Message.objects.filter(status=Message.Status.QUEUED).exists():
                break
            # Time passes: every retry is due (the back-off is tested on its own).
            Message.objects.filter(status=Message.Status.QUEUED).update(
                next_attempt_at=timezone.now() - dt.timedelta(hours=3)
            )
            requeue_due_messages()
            sweeps += 1
        seconds = time.perf_counter() - started
        received = list(server.received)

    copies: dict[tuple[str, str], int] = {}
    for envelope in received:
        subject = next(
            line.split(":", 1)[1].strip()
            for line in envelope.content.decode().splitlines()
            if line.startswith("Subject:")
        )
        for rcpt in envelope.rcpt_tos:
            copies[(subject, rcpt.lower())] = copies.get((subject, rcpt.lower()), 0) + 1
    expected = once = duplicated = lost = refused = 0
    messages = Message.objects.filter(idempotency_key__startswith="bench-fault-").prefetch_related("recipients")
    for message in messages:
        for recipient in message.recipients.all():
            got = copies.get((message.subject, recipient.address.lower()), 0)
            if recipient.address in refused_for_good:
                refused += recipient.status == MessageRecipient.Status.REFUSED and "550" in recipient.reply and got == 0
                continue
            expected += 1
            once += got == 1
            duplicated += got > 1
            lost += got == 0
    still_queued = messages.filter(status__in=[Message.Status.QUEUED, Message.Status.SENDING]).count()
    addresses = sum(len(m.recipients.all()) for m in messages)
    conditions = (
        f"{MESSAGES} emails to {addresses} addresses; {len(refused_for_good)} of {CUSTOMERS * 2} mailboxes refused "
        f"for good (550), some deferred once or twice (451); whole messages deferred at DATA; unreachable every "
        f"10th send; killed and restarted half-way; {sweeps} retry sweeps"
    )
    return {
        "title": "Mail under faults",
        "rows": [
            ("Emails sent (stored and attempted)", f"{len(messages)}", conditions),
            ("Copies due (addresses not refused for good)", f"{expected}", "one per accepted address per email"),
            ("Delivered exactly once", f"{once}", "counted at the SMTP server by subject and recipient"),
            ("Duplicated", f"{duplicated}", "an address given the same email twice or more"),
            ("Lost", f"{lost}", "due but never delivered, and not recorded as refused"),
            ("Refused for good, recorded with the server's answer", f"{refused}", "status refused, reply 550"),
            ("Left queued at the end", f"{still_queued}", "after the retry sweeps"),
            ("Time to settle", f"{seconds:.1f} s", "sending, retries and sweeps, wall-clock"),
        ],
    }
