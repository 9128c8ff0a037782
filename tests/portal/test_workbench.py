"""The admin's home page lists what needs attention now, per staff group."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import roles
from accounts.correspondence import conversations, inbound
from accounts.correspondence.models import Conversation, MailKind
from tests.accounts.factories import MembershipFactory, StaffFactory, enable_totp
from tests.billing.factories import issued_invoice

pytestmark = pytest.mark.django_db


def staff_client(group: str) -> Client:
    person = StaffFactory()
    person.groups.add(Group.objects.get(name=group))
    enable_totp(person)
    client = Client()
    client.force_login(person)
    return client


def test_each_group_sees_its_own_queues_with_links_to_the_work(customer, provider):
    MembershipFactory(customer=customer, role=roles.Role.OWNER, user__email="owner@c.example")
    question = inbound.receive(b"From: owner@c.example\r\nSubject: Server down?\r\n\r\nweb-01 does not answer")
    # Issued long enough ago to be overdue (an issued document's dates never change afterwards).
    overdue = issued_invoice(customer, issued_on=timezone.localdate() - dt.timedelta(days=60))
    days_overdue = (timezone.localdate() - overdue.due_on).days
    assert days_overdue > 0

    support = staff_client(roles.SUPPORT_GROUP).get(reverse("admin:index")).content.decode()
    assert "Customers waiting for an answer" in support and "Server down?" in support
    conversation = Conversation.objects.get(root=question)
    assert reverse("admin:accounts_conversation_change", args=[conversation.pk]) in support
    assert "Overdue invoices" not in support  # not support's work

    billing = staff_client(roles.BILLING_GROUP).get(reverse("admin:index")).content.decode()
    assert (
        "Overdue invoices" in billing and str(overdue.number) in billing and f"due {days_overdue} days ago" in billing
    )
    assert "Server down?" not in billing  # a service question is support's
    assert "Privacy requests by days left" not in billing

    privacy = staff_client(roles.PRIVACY_GROUP).get(reverse("admin:index")).content.decode()
    assert "Privacy requests by days left" in privacy and "Retention sweep" in privacy


def test_a_reply_takes_the_message_off_the_queue(customer, provider):
    from accounts.correspondence import services

    MembershipFactory(customer=customer, role=roles.Role.OWNER, user__email="owner@c.example")
    question = inbound.receive(b"From: owner@c.example\r\nSubject: Server down?\r\n\r\nweb-01 does not answer")
    assert question.kind == MailKind.SERVICE
    staff = StaffFactory()
    services.reply(question, body="Restarted it.", actor=staff, attachments=[])
    page = staff_client(roles.SUPPORT_GROUP).get(reverse("admin:index")).content.decode()
    assert "Server down?" not in page


def test_the_queue_is_conversations_waiting_for_us_oldest_first_with_desk_and_assignee(customer, provider):
    from accounts.correspondence import services

    MembershipFactory(customer=customer, role=roles.Role.OWNER, user__email="owner@c.example")
    older = inbound.receive(b"From: owner@c.example\r\nSubject: Older question\r\n\r\nHello")
    newer = inbound.receive(b"From: owner@c.example\r\nSubject: Newer question\r\n\r\nHello")
    answered = inbound.receive(b"From: owner@c.example\r\nSubject: Answered question\r\n\r\nHello")
    closed = inbound.receive(b"From: owner@c.example\r\nSubject: Closed question\r\n\r\nHello")
    inbound.receive(b"From: owner@c.example\r\nTo: billing@hosting.example\r\nSubject: Billing question\r\n\r\nHello")
    Conversation.objects.filter(root=older).update(status_since=timezone.now() - dt.timedelta(days=3))
    agent = StaffFactory(full_name="Sam Agent")
    conversations.change(Conversation.objects.get(root=newer), actor=agent, assignee=agent)
    services.reply(answered, body="Done.", actor=agent)
    conversations.close(Conversation.objects.get(root=closed), actor=agent)

    page = staff_client(roles.SUPPORT_GROUP).get(reverse("admin:index")).content.decode()

    assert page.index("Older question") < page.index("Newer question")
    assert "Answered question" not in page and "Closed question" not in page
    assert "Billing question" not in page  # billing's desk
    assert "Support, not assigned, waiting 3 days" in page and "Support, assigned to Sam Agent" in page
    changelist = reverse("admin:accounts_conversation_changelist")
    assert f"{changelist}?status__exact=waiting_us&amp;department__exact=support" in page
    assert "Billing question" in staff_client(roles.BILLING_GROUP).get(reverse("admin:index")).content.decode()

    # The customer writes again in the answered conversation: it is back in the queue.
    services.write_to_us(
        customer.memberships.get(), kind=MailKind.SERVICE, subject="Re", body="Not done", in_reply_to=answered
    )
    assert "Answered question" in staff_client(roles.SUPPORT_GROUP).get(reverse("admin:index")).content.decode()


def test_the_home_page_query_count_does_not_grow_with_the_queues(customer, provider, django_assert_max_num_queries):
    MembershipFactory(customer=customer, role=roles.Role.OWNER, user__email="owner@c.example")
    for n in range(12):
        inbound.receive(f"From: owner@c.example\r\nSubject: Question {n}\r\n\r\nHello".encode())
    client = Client()
    admin = StaffFactory(is_superuser=True)
    enable_totp(admin)
    client.force_login(admin)
    with django_assert_max_num_queries(40):
        assert client.get(reverse("admin:index")).status_code == 200
