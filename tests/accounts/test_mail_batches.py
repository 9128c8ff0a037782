"""Delivery in batches (``delivery.deliver_many``, the sweep's ``deliver_messages`` task): one
claim and one SMTP connection for many messages, each marked as soon as the server answered
for it, and the same guarantees as one at a time."""

from __future__ import annotations

import os

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import roles, tasks
from accounts.correspondence import delivery, gateway
from accounts.correspondence.models import MailKind, Message, MessageRecipient
from tests.accounts.factories import MembershipFactory, UserFactory
from tests.accounts.test_mail_gateway import _due_now, _recipients

pytestmark = pytest.mark.django_db(transaction=True)


def _stored(customer, count: int, *, key: str, body: str = "Body") -> list[Message]:
    """``count`` billing messages stored for ``customer`` and left queued: the
    after-commit delivery holds back while they are stored."""
    tasks.in_process.pause()
    try:
        return [
            gateway.send_mail(
                kind=MailKind.BILLING,
                template="staff_reply",
                context={"subject": f"Notice {n}", "body": body},
                customer=customer,
                idempotency_key=f"{key}-{n}",
            )
            for n in range(count)
        ]
    finally:
        tasks.in_process.resume()


@pytest.fixture
def queued(customer, provider):
    """Five stored billing messages (to the owner and the billing contact) that nothing
    has tried to deliver yet."""
    for role, address in (
        (roles.Role.OWNER, "owner@customer.example"),
        (roles.Role.BILLING, "accounts@customer.example"),
    ):
        MembershipFactory(customer=customer, role=role, user=UserFactory(email=address))
    messages = _stored(customer, 5, key="batch")
    assert set(Message.objects.values_list("status", flat=True)) == {Message.Status.QUEUED}
    return messages


def _subject(envelope) -> str:
    return next(
        line.split(":", 1)[1].strip() for line in envelope.content.decode().splitlines() if line.startswith("Subject:")
    )


def test_a_batch_is_claimed_once_sent_on_one_connection_and_each_marked(queued, smtp_server):
    ids = [m.pk for m in queued]
    with CaptureQueriesContext(connection) as queries:
        outcomes = delivery.deliver_many(ids)
    assert {pk: o.status for pk, o in outcomes.items()} == dict.fromkeys(ids, "sent")
    assert [_subject(e) for e in smtp_server.received] == [f"Notice {n}" for n in range(5)]
    assert len({e.peer for e in smtp_server.received}) == 1  # one connection for the batch
    for message in Message.objects.filter(pk__in=ids):
        assert message.status == Message.Status.SENT and message.attempts == 1 and message.sent_at
        assert set(_recipients(message).values()) == {"accepted"}
    # One claim, the recipients (recorded on this first delivery) and attachments read once
    # for all, then per message its recipients and itself marked: in one transaction, on
    # PostgreSQL in one statement.
    transaction_control = ("SAVEPOINT", "RELEASE", "BEGIN", "COMMIT")
    statements = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(transaction_control)]
    per_message = 1 if connection.vendor == "postgresql" else 2
    assert len(statements) <= 5 + per_message * len(ids), statements
    assert delivery.deliver_many(ids) == {}  # safe to run twice: nothing is due
    assert len(smtp_server.received) == 5


def test_a_message_refused_mid_batch_is_recorded_and_the_rest_still_go(queued, smtp_server):
    smtp_server.fail_next("554 5.7.1 Content rejected", "451 4.3.0 Try later")
    ids = [m.pk for m in queued]
    outcomes = delivery.deliver_many(ids)
    assert [outcomes[pk].status for pk in ids] == ["failed", "retry", "sent", "sent", "sent"]
    first, second = Message.objects.get(pk=ids[0]), Message.objects.get(pk=ids[1])
    assert first.status == Message.Status.FAILED and "554 5.7.1 Content rejected" in first.last_error
    assert set(_recipients(first).values()) == {"refused"}
    assert first.recipients.filter(reply__contains="554 5.7.1").count() == 2
    assert second.status == Message.Status.QUEUED and second.next_attempt_at > timezone.now()
    assert set(_recipients(second).values()) == {"deferred"}
    assert sorted(_subject(e) for e in smtp_server.received) == ["Notice 2", "Notice 3", "Notice 4"]
    # The deferred one goes out with the next sweep once due, once.
    _due_now(second)
    assert tasks.requeue_due_messages() == 1
    assert Message.objects.get(pk=second.pk).status == Message.Status.SENT
    assert sorted(_subject(e) for e in smtp_server.received) == [f"Notice {n}" for n in range(1, 5)]


