from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from accounts import roles
from accounts.correspondence import gateway, inbound
from accounts.correspondence.models import MailKind, Message
from tests.accounts.factories import MembershipFactory, UserFactory, enable_totp

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def people(customer, provider):
    def make(role, address):
        return MembershipFactory(customer=customer, role=role, user=UserFactory(email=address))

    return {
        "owner": make(roles.Role.OWNER, "owner@c.example"),
        "tech": make(roles.Role.TECHNICAL, "ops@c.example"),
        "billing": make(roles.Role.BILLING, "money@c.example"),
    }


def client_for(membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    return client


def send(customer, kind, subject, key, **extra):
    return gateway.send_mail(
        kind=kind,
        template="staff_reply",
        customer=customer,
        idempotency_key=key,
        context={"subject": subject, "body": f"Body of {subject}"},
        **extra,
    )


def test_list_shows_both_directions_newest_first_as_threads(customer, people):
    first = send(customer, MailKind.SERVICE, "Maintenance on Friday", "m1")
    inbound.receive(
        f"From: owner@c.example\r\nSubject: Re: Maintenance\r\nIn-Reply-To: <{first.message_id}>\r\n"
        "\r\nWhich hours?".encode()
    )
    send(customer, MailKind.SERVICE, "New IP block", "m2")
    page = client_for(people["owner"]).get(reverse("correspondence:list")).content.decode()
    assert page.index("New IP block") < page.index("Maintenance on Friday")
    assert "Re: Maintenance" not in page  # the reply is inside its thread, not a row of its own
    thread = client_for(people["owner"]).get(reverse("correspondence:detail", args=[first.pk])).content.decode()
    assert "Body of Maintenance on Friday" in thread and "Which hours?" in thread
    assert "From owner@c.example" in thread


def test_contacts_see_only_the_kinds_their_role_receives(customer, people):
    bill = send(customer, MailKind.BILLING, "Invoice INV-1", "b1")
    send(customer, MailKind.ABUSE, "Abuse report", "a1")
    tech_page = client_for(people["tech"]).get(reverse("correspondence:list")).content.decode()
    assert "Abuse report" in tech_page and "Invoice INV-1" not in tech_page
    assert client_for(people["tech"]).get(reverse("correspondence:detail", args=[bill.pk])).status_code == 404
    billing_page = client_for(people["billing"]).get(reverse("correspondence:list")).content.decode()
    assert "Invoice INV-1" in billing_page and "Abuse report" not in billing_page


def test_filter_by_kind(customer, people):
    send(customer, MailKind.BILLING, "Invoice INV-2", "b2")
    send(customer, MailKind.SERVICE, "Reboot tonight", "s2")
    page = client_for(people["owner"]).get(reverse("correspondence:list"), {"kind": "billing"}).content.decode()
    assert "Invoice INV-2" in page and "Reboot tonight" not in page


def test_attachments_download_as_stored(customer, people):
    pdf = b"%PDF-1.7 invoice bytes"
    message = send(
        customer,
        MailKind.BILLING,
        "Invoice INV-3",
        "b3",
        attachments=[gateway.Attachment("INV-3.pdf", pdf, "application/pdf")],
    )
    attachment = message.attachments.get()
    response = client_for(people["billing"]).get(reverse("correspondence:attachment", args=[message.pk, attachment.pk]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == pdf
    assert response["Content-Disposition"] == 'attachment; filename="INV-3.pdf"'
    assert response["Cache-Control"] == "private, no-store"


def test_writing_to_us_keeps_the_message_and_acknowledges_it(customer, people, mailoutbox):
    upload = SimpleUploadedFile("screenshot.png", b"\x89PNG fake", content_type="image/png")
    response = client_for(people["tech"]).post(
        reverse("correspondence:write"),
        {
            "kind": "service",
            "subject": "Disk full",
            "body": "Our VPS web-01 reports a full disk.",
            "attachments": [upload],
        },
        follow=True,
    )
    assert response.status_code == 200
    assert "Your message was sent" in response.content.decode()
    written = Message.objects.get(direction=Message.Direction.INBOUND)
    assert (written.customer, written.from_address, written.kind) == (customer, "ops@c.example", "service")
    assert written.attachments.get().file.read() == b"\x89PNG fake"
    ack = Message.objects.get(direction=Message.Direction.OUTBOUND)
    assert ack.to_addresses == ["ops@c.example"] and ack.in_reply_to == written
    assert [m.to for m in mailoutbox] == [["ops@c.example"]]
    assert "Disk full" in mailoutbox[0].subject
    assert "Our VPS web-01 reports a full disk." in response.content.decode()


def test_writing_with_bad_input_names_the_problem_and_stores_nothing(customer, people):
    too_many = [SimpleUploadedFile(f"f{i}.txt", b"x") for i in range(6)]
    response = client_for(people["owner"]).post(
        reverse("correspondence:write"),
        {
            "kind": "marketing",
            "subject": "",
            "body": "hi",
            "attachments": too_many,
        },
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Select a valid choice. marketing is not one of the available choices." in page
    assert "This field is required." in page
    assert "Attach at most 5 files; you chose 6." in page
    assert not Message.objects.exists()


def test_technical_contact_cannot_write_about_billing(customer, people):
    response = client_for(people["tech"]).post(
        reverse("correspondence:write"), {"kind": "billing", "subject": "x", "body": "y"}
    )
    assert "Select a valid choice" in response.content.decode()
    assert not Message.objects.exists()


def test_correspondence_list_query_count_is_constant(customer, people, django_assert_max_num_queries):
    for i in range(30):
        send(customer, MailKind.SERVICE, f"Notice {i}", f"n{i}")
    client = client_for(people["owner"])
    with django_assert_max_num_queries(12):
        assert client.get(reverse("correspondence:list")).status_code == 200


@pytest.fixture
def support_client(provider):
    from django.contrib.auth.models import Group

    staff = UserFactory(is_staff=True)
    staff.groups.add(Group.objects.get(name=roles.SUPPORT_GROUP))
    enable_totp(staff)
    client = Client()
    client.force_login(staff)
    return client, staff


def test_staff_reply_from_the_admin_goes_through_the_gateway(customer, people, support_client, mailoutbox):
    client, staff = support_client
    question = inbound.receive(
        b"From: owner@c.example\r\nSubject: Backups?\r\nMessage-ID: <q1@c.example>\r\n\r\nDo you back up my VPS?"
    )
    response = client.post(
        reverse("admin:accounts_message_reply", args=[question.pk]),
        {"body": "Yes, nightly.", "recipients": [people["owner"].pk]},
        follow=True,
    )
    assert response.status_code == 200
    answer = Message.objects.get(direction=Message.Direction.OUTBOUND)
    assert answer.in_reply_to == question and answer.created_by == staff
    assert answer.subject == "Re: Backups?"
    assert answer.to_addresses == ["owner@c.example"]
    assert mailoutbox[0].extra_headers["In-Reply-To"] == "<q1@c.example>"


def test_staff_assign_a_quarantined_message_in_the_admin(customer, people, support_client):
    client, staff = support_client
    held = inbound.receive(b"From: stranger@else.example\r\nSubject: About my server\r\n\r\nHi")
    assert held.status == Message.Status.QUARANTINED
    page = client.get(reverse("admin:accounts_message_change", args=[held.pk])).content.decode()
    assert "not the address of any contact" in page
    client.post(reverse("admin:accounts_message_assign", args=[held.pk]), {"customer": customer.pk})
    held.refresh_from_db()
    assert held.customer == customer and held.triaged_by == staff


def test_staff_see_a_message_that_reused_another_ones_message_id(customer, people, support_client):
    client, _ = support_client
    first = inbound.receive(b"From: owner@c.example\r\nSubject: One\r\nMessage-ID: <same@c.example>\r\n\r\nOne")
    other = inbound.receive(b"From: owner@c.example\r\nSubject: Two\r\nMessage-ID: <same@c.example>\r\n\r\nTwo")
    assert other.pk != first.pk
    page = client.get(reverse("admin:accounts_message_change", args=[other.pk])).content.decode()
    assert "same@c.example" in page
    assert "reuses the Message-ID &lt;same@c.example&gt; of another stored message" in page


def test_staff_see_failures_and_retry_delivery(customer, people, support_client, smtp_server):
    client, _ = support_client
    smtp_server.fail_next("550 5.1.1 mailbox unavailable")
    failed = send(customer, MailKind.SERVICE, "Reboot", "r1")
    failed.refresh_from_db()
    assert failed.status == Message.Status.FAILED
    listing = client.get(reverse("admin:accounts_message_changelist"), {"status__exact": "failed"})
    assert "Reboot" in listing.content.decode()
    client.post(
        reverse("admin:accounts_message_changelist"), {"action": "retry_delivery", "_selected_action": [failed.pk]}
    )
    failed.refresh_from_db()
    assert failed.status == Message.Status.SENT
    assert len(smtp_server.received) == 1


def test_links_in_an_email_we_received_are_shown_inert_with_their_real_target(db):
    """A phishing link ("your invoice" pointing elsewhere) cannot be clicked in the portal or
    the admin: its text and its real target are shown as text, with a warning when the text
    names another site."""
    from accounts.correspondence.display import inert_links
    from accounts.correspondence.inbound import sanitise_html

    html = sanitise_html(
        '<p>Pay <a href="https://evil.example/pay">https://portal.example/invoices</a> or see '
        '<a href="https://portal.example/help">our help</a></p>'
    )
    shown = str(inert_links(html))
    assert "<a " not in shown and "href" not in shown
    assert "[https://evil.example/pay]" in shown and "(the text says https://portal.example/invoices" in shown
    assert "our help" in shown and "[https://portal.example/help]" in shown
    assert shown.count("link-warning") == 1  # "our help" is not an address: no warning


def test_an_html_only_email_from_a_customer_shows_its_links_inert_in_the_portal_and_the_admin(
    customer, people, support_client
):
    from accounts.correspondence.inbound import receive

    raw = (
        b"From: owner@c.example\r\nTo: support@hosting.example\r\nSubject: Please pay here\r\n"
        b"Message-ID: <html-only@c.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b'<p>Pay at <a href="https://evil.example/pay">https://portal.example/invoices</a></p>\r\n'
    )
    message = receive(raw, source="test")
    assert message.customer == customer and not message.body_text

    page = client_for(people["owner"]).get(reverse("correspondence:detail", args=[message.pk])).content.decode()
    admin_page = support_client[0].get(reverse("admin:accounts_message_change", args=[message.pk])).content.decode()
    for shown in (page, admin_page):
        assert 'href="https://evil.example/pay"' not in shown
        assert "[https://evil.example/pay]" in shown and "the link goes elsewhere" in shown


def test_private_downloads_are_never_cached(customer, people):
    """Invoices, statements and attachments: no browser or proxy keeps a copy."""
    from billing.models import Invoice
    from tests.billing.factories import issued_invoice

    invoice: Invoice = issued_invoice(customer)
    client = client_for(people["billing"])
    for url in (
        reverse("billing:invoice_pdf", args=[invoice.pk]),
        reverse("billing:statement_pdf"),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response["Cache-Control"] == "private, no-store", url


def test_staff_see_each_refused_recipient_with_the_servers_answer_and_retry_only_them(
    customer, people, support_client, smtp_server
):
    client, _ = support_client
    smtp_server.refuse("ops@c.example", "550 5.1.1 <ops@c.example>: Recipient address rejected", None)
    message = send(customer, MailKind.SERVICE, "Reboot tonight", "r2")  # the owner and ops
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    failed = client.get(reverse("admin:accounts_message_changelist"), {"status__exact": "failed"}).content.decode()
    assert "Reboot tonight" in failed
    page = client.get(reverse("admin:accounts_message_change", args=[message.pk])).content.decode()
    assert "Delivery to each recipient" in page
    assert "550 5.1.1 &lt;ops@c.example&gt;: Recipient address rejected" in page
    assert "Refused for good" in page and "Accepted by the mail server" in page
    client.post(
        reverse("admin:accounts_message_changelist"), {"action": "retry_delivery", "_selected_action": [message.pk]}
    )
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert smtp_server.delivered_to("owner@c.example") == 1  # not sent the message twice
    assert smtp_server.delivered_to("ops@c.example") == 1
