"""Inbound mail must not impersonate customers: only our own mail server vouches for a sender."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts import roles
from accounts.correspondence import gateway, inbound, senders
from accounts.correspondence.models import MailKind, Message
from tests.accounts.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

OURS = "mx.provider.example"


@pytest.fixture(autouse=True)
def _our_mail_server(settings):
    settings.PORTAL_MAIL_AUTHSERV_ID = OURS


@pytest.fixture
def owner(customer, provider):
    return MembershipFactory(customer=customer, role=roles.Role.OWNER, user=UserFactory(email="jo@customer.example"))


def email(*headers: str, body: str = "Please pay here: http://evil.example/pay") -> bytes:
    return "\r\n".join([*headers, "To: support@hosting.example", "Subject: Urgent", "", body]).encode()


@pytest.mark.parametrize(
    "results, verified",
    [
        (f"{OURS}; dmarc=pass header.from=customer.example", True),
        (f"{OURS}; dkim=pass header.d=customer.example; dmarc=none", True),
        (f"{OURS}; dkim=pass header.d=mail.customer.example", True),  # a subdomain signs: aligned
        (f"{OURS}; spf=pass smtp.mailfrom=bounces@customer.example", True),
        (f"{OURS}; dkim=pass header.d=bulk-mailer.example; spf=pass smtp.mailfrom=x@bulk-mailer.example", False),
        (f"{OURS}; dmarc=fail header.from=customer.example; spf=softfail", False),
        ("mx.forger.example; dmarc=pass header.from=customer.example", False),  # not our server's header
        ("not a header at all ;;; =", False),
    ],
)
def test_the_verdict_follows_our_servers_aligned_results(results, verified):
    assert senders.check("jo@customer.example", [results]).verified is verified


def test_only_the_topmost_header_of_ours_counts(settings):
    forged_below = f"{OURS}; dmarc=pass header.from=customer.example"
    ours_on_top = f"{OURS}; dmarc=fail header.from=customer.example"
    assert not senders.check("jo@customer.example", [ours_on_top, forged_below]).verified


def test_without_a_trusted_server_nobody_is_verified(settings):
    settings.PORTAL_MAIL_AUTHSERV_ID = ""
    check = senders.check("jo@customer.example", [f"{OURS}; dmarc=pass header.from=customer.example"])
    assert not check.verified and "PORTAL_MAIL_AUTHSERV_ID" in check.detail


def test_a_forged_email_from_the_owner_is_kept_marked_and_shown_as_not_verified(owner, customer):
    forged = email("From: Jo <jo@customer.example>", "Message-ID: <forged1@evil.example>")
    message = inbound.receive(forged)
    assert message.customer == customer  # kept with the account it claims to come from: nothing lost
    assert message.sender_verified is False and "no authentication results" in message.sender_check

    client = Client()
    client.force_login(owner.user)
    page = client.get(reverse("correspondence:detail", args=[message.pk])).content.decode()
    assert "Sender not verified" in page and "could not confirm" in page
    listing = client.get(reverse("correspondence:list")).content.decode()
    assert "not verified" in listing


def test_a_genuine_email_from_the_owner_is_verified(owner, customer):
    genuine = email(
        f"Authentication-Results: {OURS}; dkim=pass header.d=customer.example; dmarc=pass header.from=customer.example",
        "From: Jo <jo@customer.example>",
        "Message-ID: <real1@customer.example>",
    )
    message = inbound.receive(genuine)
    assert message.customer == customer and message.sender_verified
    assert "DMARC pass" in message.sender_check


def test_a_forged_reply_quoting_our_message_id_does_not_join_the_conversation(owner, customer):
    ours = gateway.send_mail(
        kind=MailKind.BILLING,
        template="staff_reply",
        customer=customer,
        context={"subject": "Your invoice", "body": "Attached"},
        idempotency_key="inv-1",
    )
    forged = email(
        "From: accounts@evil.example",
        f"In-Reply-To: <{ours.message_id}>",
        f"References: <{ours.message_id}>",
        "Message-ID: <forged2@evil.example>",
    )
    message = inbound.receive(forged)
    assert message.in_reply_to is None and message.thread is None and message.customer is None
    assert message.status == Message.Status.QUARANTINED
    assert "not added to it" in message.parse_error and message.sender_verified is False


def test_an_unverified_reply_from_the_customers_own_contact_still_joins_its_conversation(owner, customer):
    """The contact's address ties it to this customer; the flag still warns staff and customer."""
    ours = gateway.send_mail(
        kind=MailKind.SERVICE,
        template="staff_reply",
        customer=customer,
        context={"subject": "Maintenance", "body": "Tonight"},
        idempotency_key="m-1",
    )
    reply = email("From: jo@customer.example", f"In-Reply-To: <{ours.message_id}>", "Message-ID: <r1@customer.example>")
    message = inbound.receive(reply)
    assert message.thread == ours and message.customer == customer and message.sender_verified is False


def test_staff_see_the_verdict_and_can_filter_unverified_mail(owner, customer, admin_client_mfa):
    message = inbound.receive(email("From: jo@customer.example", "Message-ID: <f3@evil.example>"))
    listing = admin_client_mfa.get(reverse("admin:accounts_message_changelist") + "?sender_verified__exact=0")
    assert "Not verified" in listing.content.decode()
    detail = admin_client_mfa.get(reverse("admin:accounts_message_change", args=[message.pk])).content.decode()
    assert "no authentication results" in detail


def test_mail_written_in_the_portal_is_verified_by_the_login(owner, customer):
    client = Client()
    client.force_login(owner.user)
    client.post(reverse("correspondence:write"), {"kind": "service", "subject": "Hi", "body": "From the portal"})
    message = Message.objects.get(subject="Hi")
    assert message.sender_verified is True
