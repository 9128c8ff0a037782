"""Support threads: each conversation's status, desk and assignee, who a staff reply goes
to, and what the customer sees and can do (docs/correspondence.md "Conversations")."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from accounts import roles
from accounts.audit import AuditEvent, System
from accounts.correspondence import conversations, inbound, services
from accounts.correspondence.models import Conversation, Department, MailKind, Message
from tests.accounts.factories import CustomerFactory, MembershipFactory, StaffFactory, UserFactory, enable_totp

pytestmark = pytest.mark.django_db

WAITING_FOR_US = Conversation.Status.WAITING_FOR_US
WAITING_FOR_CUSTOMER = Conversation.Status.WAITING_FOR_CUSTOMER
CLOSED = Conversation.Status.CLOSED


@pytest.fixture
def people(customer, provider):
    def make(role, address):
        return MembershipFactory(customer=customer, role=role, user=UserFactory(email=address))

    return {
        "owner": make(roles.Role.OWNER, "owner@c.example"),
        "tech": make(roles.Role.TECHNICAL, "ops@c.example"),
        "tech2": make(roles.Role.TECHNICAL, "noc@c.example"),
        "billing": make(roles.Role.BILLING, "money@c.example"),
    }


@pytest.fixture
def staff(provider):
    person = StaffFactory(email="agent@hosting.example")
    person.groups.add(Group.objects.get(name=roles.SUPPORT_GROUP))
    enable_totp(person)
    return person


def staff_client(person) -> Client:
    client = Client()
    client.force_login(person)
    return client


def client_for(membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    return client


def email(sender: str, subject: str, *, to: str = "support@hosting.example", reply_to: Message | None = None):
    headers = f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
    if reply_to is not None:
        headers += f"In-Reply-To: <{reply_to.message_id}>\r\n"
    return inbound.receive(f"{headers}\r\nHello".encode())


def conversation_of(message: Message) -> Conversation:
    return Conversation.objects.get(root_id=message.thread_id or message.pk)


def events(conversation: Conversation) -> list[str]:
    return list(AuditEvent.objects.about(conversation).order_by("pk").values_list("action", flat=True))


# ---------------------------------------------------------------------------------------
# Status
# ---------------------------------------------------------------------------------------


def test_an_unverified_email_opens_a_conversation_a_reply_and_a_new_message_turn_it(people, staff):
    question = email("ops@c.example", "Server down?")
    assert question.sender_verified is False and question.status == Message.Status.RECEIVED
    conversation = conversation_of(question)
    assert conversation.status == WAITING_FOR_US and conversation.department == Department.SUPPORT

    answer = services.reply(question, body="Restarted it.", actor=staff)
    conversation.refresh_from_db()
    assert conversation.status == WAITING_FOR_CUSTOMER and answer.thread_id == question.pk

    again = email("ops@c.example", "Re: Server down?", reply_to=answer)
    assert again.thread_id == question.pk
    conversation.refresh_from_db()
    assert conversation.status == WAITING_FOR_US
    assert events(conversation) == [
        "conversation.opened",
        "conversation.waiting_for_customer",
        "conversation.waiting_for_us",
    ]
    opened = AuditEvent.objects.about(conversation).order_by("pk").first()
    assert opened.actor_label == str(System("inbound mail")) and opened.customer_id == question.customer_id


def test_writing_again_reopens_a_closed_conversation_by_email_or_in_the_portal(people, staff):
    question = email("owner@c.example", "Invoice query", to="billing@hosting.example")
    conversation = conversation_of(question)
    assert conversation.department == Department.BILLING and question.kind == MailKind.BILLING
    assert conversations.close(conversation, actor=staff)

    services.write_to_us(people["owner"], kind="ignored", subject="Re", body="One more thing", in_reply_to=question)

    conversation.refresh_from_db()
    assert conversation.status == WAITING_FOR_US
    assert events(conversation)[-2:] == ["conversation.closed", "conversation.reopened"]
    assert Message.objects.filter(thread=question, direction="in").count() == 1


def test_mail_we_send_on_our_own_opens_no_conversation(people):
    from accounts.correspondence import gateway

    gateway.send_mail(
        kind=MailKind.SERVICE,
        template="staff_reply",
        customer=people["owner"].customer,
        idempotency_key="maintenance",
        context={"subject": "Maintenance", "body": "Friday"},
    )
    assert not Conversation.objects.exists()


def test_the_desk_follows_the_address_written_to_then_the_kind(people):
    assert conversation_of(email("owner@c.example", "A", to="privacy@hosting.example")).department == "privacy"
    assert conversation_of(email("owner@c.example", "B", to="billing@hosting.example")).department == "billing"
    assert conversation_of(email("owner@c.example", "C", to="someone@hosting.example")).department == "support"
    written = services.write_to_us(people["owner"], kind=MailKind.LEGAL, subject="Contract", body="?")
    assert conversation_of(written).department == Department.BILLING  # legal mail is billing's


def test_a_quarantined_message_opens_its_conversation_when_staff_assign_it(people, staff, customer):
    held = email("stranger@else.example", "About my server")
    assert held.status == Message.Status.QUARANTINED and not Conversation.objects.exists()

    inbound.assign(held, customer, actor=staff)

    conversation = conversation_of(held)
    assert conversation.status == WAITING_FOR_US
    assert AuditEvent.objects.about(conversation).get().actor == staff


def test_closing_twice_records_one_closing(people, staff):
    conversation = conversation_of(email("owner@c.example", "Thanks"))
    stale_copy = Conversation.objects.get(pk=conversation.pk)

    assert conversations.close(conversation, actor=staff) is True
    assert conversations.close(stale_copy, actor=people["owner"].user) is False  # the second click, a moment later

    assert Conversation.objects.get(pk=conversation.pk).status == CLOSED
    assert events(conversation).count("conversation.closed") == 1


def test_staff_can_reply_and_close_at_once(people, staff):
    question = email("owner@c.example", "Done?")
    services.reply(question, body="All done.", actor=staff, close=True)
    assert conversation_of(question).status == CLOSED


# ---------------------------------------------------------------------------------------
# Who a reply goes to
# ---------------------------------------------------------------------------------------


def test_a_reply_goes_to_the_person_who_wrote_by_default(people, staff):
    question = email("noc@c.example", "Packet loss")
    answer = services.reply(question, body="Looking.", actor=staff)
    assert answer.to_addresses == ["noc@c.example"]  # not every technical contact and owner


def test_the_reply_form_offers_the_customers_contacts_with_the_writer_ticked(people, staff):
    question = email("noc@c.example", "Packet loss")
    page = staff_client(staff).get(reverse("admin:accounts_message_reply", args=[question.pk])).content.decode()

    for membership in (people["owner"], people["tech"], people["tech2"]):
        assert f'value="{membership.pk}"' in page
    assert f'value="{people["billing"].pk}"' not in page  # a billing contact receives no service mail
    ticked = page[page.index(f'value="{people["tech2"].pk}"') - 200 : page.index(f'value="{people["tech2"].pk}"') + 60]
    assert "checked" in ticked
    other = page[page.index(f'value="{people["owner"].pk}"') - 200 : page.index(f'value="{people["owner"].pk}"') + 60]
    assert "checked" not in other


def test_staff_choose_another_contact_and_only_they_get_the_reply(
    people, staff, mailoutbox, django_capture_on_commit_callbacks
):
    question = email("noc@c.example", "Packet loss")
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client(staff).post(
            reverse("admin:accounts_message_reply", args=[question.pk]),
            {"body": "Fixed.", "recipients": [people["owner"].pk, people["tech"].pk]},
        )
    assert response.status_code == 302
    answer = Message.objects.get(direction="out", template="staff_reply")
    assert answer.to_addresses == ["ops@c.example", "owner@c.example"]  # not the writer, whom staff unticked
    assert sorted(answer.recipients.values_list("address", flat=True)) == ["ops@c.example", "owner@c.example"]
    sent = [mail for mail in mailoutbox if mail.subject == "Re: Packet loss"]
    assert len(sent) == 1 and sorted(sent[0].recipients()) == ["ops@c.example", "owner@c.example"]


def test_another_customers_contact_is_refused_in_the_admin_and_the_service(people, staff):
    question = email("noc@c.example", "Packet loss")
    stranger = MembershipFactory(customer=CustomerFactory(), role=roles.Role.OWNER, user__email="x@other.example")

    response = staff_client(staff).post(
        reverse("admin:accounts_message_reply", args=[question.pk]),
        {"body": "Fixed.", "recipients": [people["tech"].pk, stranger.pk]},
    )

    assert response.status_code == 200
    assert f"{stranger.pk} is not one of this customer" in response.content.decode()
    with pytest.raises(ValueError, match=r"x@other\.example: not a contact of"):
        services.reply(question, body="Fixed.", actor=staff, to=[stranger])
    # A contact of the customer whose role does not receive this kind is refused too, unless they wrote it.
    with pytest.raises(ValueError, match=r"money@c\.example"):
        services.reply(question, body="Fixed.", actor=staff, to=[people["billing"]])
    with pytest.raises(ValueError, match="at least one"):
        services.reply(question, body="Fixed.", actor=staff, to=[])
    assert not Message.objects.filter(direction="out", template="staff_reply").exists()
    assert conversation_of(question).status == WAITING_FOR_US


# ---------------------------------------------------------------------------------------
# The customer's pages
# ---------------------------------------------------------------------------------------


def test_the_customer_sees_each_conversations_status(people, staff):
    email("owner@c.example", "Question one")
    answered = email("owner@c.example", "Question two")
    services.reply(answered, body="Answer.", actor=staff)
    client = client_for(people["owner"])

    listing = client.get(reverse("correspondence:list")).content.decode()
    row_one = listing[listing.index("Question one") : listing.index("Question one") + 300]
    row_two = listing[listing.index("Question two") : listing.index("Question two") + 300]
    assert "Waiting for us" in row_one and "Waiting for your reply" in row_two

    page = client.get(reverse("correspondence:detail", args=[answered.pk])).content.decode()
    assert "Status: <span" in page and "Waiting for your reply" in page
    assert "Close this conversation" in page


def test_the_customer_closes_a_conversation_and_writing_again_reopens_it(people, staff):
    question = email("ops@c.example", "Disk full")
    client = client_for(people["tech"])

    response = client.post(reverse("correspondence:close", args=[question.pk]), follow=True)

    assert conversation_of(question).status == CLOSED
    page = response.content.decode()
    assert "The conversation is closed" in page and "Close this conversation" not in page
    assert "Write again to open this conversation again" in page
    again = client.post(reverse("correspondence:close", args=[question.pk]), follow=True)  # closed already
    assert "already closed" in again.content.decode()
    assert events(conversation_of(question)).count("conversation.closed") == 1

    response = client.post(reverse("correspondence:detail", args=[question.pk]), {"body": "It is full again."})

    assert response.status_code == 302
    written = Message.objects.get(body_text="It is full again.")
    assert written.thread_id == question.pk and written.subject == "Re: Disk full" and written.kind == question.kind
    assert conversation_of(question).status == WAITING_FOR_US


def test_a_contact_cannot_close_or_write_in_another_customers_conversation(people, staff):
    question = email("ops@c.example", "Disk full")
    outsider = MembershipFactory(customer=CustomerFactory(), role=roles.Role.OWNER)
    client = client_for(outsider)

    assert client.post(reverse("correspondence:close", args=[question.pk])).status_code == 404
    assert client.post(reverse("correspondence:detail", args=[question.pk]), {"body": "Hi"}).status_code == 404
    assert conversation_of(question).status == WAITING_FOR_US
    with pytest.raises(ValueError):
        services.write_to_us(outsider, kind=MailKind.SERVICE, subject="x", body="y", in_reply_to=question)
    # A contact whose role does not receive this kind of mail does not see it either.
    assert client_for(people["billing"]).post(reverse("correspondence:close", args=[question.pk])).status_code == 404


def test_closing_asks_first_and_only_a_post_closes(people):
    question = email("ops@c.example", "Disk full")
    page = client_for(people["tech"]).get(reverse("correspondence:close", args=[question.pk])).content.decode()
    assert "Close “Disk full”?" in page and 'method="post"' in page
    assert conversation_of(question).status == WAITING_FOR_US


# ---------------------------------------------------------------------------------------
# Staff: the conversation admin
# ---------------------------------------------------------------------------------------


def test_staff_filter_by_desk_assign_and_move_conversations(people, staff):
    support = conversation_of(email("owner@c.example", "Server", to="support@hosting.example"))
    billing = conversation_of(email("owner@c.example", "Invoice", to="billing@hosting.example"))
    client = staff_client(staff)
    changelist = reverse("admin:accounts_conversation_changelist")

    page = client.get(changelist, {"department__exact": "billing"}).content.decode()
    assert "Invoice" in page and ">Server<" not in page

    colleague = StaffFactory(email="colleague@hosting.example")
    response = client.post(
        reverse("admin:accounts_conversation_change", args=[support.pk]),
        {"department": "billing", "assignee": colleague.pk},
    )
    assert response.status_code == 302
    support.refresh_from_db()
    assert support.department == "billing" and support.assignee == colleague
    event = AuditEvent.objects.about(support).get(action="conversation.changed")
    assert event.actor == staff and event.changes["department"] == ["support", "billing"]

    customer_contact = people["owner"].user
    refused = client.post(
        reverse("admin:accounts_conversation_change", args=[billing.pk]),
        {"department": "billing", "assignee": customer_contact.pk},
    )
    assert refused.status_code == 200 and "Select a valid choice" in refused.content.decode()
    with pytest.raises(ValueError, match="not an active member of staff"):
        conversations.change(billing, actor=staff, assignee=customer_contact)
    billing.refresh_from_db()
    assert billing.assignee is None


def test_staff_close_from_the_conversation_page_and_the_changelist(people, staff):
    one = conversation_of(email("owner@c.example", "One"))
    two = conversation_of(email("owner@c.example", "Two"))
    client = staff_client(staff)

    page = client.get(reverse("admin:accounts_conversation_change", args=[one.pk])).content.decode()
    assert "Close the conversation" in page and "One" in page
    client.post(reverse("admin:accounts_conversation_close", args=[one.pk]))
    client.post(
        reverse("admin:accounts_conversation_changelist"),
        {"action": "close_conversations", "_selected_action": [one.pk, two.pk]},
    )

    assert set(Conversation.objects.values_list("status", flat=True)) == {CLOSED}
    assert events(one).count("conversation.closed") == 1


def test_people_without_the_mail_permissions_do_not_see_conversations(people):
    conversation = conversation_of(email("owner@c.example", "One"))
    accountant = StaffFactory()
    enable_totp(accountant)
    client = staff_client(accountant)
    assert client.get(reverse("admin:accounts_conversation_change", args=[conversation.pk])).status_code in {302, 403}
    assert client.post(reverse("admin:accounts_conversation_close", args=[conversation.pk])).status_code in {302, 403}
    assert Conversation.objects.get(pk=conversation.pk).status == WAITING_FOR_US


@pytest.mark.postgres
def test_closing_at_the_same_moment_closes_once(transactional_db, provider):
    """Real parallel transactions (PostgreSQL): several people close at once, one closing is recorded."""
    import threading

    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL=postgres://...)")
    contact = MembershipFactory(role=roles.Role.OWNER, user=UserFactory(email="owner@c.example"))
    conversation = conversation_of(email("owner@c.example", "Thanks, all fine"))
    closers = [StaffFactory() for _ in range(6)]
    start = threading.Barrier(len(closers))
    results: list[bool] = []
    errors: list[BaseException] = []

    def close(person) -> None:
        try:
            start.wait()
            results.append(conversations.close(Conversation.objects.get(pk=conversation.pk), actor=person))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=close, args=(person,)) for person in closers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == [] and sorted(results) == [False] * 5 + [True]
    assert events(conversation).count("conversation.closed") == 1
    assert contact.customer.pk == conversation.root.customer_id
