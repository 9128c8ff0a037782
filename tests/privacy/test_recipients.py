"""UK GDPR Art 19: recipients of a customer's data are told of a rectification, erasure or restriction."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from accounts.audit import System
from core.registry import Category, LawfulBasis
from privacy.models import DataSubjectRequest, DisclosureEntry, RecipientNotification
from privacy.services.ledger import record_disclosure, verify_chain
from privacy.services.recipients import recipients_to_notify, record_recipient_notification
from tests.accounts.factories import CustomerFactory, UserFactory, enable_totp

pytestmark = pytest.mark.django_db

Kind = DataSubjectRequest.Kind


def disclose(*customers, recipient: str, kind: str = DisclosureEntry.Recipient.ACCOUNTANT, **extra) -> DisclosureEntry:
    return record_disclosure(
        recipient_kind=kind,
        recipient=recipient,
        purpose="Year-end accounts",
        legal_basis=LawfulBasis.LEGAL_OBLIGATION,
        categories=[Category.FINANCIAL],
        customers=customers,
        **{"actor": System("tests"), **extra},
    )


def privacy_request(customer, kind: str = Kind.ERASURE) -> DataSubjectRequest:
    return DataSubjectRequest.objects.create(kind=kind, channel=DataSubjectRequest.Channel.STAFF, customer=customer)


@pytest.fixture
def ledger(customer):
    """Disclosures of ``customer``'s data, one of another customer's, and one to the customer."""
    other = CustomerFactory()
    return {
        "accountants": disclose(customer, other, recipient="Ledger & Co Chartered Accountants"),
        "rival_only": disclose(other, recipient="Only About The Rival LLP"),
        "own_export": disclose(customer, recipient="The customer", kind=DisclosureEntry.Recipient.DATA_SUBJECT),
        "bailiffs": disclose(customer, recipient="Bailiffs Direct", kind=DisclosureEntry.Recipient.DEBT_COLLECTION),
        "police": disclose(
            customer,
            recipient="Metropolitan Police",
            kind=DisclosureEntry.Recipient.AUTHORITY,
            withheld=True,
            withheld_reason="Production order; tipping off prohibited",
        ),
    }


@pytest.mark.parametrize("kind", [Kind.RECTIFICATION, Kind.ERASURE, Kind.RESTRICTION])
def test_recipients_of_the_customers_data_are_listed_oldest_first(customer, ledger, kind):
    request = privacy_request(customer, kind)

    assert recipients_to_notify(request) == [ledger["accountants"], ledger["bailiffs"], ledger["police"]]


@pytest.mark.parametrize("kind", [Kind.ACCESS, Kind.PORTABILITY, Kind.OBJECTION, Kind.WITHDRAW_CONSENT])
def test_other_requests_have_no_recipients_to_notify(customer, ledger, kind):
    assert recipients_to_notify(privacy_request(customer, kind)) == []


def test_a_request_without_a_customer_has_no_recipients_to_notify(ledger):
    assert recipients_to_notify(privacy_request(None)) == []


def test_a_notified_recipient_leaves_the_list(customer, ledger):
    request = privacy_request(customer)
    staff = UserFactory(is_staff=True)

    notification = record_recipient_notification(
        request, ledger["bailiffs"], actor=staff, how="email to their data protection officer"
    )

    assert notification.notified_by == staff
    assert notification.how == "email to their data protection officer"
    assert recipients_to_notify(request) == [ledger["accountants"], ledger["police"]]
    # Another request of the same customer still needs every recipient told.
    assert ledger["bailiffs"] in recipients_to_notify(privacy_request(customer, Kind.RECTIFICATION))


def test_recording_twice_keeps_the_first_record(customer, ledger):
    request = privacy_request(customer)
    first = record_recipient_notification(request, ledger["accountants"], actor=System("tests"), how="letter")

    again = record_recipient_notification(request, ledger["accountants"], actor=UserFactory(), how="phone call")

    assert again == first
    assert again.how == "letter"
    assert RecipientNotification.objects.count() == 1


def test_only_recipients_of_this_customers_data_can_be_recorded(customer, ledger):
    request = privacy_request(customer)

    for entry in (ledger["rival_only"], ledger["own_export"]):
        with pytest.raises(ValueError, match="did not send"):
            record_recipient_notification(request, entry, actor=System("tests"), how="letter")
    with pytest.raises(ValueError, match="how"):
        record_recipient_notification(request, ledger["accountants"], actor=System("tests"), how="  ")

    assert not RecipientNotification.objects.exists()


def test_notifying_leaves_the_ledger_intact(customer, ledger):
    record_recipient_notification(privacy_request(customer), ledger["accountants"], actor=System("tests"), how="letter")

    assert verify_chain() is None


# ---------------------------------------------------------------------------------------
# The admin page staff use
# ---------------------------------------------------------------------------------------


def _staff_client(*permissions: str) -> Client:
    staff = UserFactory(is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="privacy", codename__in=permissions))
    enable_totp(staff)
    client = Client()
    client.force_login(staff)
    return client


def test_the_page_has_the_url_name_the_request_admin_links_to(customer):
    request = privacy_request(customer)

    url = reverse("admin:privacy_recipientnotification_for_request", args=[request.pk])

    assert url == f"/admin/privacy/recipientnotification/for-request/{request.pk}/"


def test_staff_see_the_recipients_and_record_each_notification(customer, ledger):
    request = privacy_request(customer)
    client = _staff_client("view_recipientnotification", "add_recipientnotification")
    url = reverse("admin:privacy_recipientnotification_for_request", args=[request.pk])

    page = client.get(url).content.decode()
    assert "Ledger &amp; Co Chartered Accountants" in page
    assert "Bailiffs Direct" in page
    assert "Metropolitan Police" in page
    assert "Only About The Rival LLP" not in page

    response = client.post(
        url, {"disclosure": ledger["bailiffs"].pk, "how": "email to dpo@bailiffs.example"}, follow=True
    )

    assert response.redirect_chain == [(url, 302)]
    assert "Recorded that Bailiffs Direct was told" in response.content.decode()
    notification = RecipientNotification.objects.get()
    assert (notification.request, notification.disclosure) == (request, ledger["bailiffs"])
    assert notification.how == "email to dpo@bailiffs.example"
    assert recipients_to_notify(request) == [ledger["accountants"], ledger["police"]]
    assert "Already told (1)" in response.content.decode()
    assert "Still to tell (2)" in response.content.decode()


def test_a_notification_without_how_is_refused(customer, ledger):
    request = privacy_request(customer)
    client = _staff_client("view_recipientnotification", "add_recipientnotification")
    url = reverse("admin:privacy_recipientnotification_for_request", args=[request.pk])

    response = client.post(url, {"disclosure": ledger["bailiffs"].pk, "how": ""})

    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not RecipientNotification.objects.exists()


def test_another_customers_disclosure_cannot_be_recorded_through_the_page(customer, ledger):
    request = privacy_request(customer)
    client = _staff_client("view_recipientnotification", "add_recipientnotification")
    url = reverse("admin:privacy_recipientnotification_for_request", args=[request.pk])

    response = client.post(url, {"disclosure": ledger["rival_only"].pk, "how": "letter"}, follow=True)

    assert "did not send this request" in response.content.decode()
    assert not RecipientNotification.objects.exists()


def test_staff_who_may_only_view_cannot_record(customer, ledger):
    request = privacy_request(customer)
    client = _staff_client("view_recipientnotification")
    url = reverse("admin:privacy_recipientnotification_for_request", args=[request.pk])

    assert client.get(url).status_code == 200
    assert client.post(url, {"disclosure": ledger["bailiffs"].pk, "how": "letter"}).status_code == 403
    assert not RecipientNotification.objects.exists()


def test_staff_without_permission_cannot_see_the_page(customer, ledger):
    request = privacy_request(customer)
    client = _staff_client()

    response = client.get(reverse("admin:privacy_recipientnotification_for_request", args=[request.pk]))

    assert response.status_code == 403


def test_the_notifications_list_is_read_only(customer, ledger):
    request = privacy_request(customer)
    record_recipient_notification(request, ledger["accountants"], actor=System("tests"), how="letter")
    client = _staff_client("view_recipientnotification", "add_recipientnotification", "change_recipientnotification")

    changelist = client.get(reverse("admin:privacy_recipientnotification_changelist"))

    assert changelist.status_code == 200
    assert "Ledger &amp; Co" in changelist.content.decode() or "#1 to Ledger" in changelist.content.decode()
    assert client.get(reverse("admin:privacy_recipientnotification_add")).status_code == 403


def test_our_own_staff_and_the_person_are_not_recipients_to_notify(customer):
    accountants = disclose(customer, recipient="Ledgerline Accountants")
    disclose(customer, recipient="Support engineer", kind=DisclosureEntry.Recipient.STAFF_STORAGE_ACCESS)
    disclose(customer, recipient="The customer", kind=DisclosureEntry.Recipient.DATA_SUBJECT)
    assert recipients_to_notify(privacy_request(customer)) == [accountants]
