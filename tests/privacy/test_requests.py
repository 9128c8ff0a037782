"""Data-subject requests: intake channels, identity, the staff workflow, fulfilment, reminders."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlparse

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import roles
from accounts.correspondence import inbound
from accounts.correspondence.models import Message
from privacy import deadlines
from privacy.models import (
    ConsentRecord,
    DataExport,
    DataSubjectRequest,
    ProcessingRestriction,
    PublicRequestSubmission,
)
from privacy.services import requests as services
from privacy.tasks import send_deadline_reminders
from tests.accounts.factories import CustomerFactory, MembershipFactory, UserFactory, enable_totp
from tests.privacy.test_erasure import mentions_a_hold

Status = DataSubjectRequest.Status


def _one_page_pdf() -> bytes:
    from io import BytesIO

    from pypdf import PdfWriter

    writer, out = PdfWriter(), BytesIO()
    writer.add_blank_page(width=595, height=842)
    writer.write(out)
    return out.getvalue()


PDF = _one_page_pdf()


def mails(template: str) -> list[Message]:
    return list(Message.objects.filter(template=f"privacy_request_{template}").order_by("pk"))


def link_in(message: Message) -> str:
    """The one-time link. The archive keeps it masked: read it from the delivered email,
    or, before delivery, from the secrets waiting for it."""
    from django.core import mail as django_mail

    if message.pending_secrets:
        [secret] = message.pending_secrets.values()
        return urlparse(secret).path
    for sent in django_mail.outbox:
        if sent.extra_headers.get("Message-ID") == f"<{message.message_id}>":
            return urlparse(re.search(r"https?://\S+/confirm/\S+?/", sent.body).group(0)).path
    raise AssertionError(f"message {message.pk} was neither delivered nor waiting with its link")


@pytest.fixture
def membership(customer, owner):
    return owner.memberships.get(customer=customer)


@pytest.fixture
def staff(db):
    user = UserFactory(is_staff=True, is_superuser=True)
    enable_totp(user)
    return user


@pytest.fixture
def staff_client(staff) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def public_form(email: str, kind: str = "access") -> dict:
    return {"email": email, "kind": kind, "regime": "uk_gdpr", "details": "Everything, please."}


# ---------------------------------------------------------------------------------------
# The public form: confirmation by a link to an address we hold; reveals nothing
# ---------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_public_form_answers_the_same_for_known_and_unknown_addresses(provider, owner):
    url = reverse("privacy:public_request")
    known = Client().post(url, public_form(owner.email))
    unknown = Client().post(url, public_form("nobody-here@example.net"))

    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == reverse("privacy:public_request_sent")
    assert known.content == unknown.content
    page_known, page_unknown = Client().get(known["Location"]), Client().get(unknown["Location"])
    assert page_known.status_code == page_unknown.status_code == 200
    assert page_known.content == page_unknown.content

    sent = mails("confirm")
    assert [m.to_addresses for m in sent] == [[owner.email]]
    assert DataSubjectRequest.objects.count() == 1
    assert "nobody-here" not in "".join(Message.objects.values_list("body_text", flat=True))


@pytest.mark.django_db(transaction=True)
def test_an_unverified_address_gets_no_link(provider):
    unverified = UserFactory(verified=False)
    Client().post(reverse("privacy:public_request"), public_form(unverified.email))
    assert mails("confirm") == []
    assert not DataSubjectRequest.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_confirmation_link_starts_the_clock_once(provider, owner):
    Client().post(reverse("privacy:public_request"), public_form(owner.email))
    dsr = DataSubjectRequest.objects.get()
    assert dsr.status == Status.AWAITING_CONFIRMATION and dsr.confirmed_at is None and dsr.due_on is None
    [message] = mails("confirm")
    assert "one-time link" in message.body_text  # the stored copy never shows the link
    link = link_in(message)

    client = Client()
    page = client.get(link)  # a mail scanner following the link confirms nothing
    assert page.status_code == 200
    dsr.refresh_from_db()
    assert dsr.status == Status.AWAITING_CONFIRMATION

    done = client.post(link)
    assert done.status_code == 200
    dsr.refresh_from_db()
    assert dsr.status == Status.OPEN
    assert dsr.confirmed_at is not None
    assert dsr.due_on is not None and dsr.due_on > timezone.localdate()
    assert dsr.due_on.strftime("%-d %B %Y") in done.content.decode()
    assert [m.to_addresses for m in mails("received")] == [[owner.email]]
    assert client.post(link).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_a_stale_or_made_up_link_answers_404(provider, owner):
    assert Client().get(reverse("privacy:confirm_request", args=["not-a-token"])).status_code == 404
    Client().post(reverse("privacy:public_request"), public_form(owner.email))
    DataSubjectRequest.objects.update(received_at=timezone.now() - dt.timedelta(days=15))
    assert Client().post(link_in(mails("confirm")[0])).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_public_form_names_the_problem_and_stores_nothing(provider):
    response = Client().post(reverse("privacy:public_request"), {**public_form("not an address"), "kind": "know"})
    assert response.status_code == 200
    text = response.content.decode()
    assert "Enter a valid email address" in text
    assert "CCPA right" in text
    assert not DataSubjectRequest.objects.exists() and not Message.objects.exists()
    assert not PublicRequestSubmission.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_broker_gets_the_submissions_key_and_the_task_deletes_it(provider, owner, monkeypatch):
    """No address or details on the broker: the task loads the stored submission by its key."""
    from celery.app.task import Task

    from privacy.tasks import process_public_request

    queued: list[tuple] = []
    monkeypatch.setattr(
        Task, "apply_async", lambda task, args=None, kwargs=None, **options: queued.append((task.name, args, kwargs))
    )
    for email in (owner.email, "nobody-here@example.net"):
        Client().post(reverse("privacy:public_request"), public_form(email))
    known, unknown = PublicRequestSubmission.objects.order_by("pk")
    assert queued == [
        ("privacy.tasks.process_public_request", (known.pk,), {}),
        ("privacy.tasks.process_public_request", (unknown.pk,), {}),
    ]
    monkeypatch.undo()

    assert process_public_request(unknown.pk) is False
    assert process_public_request(known.pk) is True
    assert process_public_request(known.pk) is False  # delivered twice: handled once
    assert not PublicRequestSubmission.objects.exists()
    dsr = DataSubjectRequest.objects.get()
    assert (dsr.person, dsr.requester_email, dsr.received_at) == (owner, owner.email, known.submitted_at)
    assert [m.to_addresses for m in mails("confirm")] == [[owner.email]]


# ---------------------------------------------------------------------------------------
# Authorised agents
# ---------------------------------------------------------------------------------------


def agent_form(person_email: str, authority=None) -> dict:
    data = {
        "agent_name": "Smith & Co Solicitors",
        "agent_email": "clerk@smith.example",
        "person_email": person_email,
        "kind": "access",
        "regime": "uk_gdpr",
        "details": "",
    }
    if authority is not None:
        data["authority"] = authority
    return data


def test_agent_request_needs_a_written_authority(provider, owner):
    response = Client().post(reverse("privacy:agent_request"), agent_form(owner.email))
    assert response.status_code == 200
    assert "Attach the written authority" in response.content.decode()
    assert not DataSubjectRequest.objects.exists()


def test_agent_authority_must_be_a_small_pdf_or_image(provider, owner, monkeypatch):
    text_file = SimpleUploadedFile("authority.txt", b"I permit it.", content_type="text/plain")
    response = Client().post(reverse("privacy:agent_request"), agent_form(owner.email, text_file))
    assert "must be a PDF, PNG or JPEG" in response.content.decode()

    monkeypatch.setattr("privacy.authority.MAX_AUTHORITY_BYTES", 20)
    big = SimpleUploadedFile("authority.pdf", PDF, content_type="application/pdf")
    response = Client().post(reverse("privacy:agent_request"), agent_form(owner.email, big))
    assert "the limit is 20" in response.content.decode()
    assert not DataSubjectRequest.objects.exists()


def test_an_authority_that_only_looks_like_a_pdf_is_refused(provider, owner):
    fake = SimpleUploadedFile("authority.pdf", b"%PDF-1.4 then anything at all", content_type="application/pdf")
    response = Client().post(reverse("privacy:agent_request"), agent_form(owner.email, fake))
    assert "starts like a PDF but does not open as one" in response.content.decode()
    assert not DataSubjectRequest.objects.exists()


def test_an_authority_is_stored_under_a_random_name_and_staff_open_it_in_the_admin(provider, owner, staff):
    from django.contrib.auth.models import Permission

    from tests.accounts.factories import StaffFactory, enable_totp

    upload = SimpleUploadedFile("passport-jane-smith.pdf", PDF, content_type="application/pdf")
    Client().post(reverse("privacy:agent_request"), agent_form(owner.email, upload))
    dsr = DataSubjectRequest.objects.get()
    stored = dsr.agent_authority.name.rsplit("/", 1)[-1]
    assert "jane" not in dsr.agent_authority.name and stored.endswith(".pdf") and len(stored) == 36

    url = reverse("admin:privacy_datasubjectrequest_authority", args=[dsr.pk])
    officer = Client()
    officer.force_login(staff)
    response = officer.get(url)
    assert response.status_code == 200 and b"".join(response.streaming_content) == PDF
    assert "no-store" in response["Cache-Control"]
    assert url in officer.get(reverse("admin:privacy_datasubjectrequest_change", args=[dsr.pk])).content.decode()

    stranger = StaffFactory()  # staff without the permission to see requests
    stranger.user_permissions.add(Permission.objects.get(codename="view_customer"))
    enable_totp(stranger)
    outsider = Client()
    outsider.force_login(stranger)
    assert outsider.get(url).status_code in (302, 403)


def test_agent_request_starts_only_when_the_person_confirms(provider, owner):
    authority = SimpleUploadedFile("authority.pdf", PDF, content_type="application/pdf")
    response = Client().post(reverse("privacy:agent_request"), agent_form(owner.email, authority))
    assert response.status_code == 302
    dsr = DataSubjectRequest.objects.get()
    assert dsr.channel == DataSubjectRequest.Channel.AGENT
    assert dsr.status == Status.AWAITING_CONFIRMATION
    assert dsr.agent_authority.read() == PDF
    [ask] = mails("agent_confirm")
    assert ask.to_addresses == [owner.email]  # the person, not the agent
    assert "Smith & Co Solicitors" in ask.body_text

    Client().post(link_in(ask))
    dsr.refresh_from_db()
    assert dsr.status == Status.OPEN
    assert dsr.agent_confirmed_at is not None and dsr.due_on is not None
    assert mails("received")[0].to_addresses == sorted([owner.email, "clerk@smith.example"])


def test_agent_form_answers_the_same_for_an_unknown_person(provider, owner):
    url = reverse("privacy:agent_request")
    pdf = lambda: SimpleUploadedFile("a.pdf", PDF, content_type="application/pdf")  # noqa: E731
    known = Client().post(url, agent_form(owner.email, pdf()))
    unknown = Client().post(url, agent_form("stranger@example.net", pdf()))
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert DataSubjectRequest.objects.count() == 1


# ---------------------------------------------------------------------------------------
# The portal
# ---------------------------------------------------------------------------------------


def test_portal_request_starts_the_clock_at_once_and_is_listed(owner_client, owner, customer):
    response = owner_client.post(
        reverse("privacy:request_new"), {"about": "me", "kind": "access", "regime": "uk_gdpr", "details": ""}
    )
    dsr = DataSubjectRequest.objects.get()
    assert response["Location"] == reverse("privacy:request_detail", args=[dsr.pk])
    assert dsr.channel == DataSubjectRequest.Channel.PORTAL
    assert (dsr.person, dsr.customer, dsr.status) == (owner, customer, Status.OPEN)
    assert dsr.confirmed_at is not None and dsr.due_on is not None
    assert [m.to_addresses for m in mails("received")] == [[owner.email]]

    listing = owner_client.get(reverse("privacy:requests"))
    assert listing.status_code == 200
    assert dsr.get_kind_display() in listing.content.decode()
    assert dsr.due_on.strftime("%-d %b %Y") in listing.content.decode()


def test_owner_may_ask_about_the_whole_customer_and_other_contacts_only_about_themselves(
    owner_client, customer, provider
):
    owner_client.post(reverse("privacy:request_new"), {"about": "customer", "kind": "erasure", "regime": "uk_gdpr"})
    whole = DataSubjectRequest.objects.get()
    assert whole.person is None and whole.customer == customer

    technical = MembershipFactory(customer=customer, role=roles.Role.TECHNICAL).user
    client = Client()
    client.force_login(technical)
    form = client.get(reverse("privacy:request_new"))
    assert 'name="about"' not in form.content.decode()
    client.post(reverse("privacy:request_new"), {"about": "customer", "kind": "access", "regime": "uk_gdpr"})
    own = DataSubjectRequest.objects.exclude(pk=whole.pk).get()
    assert own.person == technical  # "about" is ignored: not an owner
    # The contact sees their own request, not the owner's about the customer.
    assert client.get(reverse("privacy:request_detail", args=[whole.pk])).status_code == 404
    assert client.get(reverse("privacy:request_detail", args=[own.pk])).status_code == 200


def test_another_customers_request_answers_404(owner_client, other_customer_client):
    owner_client.post(reverse("privacy:request_new"), {"about": "me", "kind": "access", "regime": "uk_gdpr"})
    dsr = DataSubjectRequest.objects.get()
    assert owner_client.get(reverse("privacy:request_detail", args=[dsr.pk])).status_code == 200
    assert other_customer_client.get(reverse("privacy:request_detail", args=[dsr.pk])).status_code == 404
    assert dsr.get_kind_display() not in other_customer_client.get(reverse("privacy:requests")).content.decode()


def test_a_reply_to_mail_about_a_persons_request_is_filed_to_them_and_hidden_from_colleagues(provider):
    customer = CustomerFactory()
    person = MembershipFactory(customer=customer, role=roles.Role.OWNER, user=UserFactory(email="p@example.org"))
    colleague = MembershipFactory(customer=customer, role=roles.Role.BILLING).user
    dsr = services.open_request_from_portal(person, "erasure", "x", "uk_gdpr")
    ours = Message.objects.get(related_id=str(dsr.pk))
    reply = inbound.receive(
        f"From: p@example.org\r\nTo: {provider.privacy_email}\r\nSubject: Re: your request\r\n"
        f"Message-ID: <r1@example.org>\r\nIn-Reply-To: <{ours.message_id}>\r\n\r\nMY PASSPORT NUMBER 123\r\n".encode()
    )
    assert (reply.person, reply.in_reply_to) == (person.user, ours)
    assert reply.status == Message.Status.RECEIVED
    client = Client()
    client.force_login(colleague)
    assert client.get(reverse("correspondence:detail", args=[reply.pk])).status_code == 404
    assert b"PASSPORT" not in client.get(reverse("correspondence:list")).content


def test_portal_list_pins_its_queries(owner_client, membership, django_assert_max_num_queries):
    for kind in ("access", "erasure", "objection"):
        services.open_request_from_portal(membership, kind, "", "uk_gdpr")
    with django_assert_max_num_queries(12):
        assert owner_client.get(reverse("privacy:requests")).status_code == 200


# ---------------------------------------------------------------------------------------
# Staff workflow
# ---------------------------------------------------------------------------------------


def test_staff_extend_with_reasons_through_the_admin_emails_the_requester(staff_client, membership, owner):
    dsr = services.open_request_from_portal(membership, "access", "Every log line since 2019.", "uk_gdpr")
    first_due = dsr.due_on
    changelist = reverse("admin:privacy_datasubjectrequest_changelist")
    selected = {"action": "extend", "_selected_action": [dsr.pk]}

    asked = staff_client.post(changelist, selected)
    assert asked.status_code == 200 and "Reasons for the extension" in asked.content.decode()
    refused = staff_client.post(changelist, {**selected, "confirm": "yes", "reason": ""})
    assert "This field is required" in refused.content.decode()

    staff_client.post(changelist, {**selected, "confirm": "yes", "reason": "Ten years of logs across 40 servers."})
    dsr.refresh_from_db()
    assert dsr.extended and dsr.status == Status.EXTENDED
    assert dsr.due_on > first_due
    [notice] = mails("extended")
    assert notice.to_addresses == [owner.email]
    assert "Ten years of logs across 40 servers." in notice.body_text
    assert dsr.due_on.strftime("%-d %B %Y") in notice.body_text


def test_extension_only_inside_the_first_month_and_once(membership, staff):
    dsr = services.open_request_from_portal(membership, "access", "", "uk_gdpr")
    with pytest.raises(services.RequestError, match="Too late"):
        services.extend(dsr, reason="Complex", actor=staff, today=dsr.due_on + dt.timedelta(days=1))
    services.extend(dsr, reason="Complex", actor=staff)
    with pytest.raises(services.RequestError, match="already been extended"):
        services.extend(dsr, reason="Again", actor=staff)


def test_pause_and_resume_add_the_days_paused(membership, staff):
    dsr = services.open_request_from_portal(membership, "rectification", "My name is wrong.", "uk_gdpr")
    due = dsr.due_on
    services.pause_for_clarification(dsr, question="Which name?", actor=staff)
    assert dsr.status == Status.PAUSED
    assert "Which name?" in mails("clarification")[0].body_text
    services.resume(dsr, actor=staff, at=timezone.now() + dt.timedelta(days=4))
    assert dsr.paused_days == 4 and dsr.status == Status.OPEN
    # The days paused are added to the calendar month, then onto a working day: four days
    # later than the month's end, not always four days later than the old due date (which
    # may itself have been moved past a weekend or bank holiday).
    month_end = deadlines.add_calendar_months(deadlines.clock_start(dsr), 1)
    assert dsr.due_on == deadlines.next_working_day(month_end + dt.timedelta(days=4))
    assert dsr.due_on > due


def test_refusal_and_fee_are_recorded_and_explained(membership, staff):
    dsr = services.open_request_from_portal(membership, "access", "", "uk_gdpr")
    services.charge_fee(dsr, amount="25.00", ground="A fifth identical copy this month.", actor=staff)
    assert dsr.fee_charged == 25 and dsr.status == Status.PAUSED
    assert "A fifth identical copy" in dsr.notes and "£25.00" in mails("fee")[0].body_text
    services.refuse(dsr, reason="Manifestly excessive: the same request weekly.", actor=staff)
    assert dsr.status == Status.REFUSED and dsr.closed_at is not None
    assert "ico.org.uk" in mails("refused")[0].body_text


def test_staff_enter_a_request_from_a_letter(staff_client, customer, owner):
    response = staff_client.post(
        reverse("admin:privacy_datasubjectrequest_add"),
        {
            "kind": "access",
            "regime": "uk_gdpr",
            "customer": customer.pk,
            "person": owner.pk,
            "requester_name": "",
            "requester_email": "",
            "details": "Letter of 2 March.",
            "received_at_0": (timezone.localdate() - dt.timedelta(days=1)).isoformat(),
            "received_at_1": "09:00:00",
            "identity_confirmed": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    dsr = DataSubjectRequest.objects.get()
    assert dsr.channel == DataSubjectRequest.Channel.STAFF and dsr.status == Status.OPEN
    assert dsr.requester_email == owner.email and dsr.due_on is not None


def test_admin_queue_pins_its_queries(staff_client, membership, django_assert_max_num_queries):
    for kind in ("access", "erasure", "objection", "restriction"):
        services.open_request_from_portal(membership, kind, "", "uk_gdpr")
    with django_assert_max_num_queries(20):
        response = staff_client.get(reverse("admin:privacy_datasubjectrequest_changelist"))
    assert response.status_code == 200


def test_request_page_links_to_the_recipients_to_notify(staff_client, membership):
    dsr = services.open_request_from_portal(membership, "erasure", "", "uk_gdpr")
    page = staff_client.get(reverse("admin:privacy_datasubjectrequest_change", args=[dsr.pk]))
    assert reverse("admin:privacy_recipientnotification_for_request", args=[dsr.pk]) in page.content.decode()


# ---------------------------------------------------------------------------------------
# Fulfilment
# ---------------------------------------------------------------------------------------


def test_fulfilling_an_access_request_prepares_an_export(membership, owner, staff):
    dsr = services.open_request_from_portal(membership, "access", "", "uk_gdpr")
    services.fulfil(dsr, actor=staff)
    export = DataExport.objects.get(request=dsr)
    assert export.requested_by == owner and export.person == owner
    assert dsr.status == Status.FULFILLED and dsr.closed_at is not None
    assert mails("response")[0].to_addresses == [owner.email]


def test_fulfilling_a_restriction_sets_the_flag_and_lifting_clears_it(membership, owner, staff):
    dsr = services.open_request_from_portal(membership, "restriction", "Accuracy disputed.", "uk_gdpr")
    services.fulfil(dsr, actor=staff)
    restriction = ProcessingRestriction.objects.active().get()
    assert (restriction.person, restriction.customer, restriction.request) == (owner, None, dsr)
    assert services.lift_restriction(restriction, actor=staff) is True
    assert not ProcessingRestriction.objects.active().exists()


def test_fulfilling_withdrawal_of_consent_withdraws_live_consents(membership, owner, staff):
    ConsentRecord.objects.create(
        person=owner, purpose="analytics_cookies", wording="W", wording_version="1", method="banner"
    )
    dsr = services.open_request_from_portal(membership, "withdraw_consent", "", "uk_gdpr")
    services.fulfil(dsr, actor=staff)
    assert not ConsentRecord.objects.filter(withdrawn_at__isnull=True).exists()


def test_rectification_needs_a_note_of_what_was_corrected(membership, staff):
    dsr = services.open_request_from_portal(membership, "rectification", "Postcode is wrong.", "uk_gdpr")
    with pytest.raises(services.RequestError, match="what was corrected"):
        services.fulfil(dsr, actor=staff)
    services.fulfil(dsr, actor=staff, note="Postcode changed to EX1 1AA.")
    assert "EX1 1AA" in mails("response")[0].body_text


def test_fulfilling_an_erasure_tells_the_person_what_was_kept(membership, owner, staff):
    dsr = services.open_request_from_portal(membership, "erasure", "", "uk_gdpr")
    address = owner.email
    services.fulfil(dsr, actor=staff)
    assert dsr.status == Status.FULFILLED and dsr.erasure_runs.exists()
    [notice] = mails("response")
    assert notice.to_addresses == [address]
    assert dsr.response and dsr.response.splitlines()[0] in notice.body_text


def test_a_second_fulfil_while_an_erasure_runs_is_refused_and_runs_nothing(membership, staff):
    dsr = services.open_request_from_portal(membership, "erasure", "", "uk_gdpr")
    # The first "Fulfil" has claimed the request and its engine is running.
    DataSubjectRequest.objects.filter(pk=dsr.pk).update(fulfilment_started_at=timezone.now())

    with pytest.raises(services.RequestError, match="already being carried out"):
        services.fulfil(dsr, actor=staff)

    assert not dsr.erasure_runs.exists()
    dsr.refresh_from_db()
    assert dsr.status == Status.OPEN


def test_a_claim_left_by_a_dead_worker_expires(membership, staff):
    dsr = services.open_request_from_portal(membership, "erasure", "", "uk_gdpr")
    stale = timezone.now() - services.ERASURE_CLAIM_EXPIRES - dt.timedelta(minutes=1)
    DataSubjectRequest.objects.filter(pk=dsr.pk).update(fulfilment_started_at=stale)

    services.fulfil(dsr, actor=staff)

    assert dsr.status == Status.FULFILLED and dsr.fulfilment_started_at is None
    assert dsr.erasure_runs.count() == 1


def test_a_failed_erasure_releases_its_claim(membership, staff, monkeypatch):
    from privacy.services import erasure

    def fail(**kwargs):
        raise erasure.ErasureFailed("disk full")

    monkeypatch.setattr(erasure, "execute_erasure", fail)
    dsr = services.open_request_from_portal(membership, "erasure", "", "uk_gdpr")
    with pytest.raises(services.RequestError, match="disk full"):
        services.fulfil(dsr, actor=staff)
    dsr.refresh_from_db()
    assert dsr.fulfilment_started_at is None and dsr.status == Status.OPEN


# ---------------------------------------------------------------------------------------
# Reminders
# ---------------------------------------------------------------------------------------


def test_reminders_go_out_for_due_requests_only(membership, provider, staff):
    today = timezone.localdate()
    soon = services.open_request_from_portal(membership, "access", "", "uk_gdpr")
    late = services.open_request_from_portal(membership, "erasure", "", "uk_gdpr")
    later = services.open_request_from_portal(membership, "objection", "", "uk_gdpr")
    closed = services.open_request_from_portal(membership, "restriction", "", "uk_gdpr")
    services.assign(soon, assignee=staff, actor=staff)
    DataSubjectRequest.objects.filter(pk=soon.pk).update(due_on=today + dt.timedelta(days=5))
    DataSubjectRequest.objects.filter(pk=late.pk).update(due_on=today - dt.timedelta(days=2))
    DataSubjectRequest.objects.filter(pk=later.pk).update(due_on=today + dt.timedelta(days=20))
    DataSubjectRequest.objects.filter(pk=closed.pk).update(
        due_on=today, status=Status.FULFILLED, closed_at=timezone.now()
    )

    assert send_deadline_reminders() == 2
    reminders = {tuple(m.to_addresses): m.body_text for m in mails("reminder")}
    assert set(reminders) == {(staff.email,), (provider.privacy_email,)}
    assert f"#{soon.pk} " in reminders[(staff.email,)]
    assert (
        f"#{late.pk} " in reminders[(provider.privacy_email,)]
        and "OVERDUE by 2" in reminders[(provider.privacy_email,)]
    )
    everything = "".join(reminders.values())
    assert f"#{later.pk} " not in everything and f"#{closed.pk} " not in everything

    services.send_deadline_reminders()  # twice in a day: nothing new
    assert len(mails("reminder")) == 2


def test_the_reminder_schedule_is_in_the_database(db):
    from django_celery_beat.models import PeriodicTask

    assert PeriodicTask.objects.filter(task="privacy.tasks.send_deadline_reminders").exists()


def test_staff_see_the_erasure_plan_before_it_runs(staff_client, membership, owner):
    from accounts.models import Membership

    dsr = services.open_request_from_portal(membership, "erasure", "Please erase me.", "uk_gdpr")
    changelist = reverse("admin:privacy_datasubjectrequest_changelist")
    page = staff_client.post(changelist, {"action": "fulfil", "_selected_action": [dsr.pk]}).content.decode()
    assert "Erasure plan for" in page
    assert "deleted" in page and "anonymised" in page
    # Seeing the plan changes nothing.
    dsr.refresh_from_db()
    assert dsr.status != Status.FULFILLED
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_the_public_form_does_the_same_work_for_known_and_unknown_addresses(provider, owner):
    """Timing must not reveal an account: the request itself only validates and enqueues."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries_for(email: str) -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            response = Client().post(reverse("privacy:public_request"), public_form(email))
        assert response.status_code == 302
        # Savepoint names count up and the values are the visitor's; the statements must be the same.
        statements = [q["sql"].split(" WHERE ")[0].split(" VALUES ")[0] for q in captured.captured_queries]
        return [re.sub(r'"s\d+_x\d+"', '"savepoint"', sql) for sql in statements]

    assert queries_for(owner.email) == queries_for("nobody-here@example.net")
    assert not DataSubjectRequest.objects.exists()  # the work waits for the commit, in a task
    assert PublicRequestSubmission.objects.count() == 2  # both stored alike, for their task