def test_a_recipient_refused_mid_batch_keeps_the_connection_for_the_rest(queued, smtp_server):
    smtp_server.refuse("accounts@customer.example", "550 5.1.1 No such user")
    ids = [m.pk for m in queued]
    assert {o.status for o in delivery.deliver_many(ids).values()} == {"failed"}
    assert smtp_server.delivered_to("owner@customer.example") == 5
    assert smtp_server.delivered_to("accounts@customer.example") == 0
    assert len({e.peer for e in smtp_server.received}) == 1
    assert MessageRecipient.objects.filter(status="refused", reply="550 5.1.1 No such user").count() == 5


def test_an_unreachable_server_stops_the_batch_and_gives_the_rest_back(queued, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, False, 2
    ids = [m.pk for m in queued]
    outcomes = delivery.deliver_many(ids)
    assert list(outcomes) == [ids[0]] and outcomes[ids[0]].server_trouble
    tried = Message.objects.get(pk=ids[0])
    assert tried.status == Message.Status.QUEUED and tried.attempts == 1 and tried.last_error
    for message in Message.objects.filter(pk__in=ids[1:]):  # not tried: as they were
        assert message.status == Message.Status.QUEUED and message.attempts == 0
        assert set(_recipients(message).values()) == {"pending"}


def test_messages_claimed_by_another_worker_are_left_to_it(queued, smtp_server):
    ids = [m.pk for m in queued]
    Message.objects.filter(pk=ids[2]).update(status=Message.Status.SENDING, claimed_at=timezone.now())
    outcomes = delivery.deliver_many(ids)
    assert sorted(outcomes) == sorted([*ids[:2], *ids[3:]])
    assert "Notice 2" not in [_subject(e) for e in smtp_server.received]
    assert Message.objects.get(pk=ids[2]).status == Message.Status.SENDING


def test_the_sweep_delivers_due_messages_in_batches(queued, smtp_server, monkeypatch):
    monkeypatch.setattr(tasks, "SWEEP_BATCH", 2)
    for message in queued:
        _due_now(message)
    assert tasks.requeue_due_messages() == 5
    assert set(Message.objects.values_list("status", flat=True)) == {Message.Status.SENT}
    assert len(smtp_server.received) == 5
    assert len({e.peer for e in smtp_server.received}) == 3  # batches of 2, 2 and 1


@pytest.mark.postgres
def test_a_row_another_worker_is_claiming_is_skipped_not_waited_for(queued, smtp_server):
    if connection.vendor != "postgresql":
        if os.environ.get("CI"):
            pytest.fail("CI runs on PostgreSQL; this test must run there")
        pytest.skip("needs PostgreSQL (DATABASE_URL=postgres://...)")
    import psycopg

    db = connection.settings_dict
    other = psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"])
    ids = [m.pk for m in queued]
    try:
        other.execute(f"SELECT 1 FROM {Message._meta.db_table} WHERE id = %s FOR UPDATE", [ids[0]])  # noqa: S608
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '5s'")  # waiting would fail the test, not hang it
        outcomes = delivery.deliver_many(ids)
        assert sorted(outcomes) == sorted(ids[1:])
    finally:
        other.rollback()
        other.close()
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
    assert Message.objects.get(pk=ids[0]).status == Message.Status.QUEUED
    assert delivery.deliver_many(ids) == {ids[0]: delivery.Outcome("sent")}
    assert sorted(_subject(e) for e in smtp_server.received) == [f"Notice {n}" for n in range(5)]


@pytest.mark.postgres
def test_a_claim_finds_its_messages_by_id_however_much_mail_went_before(customer, provider, smtp_server):
    """Every message claimed and sent leaves an entry in the status index until a vacuum
    (each change of status is a new row version). The claim must find its messages by
    their ids, not by reading that index, or it costs more the more mail went before."""
    if connection.vendor != "postgresql":
        if os.environ.get("CI"):
            pytest.fail("CI runs on PostgreSQL; this test must run there")
        pytest.skip("needs PostgreSQL (DATABASE_URL=postgres://...)")
    MembershipFactory(customer=customer, role=roles.Role.OWNER, user=UserFactory(email="owner@customer.example"))
    earlier = Message.objects.bulk_create(
        [
            Message(
                customer=customer,
                direction=Message.Direction.OUTBOUND,
                kind=MailKind.BILLING,
                status=Message.Status.QUEUED,
                message_id=f"earlier-{n}@hosting.example",
                from_address="billing@hosting.example",
                to_addresses=["owner@customer.example"],
                subject="Your invoice",
                body_text="An invoice is attached. " * 60,
            )
            for n in range(3000)
        ]
    )
    for status in (Message.Status.SENDING, Message.Status.SENT):  # claimed, then sent: a day's mail
        Message.objects.filter(pk__in=[m.pk for m in earlier]).update(status=status)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Message._meta.db_table}")  # as autovacuum would have: none queued
    ids = [message.pk for message in _stored(customer, 10, key="after", body="Body " * 300)]
    with connection.cursor() as cursor:
        sql, params = delivery._claim_statement(ids)
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    index = next(i.name for i in Message._meta.indexes if i.fields == ["status", "next_attempt_at"])
    assert index not in plan, plan
    assert f"{Message._meta.db_table}_pkey" in plan, plan
    assert sorted(delivery.deliver_many(ids)) == sorted(ids)
    assert len(smtp_server.received) == 10


