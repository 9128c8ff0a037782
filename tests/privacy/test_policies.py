"""Policy versions: public history, numbering, notice of material changes, acknowledgement."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from accounts import roles
from accounts.audit import AuditEvent, System
from accounts.correspondence.models import MailKind, Message
from accounts.models import Customer
from privacy.middleware import SESSION_PENDING_KEY
from privacy.models import PolicyAcknowledgement, PolicyVersion
from privacy.services import policies
from tests.accounts.factories import CustomerFactory, MembershipFactory, UserFactory, enable_totp

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
MIDDLEWARE = "privacy.middleware.PolicyAcknowledgementMiddleware"


def publish(document="privacy", *, material=False, days_ahead=45, summary="", body="The policy text."):
    return policies.publish_version(
        document=document,
        body=body,
        effective_from=TODAY + dt.timedelta(days=days_ahead),
        material_change=material,
        summary=summary or ("We now keep backups for 90 days." if material else ""),
        actor=System("test"),
    )


def backdated(document="privacy", *, material=False, effective_from, summary="Old change"):
    """A version published in the past (publish_version refuses a material one without notice today)."""
    version = publish(document, days_ahead=45, summary=summary)
    PolicyVersion.objects.filter(pk=version.pk).update(
        effective_from=effective_from, material_change=material, notice_sent_at=timezone.now() if material else None
    )
    version.refresh_from_db()
    return version


@pytest.fixture
def acknowledgement_middleware(settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, MIDDLEWARE]


# ---------------------------------------------------------------------------------------
# Publishing and the public history
# ---------------------------------------------------------------------------------------


def test_publishing_numbers_versions_per_document():
    first = publish("privacy")
    second = publish("privacy")
    terms = publish("terms")

    assert (first.version, second.version, terms.version) == (1, 2, 1)
    assert all(v.published_at is not None for v in (first, second, terms))


def test_material_change_needs_a_summary_and_the_notice_period(settings):
    settings.PORTAL_POLICY_NOTICE_DAYS = 30
    with pytest.raises(ValidationError) as too_soon:
        publish(material=True, days_ahead=29)
    assert "effective_from" in too_soon.value.error_dict
    with pytest.raises(ValidationError) as no_summary:
        policies.publish_version("privacy", "Text", TODAY + dt.timedelta(days=40), True, "  ", actor=System("test"))
    assert "summary_of_changes" in no_summary.value.error_dict

    assert publish(material=True, days_ahead=30).version == 1
    assert publish(material=False, days_ahead=0).version == 2  # a correction of a typo needs no notice


def test_policy_history_is_public_with_dates(client, provider):
    old = backdated(effective_from=dt.date(2024, 1, 1), summary="First version")
    current = backdated(effective_from=dt.date(2025, 6, 1), summary="Clearer retention periods")
    upcoming = publish(material=True, days_ahead=40, summary="Backups kept for 90 days")

    response = client.get(reverse("privacy:policies"))

    assert response.status_code == 200
    html = response.content.decode()
    for version in (old, current, upcoming):
        assert reverse("privacy:policy_version", args=["privacy", version.version]) in html
    assert "1 January 2024" in html and "1 June 2025" in html
    assert "Clearer retention periods" in html and "Backups kept for 90 days" in html
    assert "In force" in html and "Upcoming" in html


def test_each_past_version_has_its_own_public_page(client, provider):
    backdated(effective_from=dt.date(2024, 1, 1))
    PolicyVersion.objects.filter(version=1).update(body="We keep logs for 7 days.")
    publish(body="We keep logs for 30 days.", days_ahead=0)

    old = client.get(reverse("privacy:policy_version", args=["privacy", 1])).content.decode()
    new = client.get(reverse("privacy:policy_version", args=["privacy", 2])).content.decode()

    assert "7 days" in old and "replaced by a later version" in old
    assert "30 days" in new and "in force now" in new
    assert client.get(reverse("privacy:policy_version", args=["privacy", 3])).status_code == 404
    assert client.get(reverse("privacy:policy_version", args=["nonsense", 1])).status_code == 404


def test_unpublished_versions_are_not_shown(client, provider):
    PolicyVersion.objects.create(document="privacy", version=1, effective_from=TODAY, body="Draft text")

    assert client.get(reverse("privacy:policy_version", args=["privacy", 1])).status_code == 404
    assert "Draft text" not in client.get(reverse("privacy:policies")).content.decode()


def test_policy_history_query_count_does_not_grow_with_versions(client, provider, django_assert_max_num_queries):
    for _ in range(12):
        publish(days_ahead=0)
    with django_assert_max_num_queries(4):
        assert client.get(reverse("privacy:policies")).status_code == 200


# ---------------------------------------------------------------------------------------
# Notice of material changes
# ---------------------------------------------------------------------------------------


@pytest.fixture
def customers(provider):
    """Two customers with several contacts each, one closed customer, one with no contact."""
    first = CustomerFactory()
    first_contacts = [MembershipFactory(customer=first, role=role).user for role in roles.Role]
    second = CustomerFactory()
    second_contacts = [MembershipFactory(customer=second, role=roles.Role.OWNER).user]
    closed = CustomerFactory(status=Customer.Status.CLOSED, closed_at=timezone.now())
    MembershipFactory(customer=closed)
    CustomerFactory()  # nobody to tell
    return {first: first_contacts, second: second_contacts}


def test_material_change_emails_every_customers_contacts_once(customers, settings):
    settings.PORTAL_POLICY_NOTICE_DAYS = 30
    version = publish(material=True, days_ahead=30, summary="We now keep backups for 90 days.")

    assert policies.send_policy_change_notices() == 2
    assert policies.send_policy_change_notices() == 0  # run twice: still one email per customer

    messages = Message.objects.filter(template="policy_change")
    assert messages.count() == 2
    for customer, contacts in customers.items():
        message = messages.get(customer=customer)
        assert message.kind == MailKind.PRIVACY
        assert sorted(message.to_addresses) == sorted(c.email for c in contacts)
        assert "We now keep backups for 90 days." in message.body_text
        assert version.effective_from.strftime("%-d %B %Y") in message.subject
    version.refresh_from_db()
    assert version.notice_sent_at is not None


def test_notice_goes_out_only_once_the_notice_window_opens(customers, settings):
    settings.PORTAL_POLICY_NOTICE_DAYS = 30
    version = publish(material=True, days_ahead=40)

    assert policies.send_policy_change_notices(today=TODAY) == 0
    assert policies.send_policy_change_notices(today=TODAY + dt.timedelta(days=9)) == 0
    assert not Message.objects.exists()

    assert policies.send_policy_change_notices(today=TODAY + dt.timedelta(days=10)) == 2
    assert Message.objects.filter(related_id=str(version.pk)).count() == 2


def test_non_material_changes_email_nobody(customers):
    publish(material=False, days_ahead=0)
    publish(material=False, days_ahead=10)

    assert policies.send_policy_change_notices() == 0
    assert not Message.objects.exists()


def test_a_notice_interrupted_half_way_sends_each_customer_once(customers, settings):
    settings.PORTAL_POLICY_NOTICE_DAYS = 30
    version = publish(material=True, days_ahead=30)
    first = next(iter(customers))
    policies.notify_customers_of(version)  # a run that stored its emails, then died before the stamp

    policies.send_policy_change_notices()

    assert Message.objects.filter(customer=first, template="policy_change").count() == 1
    assert Message.objects.filter(template="policy_change").count() == 2


def test_the_scheduled_task_sends_the_notices(customers, settings):
    from privacy.tasks import send_policy_change_notices

    settings.PORTAL_POLICY_NOTICE_DAYS = 30
    publish(material=True, days_ahead=30)

    send_policy_change_notices.delay()

    assert Message.objects.filter(template="policy_change").count() == 2


def test_the_notice_task_is_scheduled_daily_in_the_database():
    task = PeriodicTask.objects.get(task="privacy.tasks.send_policy_change_notices")
    assert task.enabled and task.crontab is not None and task.crontab.hour == "7"


def test_notice_batch_query_count_is_bounded_per_customer(provider, settings, django_assert_max_num_queries):
    settings.PORTAL_POLICY_NOTICE_DAYS = 30
    for _ in range(10):
        MembershipFactory(role=roles.Role.OWNER)
    publish(material=True, days_ahead=30)

    with django_assert_max_num_queries(10 * 9 + 10):  # the gateway costs ~9 queries per email
        assert policies.send_policy_change_notices() == 10


# ---------------------------------------------------------------------------------------
# Acknowledgement at the next login
# ---------------------------------------------------------------------------------------


def test_acknowledgement_is_asked_at_the_next_request_after_login_and_recorded_once(
    acknowledgement_middleware, owner, provider
):
    version = publish(material=True, days_ahead=40, summary="Backups are now kept for 90 days.")
    client = Client()
    client.force_login(owner)

    response = client.get(reverse("accounts:services"))
    ack_url = reverse("privacy:acknowledge_policy")
    assert response.status_code == 302
    assert response["Location"] == f"{ack_url}?next=%2Fservices%2F"

    page = client.get(response["Location"])
    assert page.status_code == 200
    assert "Backups are now kept for 90 days." in page.content.decode()

    done = client.post(ack_url, {"version": [version.pk], "next": "/services/"})
    assert done.status_code == 302 and done["Location"] == "/services/"
    assert client.get(reverse("accounts:services")).status_code == 200

    client.post(ack_url, {"version": [version.pk], "next": "/services/"})  # a double submit
    assert PolicyAcknowledgement.objects.filter(person=owner, version=version).count() == 1


def test_a_change_published_during_a_session_is_asked_about_at_the_next_login(
    acknowledgement_middleware, owner, provider
):
    client = Client()
    client.force_login(owner)
    assert client.get(reverse("accounts:services")).status_code == 200
    publish(material=True, days_ahead=40)

    assert client.get(reverse("accounts:services")).status_code == 200  # not in the middle of their work
    client.logout()
    client.force_login(owner)
    assert client.get(reverse("accounts:services"))["Location"].startswith(reverse("privacy:acknowledge_policy"))


def test_a_session_from_before_the_check_existed_is_checked_once(acknowledgement_middleware, owner_client):
    publish(material=True, days_ahead=40)
    session = owner_client.session
    del session[SESSION_PENDING_KEY]
    session.save()

    response = owner_client.get(reverse("accounts:services"))

    assert response["Location"].startswith(reverse("privacy:acknowledge_policy"))


def test_the_check_costs_ordinary_pages_no_query(settings, owner_client, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    url = reverse("accounts:services")
    owner_client.get(url)
    with CaptureQueriesContext(connection) as without:
        owner_client.get(url)
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, MIDDLEWARE]
    with django_assert_num_queries(len(without.captured_queries)):
        assert owner_client.get(url).status_code == 200


def test_pending_acknowledgement_does_not_block_posts_logout_or_the_policy_text(
    acknowledgement_middleware, owner_client, provider
):
    version = publish(material=True, days_ahead=40)

    assert owner_client.get(reverse("privacy:policy_version", args=["privacy", version.version])).status_code == 200
    assert owner_client.get(reverse("privacy:policies")).status_code == 200
    assert owner_client.get(reverse("account_email")).status_code == 200
    assert owner_client.post(reverse("account_logout")).status_code == 302
    assert not PolicyAcknowledgement.objects.exists()


def test_staff_and_people_without_pending_changes_are_not_redirected(acknowledgement_middleware, owner_client, owner):
    publish(material=False, days_ahead=0)
    assert owner_client.get(reverse("accounts:services")).status_code == 200

    staff = UserFactory(is_staff=True, is_superuser=True)
    enable_totp(staff)
    publish(material=True, days_ahead=40)
    staff_client = Client()
    staff_client.force_login(staff)
    assert staff_client.get(reverse("admin:index")).status_code == 200


def test_a_version_in_force_before_the_person_joined_is_not_asked_about(acknowledgement_middleware, provider):
    backdated(effective_from=TODAY - dt.timedelta(days=400), material=True)
    newcomer = MembershipFactory(user__date_joined=timezone.now() - dt.timedelta(days=10)).user
    client = Client()
    client.force_login(newcomer)

    assert client.get(reverse("accounts:services")).status_code == 200


def test_acknowledging_records_only_the_versions_shown(owner_client, owner):
    shown = publish(material=True, days_ahead=40)
    other = publish("terms", material=True, days_ahead=40)

    owner_client.post(reverse("privacy:acknowledge_policy"), {"version": [shown.pk], "next": "/"})

    assert PolicyAcknowledgement.objects.filter(person=owner, version=shown).exists()
    assert not PolicyAcknowledgement.objects.filter(version=other).exists()


def test_acknowledgement_page_refuses_an_off_site_next(owner_client):
    publish(material=True, days_ahead=40)

    response = owner_client.post(reverse("privacy:acknowledge_policy"), {"next": "https://evil.example/"})

    assert response["Location"] == reverse("portal:dashboard")


# ---------------------------------------------------------------------------------------
# The admin
# ---------------------------------------------------------------------------------------


def test_staff_write_a_draft_preview_it_then_publish_it_and_it_is_read_only(admin_client_mfa, settings):
    settings.PORTAL_POLICY_NOTICE_DAYS = 30
    publish("privacy", days_ahead=0)
    form = {
        "document": "privacy",
        "effective_from": (TODAY + dt.timedelta(days=31)).isoformat(),
        "material_change": "on",
        "summary_of_changes": "New **processor**",
        "body": "# Who we share with\n\nFull text",
    }

    response = admin_client_mfa.post(reverse("admin:privacy_policyversion_add"), form)

    draft = PolicyVersion.objects.get(document="privacy", published_at=None)
    assert response.status_code == 302 and response["Location"] == reverse(
        "admin:privacy_policyversion_change", args=[draft.pk]
    )
    assert draft.version is None  # a draft has no number yet, and is not public
    assert "Full text" not in Client().get(reverse("privacy:policies")).content.decode()
    change_url = reverse("admin:privacy_policyversion_change", args=[draft.pk])
    admin_client_mfa.post(change_url, {**form, "body": "# Who we share with\n\nBetter text"})  # a draft can change
    draft.refresh_from_db()
    assert draft.body.endswith("Better text")

    preview = admin_client_mfa.get(reverse("admin:privacy_policyversion_preview", args=[draft.pk])).content.decode()
    assert "Preview." in preview and "<h2>Who we share with</h2>" in preview and "# Who" not in preview
    assert "New <strong>processor</strong>" in preview
    confirm = admin_client_mfa.get(reverse("admin:privacy_policyversion_publish", args=[draft.pk])).content.decode()
    assert "<h2>Who we share with</h2>" in confirm and "Publish this version" in confirm
    assert draft.published_at is None  # looking is not publishing

    response = admin_client_mfa.post(reverse("admin:privacy_policyversion_publish", args=[draft.pk]))

    assert response.status_code == 302
    version = PolicyVersion.objects.get(pk=draft.pk)
    assert version.version == 2 and version.published_at is not None and version.material_change
    assert AuditEvent.objects.about(version).filter(action="policy.published").count() == 1
    public = Client().get(reverse("privacy:policy_version", args=["privacy", 2])).content.decode()
    assert "<h2>Who we share with</h2>" in public and "Better text" in public
    # Published: viewable, never changed, never deleted, never published again.
    assert admin_client_mfa.get(change_url).status_code == 200
    admin_client_mfa.post(change_url, {**form, "body": "Altered"})
    version.refresh_from_db()
    assert version.body.endswith("Better text")
    again = admin_client_mfa.post(reverse("admin:privacy_policyversion_publish", args=[draft.pk]), follow=True)
    assert "already published" in again.content.decode()
    assert PolicyVersion.objects.get(pk=draft.pk).version == 2
    assert (
        admin_client_mfa.post(
            reverse("admin:privacy_policyversion_delete", args=[version.pk]), {"post": "yes"}
        ).status_code
        == 403
    )


def test_a_published_version_refuses_changes_in_the_model_and_the_service(provider):
    version = publish("privacy", days_ahead=0)
    version.body = "Rewritten history"
    with pytest.raises(ValidationError):
        version.save()
    with pytest.raises(ValidationError, match="published"):
        policies.save_draft(
            document="privacy",
            body="Rewritten",
            effective_from=TODAY,
            material_change=False,
            summary="",
            actor=System("test"),
            draft=version,
        )
    with pytest.raises(ValidationError, match="already published"):
        policies.publish(version, actor=System("test"))
    assert PolicyVersion.objects.get(pk=version.pk).body == "The policy text."


def test_publishing_checks_the_notice_period_again_on_the_day(settings, admin_client_mfa):
    settings.PORTAL_POLICY_NOTICE_DAYS = 30
    draft = policies.save_draft(
        document="terms",
        body="Text",
        effective_from=TODAY + dt.timedelta(days=31),
        material_change=True,
        summary="Prices",
        actor=System("test"),
    )
    settings.PORTAL_POLICY_NOTICE_DAYS = 60  # the draft waited too long, or the rule changed

    response = admin_client_mfa.post(reverse("admin:privacy_policyversion_publish", args=[draft.pk]))

    assert response.status_code == 200 and "at least 60 days" in response.content.decode()
    assert PolicyVersion.objects.get(pk=draft.pk).published_at is None


def test_the_policy_text_is_markdown_and_its_html_never_runs(client, provider):
    publish(
        "privacy",
        days_ahead=0,
        body=(
            "# Your rights\n\nYou may **object** at any time:\n\n- by email\n- [by post](https://example.com/post)\n\n"
            '<script>alert("x")</script>\n\n<img src=x onerror=alert(1)>\n\n[click](javascript:alert(1))\n\n'
            "| Data | Kept |\n|---|--:|\n| Invoices | 6 years |"
        ),
    )

    html = client.get(reverse("privacy:policy_version", args=["privacy", 1])).content.decode()
    article = html[html.index('<article class="policy-text">') : html.index("</article>")]

    assert "<h2>Your rights</h2>" in article and "<strong>object</strong>" in article
    assert "<li>by email</li>" in article
    assert '<a href="https://example.com/post" rel="noopener noreferrer">by post</a>' in article
    assert "<td>Invoices</td>" in article and "style=" not in article
    # Raw HTML is shown as text, never as markup; a javascript: link is not made a link.
    assert "<script" not in article and "&lt;script&gt;" in article
    assert "<img" not in article and "&lt;img src=x onerror=alert(1)&gt;" in article
    assert "javascript:" not in article.replace("[click](javascript:alert(1))", "")
    assert "#" not in article and "**" not in article


def test_the_notice_email_shows_the_summary_as_readable_text_and_html(customers, settings):
    settings.PORTAL_POLICY_NOTICE_DAYS = 30
    publish(
        material=True,
        days_ahead=30,
        summary="We now use **two** processors:\n\n- Acme Backups\n- [Mailco](https://mailco.example)",
    )

    policies.send_policy_change_notices()

    message = Message.objects.filter(template="policy_change").first()
    assert "We now use two processors:\n\n- Acme Backups\n- Mailco (https://mailco.example)" in message.body_text
    assert "**" not in message.body_text
    assert "<strong>two</strong>" in message.body_html and "<li>Acme Backups</li>" in message.body_html


def test_admin_refuses_a_material_change_without_notice(admin_client_mfa, settings):
    settings.PORTAL_POLICY_NOTICE_DAYS = 30
    response = admin_client_mfa.post(
        reverse("admin:privacy_policyversion_add"),
        {
            "document": "privacy",
            "effective_from": TODAY.isoformat(),
            "material_change": "on",
            "summary_of_changes": "Something",
            "body": "Text",
        },
    )

    assert response.status_code == 200
    assert "at least 30 days" in response.content.decode()
    assert not PolicyVersion.objects.exists()


def test_staff_read_consents_and_acknowledgements_but_cannot_change_them(admin_client_mfa, owner):
    from privacy.services import consent

    record = consent.give_consent(owner, "analytics_cookies", "Words", "v1", "banner")
    version = publish(material=True, days_ahead=40)
    policies.acknowledge(owner, [version])

    for model, pk in (("consentrecord", record.pk), ("policyacknowledgement", PolicyAcknowledgement.objects.get().pk)):
        assert admin_client_mfa.get(reverse(f"admin:privacy_{model}_changelist")).status_code == 200
        assert admin_client_mfa.get(reverse(f"admin:privacy_{model}_change", args=[pk])).status_code == 200
        assert admin_client_mfa.get(reverse(f"admin:privacy_{model}_add")).status_code == 403