# ---------------------------------------------------------------------------------------
# The deadline that applies, in every message and on every page
# ---------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_confirmation_email_names_the_deadline_of_the_regime(provider, owner):
    Client().post(reverse("privacy:public_request"), public_form(owner.email))
    Client().post(reverse("privacy:public_request"), {**public_form(owner.email, "know"), "regime": "ccpa"})
    gdpr, ccpa = mails("confirm")
    assert "one calendar month from the day the request is confirmed" in gdpr.body_text
    received = DataSubjectRequest.objects.get(regime="ccpa").received_at
    due = deadlines.ccpa_deadline(timezone.localdate(received))
    assert "one-month" not in ccpa.body_text and "calendar month" not in ccpa.body_text
    assert f"45 days from the day we received the request (45 more if it is complex), that is by {due:%-d %B %Y}" in (
        ccpa.body_text
    )


def test_a_ccpa_limit_on_sensitive_information_is_due_in_15_business_days_without_extension(
    owner_client, membership, staff
):
    owner_client.post(
        reverse("privacy:request_new"), {"about": "me", "kind": "limit_sensitive", "regime": "ccpa", "details": ""}
    )
    dsr = DataSubjectRequest.objects.get()
    assert dsr.due_on == deadlines.add_business_days(timezone.localdate(dsr.received_at), 15)
    [receipt] = mails("received")
    assert "15 business days" in receipt.body_text and "45 more days" not in receipt.body_text
    with pytest.raises(services.RequestError, match="no extension"):
        services.extend(dsr, reason="Complex", actor=staff)
    dsr.refresh_from_db()
    assert not dsr.extended and mails("extended") == []