def test_a_database_error_while_marking_gives_back_the_messages_not_yet_tried(queued, smtp_server, monkeypatch):
    ids = [m.pk for m in queued]
    real_apply = delivery._apply

    def failing_on_the_second(updates):
        if len(smtp_server.received) == 2:
            raise OperationalError("the database went away")
        real_apply(updates)

    monkeypatch.setattr(delivery, "_apply", failing_on_the_second)
    with pytest.raises(OperationalError):
        delivery.deliver_many(ids)
    statuses = dict(Message.objects.filter(pk__in=ids).values_list("pk", "status"))
    assert statuses[ids[0]] == Message.Status.SENT
    assert statuses[ids[1]] == Message.Status.SENDING  # sent, not marked: its lease must end first
    assert [statuses[pk] for pk in ids[2:]] == [Message.Status.QUEUED] * 3  # not tried: given back
    assert list(Message.objects.filter(pk__in=ids[2:]).values_list("attempts", flat=True)) == [0, 0, 0]
    monkeypatch.setattr(delivery, "_apply", real_apply)
    assert sorted(delivery.deliver_many(ids)) == sorted(ids[2:])  # the second waits for its lease
    assert len(smtp_server.received) == 5  # nobody got a second copy


def test_messages_stored_in_a_delivery_batch_go_together_on_one_connection_as_it_ends(
    customer, provider, smtp_server, monkeypatch
):
    MembershipFactory(customer=customer, role=roles.Role.BILLING, user=UserFactory(email="accounts@customer.example"))
    monkeypatch.setattr(tasks, "SWEEP_BATCH", 2)
    with tasks.delivery_batch():
        for n in range(3):
            gateway.send_mail(
                kind=MailKind.BILLING,
                template="staff_reply",
                context={"subject": f"Notice {n}", "body": "Body"},
                customer=customer,
                idempotency_key=f"together-{n}",
            )
        assert not smtp_server.received  # held back until the batch ends

    assert set(Message.objects.values_list("status", flat=True)) == {Message.Status.SENT}
    assert sorted(_subject(e) for e in smtp_server.received) == ["Notice 0", "Notice 1", "Notice 2"]
    assert len({e.peer for e in smtp_server.received}) == 2  # batches of 2 and 1
