"""A member of support staff finds a waiting conversation on the admin's home page, replies
to one contact they choose, and only that contact is sent the email; the customer then
sees the conversation waiting for their reply."""

from __future__ import annotations

import re
import time

import pytest
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.contrib.auth.models import Group
from django.core import mail
from playwright.sync_api import expect

from accounts import roles
from accounts.correspondence import inbound
from accounts.correspondence.models import Conversation, Message, MessageRecipient
from tests.accounts.factories import MembershipFactory, StaffFactory, UserFactory, enable_totp

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple 42"


def _code(secret: str) -> str:
    period = mfa_settings.TOTP_PERIOD
    if period - time.time() % period < 2:
        time.sleep(2.1)
    return format_hotp_value(hotp_value(secret, int(time.time()) // period))


def _log_in(page, base: str, email: str, secret: str | None = None) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label(re.compile(r"^Email( address)?:?$", re.I)).fill(email)
    password = page.get_by_label(re.compile(r"^Password:?$", re.I))
    password.fill(PASSWORD)
    password.press("Enter")
    if secret:
        code = page.get_by_label(re.compile(r"code", re.I))
        code.fill(_code(secret))
        code.press("Enter")
    page.wait_for_load_state()


def test_staff_reply_to_the_one_contact_they_choose(live_server, migration_rows, page, customer, provider):
    owner = MembershipFactory(
        customer=customer, role=roles.Role.OWNER, user=UserFactory(email="owner@c.example", password=PASSWORD)
    )
    MembershipFactory(customer=customer, role=roles.Role.TECHNICAL, user=UserFactory(email="ops@c.example"))
    MembershipFactory(customer=customer, role=roles.Role.TECHNICAL, user=UserFactory(email="noc@c.example"))
    question = inbound.receive(
        b"From: noc@c.example\r\nTo: support@hosting.example\r\nSubject: Packet loss on web-01\r\n\r\nSince 9am."
    )
    agent = StaffFactory(email="agent@hosting.example", password=PASSWORD)
    agent.groups.add(Group.objects.get(name=roles.SUPPORT_GROUP))
    secret = enable_totp(agent)
    mail.outbox.clear()

    _log_in(page, live_server.url, agent.email, secret)
    page.goto(f"{live_server.url}/admin/")
    expect(page.locator("#content")).to_contain_text("Customers waiting for an answer")
    page.get_by_role("link", name=re.compile("Packet loss on web-01")).click()
    expect(page.locator("#content")).to_contain_text("Waiting for us")
    page.get_by_role("link", name="Reply", exact=True).click()

    writer = page.get_by_label(re.compile("noc@c.example"))
    expect(writer).to_be_checked()  # by default, the person who wrote
    expect(page.get_by_label(re.compile("owner@c.example"))).not_to_be_checked()
    writer.uncheck()
    page.get_by_label(re.compile("ops@c.example")).check()
    page.get_by_label("Your reply").fill("We moved web-01 to another switch.")
    page.get_by_role("button", name="Send reply").click()
    expect(page.locator("#content")).to_contain_text("We moved web-01")

    answer = Message.objects.get(direction=Message.Direction.OUTBOUND, template="staff_reply")
    assert answer.to_addresses == ["ops@c.example"]
    assert list(MessageRecipient.objects.filter(message=answer).values_list("address", "status")) == [
        ("ops@c.example", MessageRecipient.Status.ACCEPTED)
    ]
    sent = [email for email in mail.outbox if "Packet loss on web-01" in email.subject]
    assert len(sent) == 1 and sent[0].recipients() == ["ops@c.example"]
    assert Conversation.objects.get(root=question).status == Conversation.Status.WAITING_FOR_CUSTOMER

    # The customer sees whose turn it is.
    page.context.clear_cookies()
    _log_in(page, live_server.url, owner.user.email)
    page.goto(f"{live_server.url}/correspondence/")
    row = page.get_by_role("row", name=re.compile("Packet loss on web-01"))
    expect(row).to_contain_text("Waiting for your reply")