def test_an_agent_gets_a_receipt_that_reveals_nothing(provider, owner):
    url = reverse("privacy:agent_request")
    pdf = lambda: SimpleUploadedFile("a.pdf", PDF, content_type="application/pdf")  # noqa: E731
    Client().post(url, {**agent_form(owner.email, pdf()), "regime": "ccpa", "kind": "know"})
    Client().post(url, {**agent_form("stranger@example.net", pdf()), "regime": "ccpa", "kind": "know"})
    known, unknown = mails("agent_receipt")
    assert known.to_addresses == unknown.to_addresses == ["clerk@smith.example"]
    assert known.body_text == unknown.body_text
    assert known.customer_id is None and known.person_id is None
    due = deadlines.ccpa_deadline(timezone.localdate())
    assert f"that is by {due:%-d %B %Y}" in known.body_text
    assert owner.email not in known.body_text and "stranger" not in unknown.body_text
    [ask] = mails("agent_confirm")  # the person's own email names the same deadline
    assert f"that is by {due:%-d %B %Y}" in ask.body_text


def test_a_paused_request_shows_since_when_and_is_left_out_of_reminders(owner_client, membership, provider, staff):
    dsr = services.open_request_from_portal(membership, "rectification", "My name is wrong.", "uk_gdpr")
    services.pause_for_clarification(dsr, question="Which name?", actor=staff)
    DataSubjectRequest.objects.filter(pk=dsr.pk).update(due_on=timezone.localdate() - dt.timedelta(days=3))
    since = f"{timezone.localtime(dsr.paused_at):%-d %b %Y}"

    listing = owner_client.get(reverse("privacy:requests")).content.decode()
    assert f'Paused since <time datetime="{timezone.localtime(dsr.paused_at):%Y-%m-%d}">{since}' in listing
    detail = owner_client.get(reverse("privacy:request_detail", args=[dsr.pk])).content.decode()
    assert "Paused since" in detail and "days left" not in detail
    assert send_deadline_reminders() == 0

    staff_client = Client()
    staff_client.force_login(staff)
    changelist = staff_client.get(reverse("admin:privacy_datasubjectrequest_changelist")).content.decode()
    assert f"paused since {since}" in changelist
    overdue = staff_client.get(reverse("admin:privacy_datasubjectrequest_changelist") + "?due=overdue")
    assert f"paused since {since}" not in overdue.content.decode()

    services.resume(dsr, actor=staff)
    DataSubjectRequest.objects.filter(pk=dsr.pk).update(due_on=timezone.localdate() + dt.timedelta(days=1))
    assert send_deadline_reminders() == 1


