"""Upgrading an installation: threads already stored become conversations, waiting for us
when the customer wrote last, else waiting for the customer (accounts 0024)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("accounts", "0023_labels_in_plain_words")]
AFTER = [("accounts", "0024_conversations")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def _back_to_latest():
    yield
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())  # the other tests need today's schema


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_back_to_latest")
def test_existing_threads_get_a_status_from_who_wrote_last():
    old = _migrate(BEFORE)
    ProviderDetails = old.get_model("accounts", "ProviderDetails")
    Customer = old.get_model("accounts", "Customer")
    Message = old.get_model("accounts", "Message")
    ProviderDetails.objects.create(
        pk=1, registered_name="Example Hosting Ltd", company_number="01234567", registered_office="1 Street",
        support_email="support@x.example", billing_email="billing@x.example", abuse_email="abuse@x.example",
        privacy_email="privacy@x.example",
    )  # fmt: skip
    customer = Customer.objects.create(registered_name="Acme Ltd")
    start = timezone.now() - dt.timedelta(days=10)
    count = iter(range(1000))

    def message(direction, *, thread=None, template="", status=None, kind="service", to=(), days=0, **extra):
        n = next(count)
        return Message.objects.create(
            customer=extra.pop("customer", customer),
            direction=direction,
            kind=kind,
            status=status or ("received" if direction == "in" else "sent"),
            message_id=f"m{n}@x.example",
            from_address="owner@acme.example" if direction == "in" else "support@x.example",
            to_addresses=list(to),
            thread=thread,
            template=template,
            created_at=start + dt.timedelta(days=days, minutes=n),
        )

    unanswered = message("in", to=["support@x.example"])
    answered = message("in", to=["privacy@x.example"], kind="privacy")
    message("out", thread=answered, template="staff_reply", kind="privacy", days=1)
    acknowledged = message("in", to=["support@x.example"])  # written in the portal
    message("out", thread=acknowledged, template="acknowledgement")  # not an answer
    invoice = message("out", template="invoice", kind="billing")
    message("in", thread=invoice, kind="billing", to=["billing@x.example"], days=2)
    reopened = message("in")
    message("out", thread=reopened, template="staff_reply", days=1)
    message("in", thread=reopened, days=3)
    ours_only = message("out", template="maintenance")
    message("in", status="quarantined", customer=None)

    new = _migrate(AFTER)
    Conversation = new.get_model("accounts", "Conversation")
    found = {c.root_id: c for c in Conversation.objects.all()}

    assert set(found) == {unanswered.pk, answered.pk, acknowledged.pk, invoice.pk, reopened.pk}
    assert ours_only.pk not in found
    assert (found[unanswered.pk].status, found[unanswered.pk].department) == ("waiting_us", "support")
    assert (found[answered.pk].status, found[answered.pk].department) == ("waiting_customer", "privacy")
    assert found[acknowledged.pk].status == "waiting_us"
    assert (found[invoice.pk].status, found[invoice.pk].department) == ("waiting_us", "billing")
    assert found[reopened.pk].status == "waiting_us"
    assert found[reopened.pk].status_since == Message.objects.filter(thread=reopened.pk).latest("created_at").created_at