# ---------------------------------------------------------------------------------------
# An erasure a legal hold keeps back
# ---------------------------------------------------------------------------------------


def test_a_held_erasure_stays_open_and_returns_to_the_queue_when_the_hold_is_lifted(
    owner_client, staff_client, membership, owner, provider, staff
):
    from accounts.models import Invitation, Membership
    from privacy.models import LegalHold
    from privacy.services.holds import place_hold

    customer = membership.customer
    Invitation.objects.create(
        customer=customer, email="x@y.example", role="billing", token_hash="h", expires_at=timezone.now()
    )
    owner_client.post(
        reverse("privacy:request_new"), {"about": "customer", "kind": "erasure", "regime": "uk_gdpr", "details": ""}
    )
    dsr = DataSubjectRequest.objects.get()
    place_hold(customer, reason="Order of 1 May: say nothing to the customer", actor=staff, target=membership)
    requests_admin = reverse("admin:privacy_datasubjectrequest_changelist")
    fulfil = {"action": "fulfil", "_selected_action": [dsr.pk], "confirm": "yes", "note": ""}

    staff_client.post(requests_admin, fulfil)
    dsr.refresh_from_db()
    assert dsr.status == Status.HELD and dsr.closed_at is None  # not "Fulfilled" with something left
    assert not Invitation.objects.filter(customer=customer).exists()  # what could go went
    assert Membership.objects.filter(pk=membership.pk).exists()  # what the hold keeps stays
    [first] = mails("response")
    assert not mentions_a_hold(first.body_text) and "1 May" not in first.body_text
    assert "we need them to establish, exercise or defend legal claims" in first.body_text
    assert f"#{dsr.pk}" in staff_client.get(requests_admin + "?status__exact=held").content.decode()  # staff see it
    assert send_deadline_reminders() == 0  # answered in time; nothing to remind of while held

    staff_client.post(
        reverse("admin:privacy_legalhold_changelist"),
        {"action": "lift_selected", "_selected_action": [LegalHold.objects.get().pk]},
    )
    dsr.refresh_from_db()
    assert dsr.status == Status.OPEN and dsr.due_on == timezone.localdate()
    [released] = mails("released")
    assert released.to_addresses == [provider.privacy_email] and f"#{dsr.pk}" in released.subject
    assert send_deadline_reminders() == 1

    staff_client.post(requests_admin, fulfil)
    dsr.refresh_from_db()
    assert dsr.status == Status.FULFILLED and dsr.closed_at is not None
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert len(mails("response")) == 2  # the second run's answer is sent too


def test_a_request_another_hold_still_keeps_stays_held_and_the_requester_never_sees_a_hold(
    owner_client, membership, staff
):
    from privacy.services.holds import lift_hold, place_hold

    dsr = services.open_request_from_portal(membership, "erasure", "", "uk_gdpr")
    first = place_hold(membership.customer, reason="One", actor=staff)
    place_hold(membership.customer, reason="Two", actor=staff, target=membership.user)
    services.fulfil(dsr, actor=staff)
    for page in (reverse("privacy:request_detail", args=[dsr.pk]), reverse("privacy:requests")):
        text = owner_client.get(page).content.decode()
        assert "Answered" in text and not mentions_a_hold(text)

    lift_hold(first, actor=staff)
    dsr.refresh_from_db()
    assert dsr.status == Status.HELD and mails("released") == []


@pytest.mark.parametrize("form", ["privacy:public_request", "privacy:agent_request"])
def test_the_public_forms_are_limited_per_address(provider, form):
    from django.core.cache import cache

    cache.clear()
    client = Client(REMOTE_ADDR="203.0.113.9")
    answers = [client.post(reverse(form), {"email": "x"}).status_code for _ in range(11)]
    assert answers[:10] == [200] * 10 and answers[10] == 429  # the eleventh in the hour is refused
    assert Client(REMOTE_ADDR="198.51.100.1").post(reverse(form), {"email": "x"}).status_code == 200
    cache.clear()
