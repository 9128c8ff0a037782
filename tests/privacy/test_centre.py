"""The privacy centre's landing page and instructions for after death."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import roles
from accounts.audit import System
from privacy.models import PostMortemInstruction, ProcessingRestriction
from privacy.services import consent, policies
from tests.accounts.factories import MembershipFactory, UserFactory, enable_totp

pytestmark = pytest.mark.django_db

SECTIONS = ["what_we_hold", "disclosures", "exports", "requests", "request_new"]


def test_centre_renders_for_an_owner_with_every_section(owner_client, customer):
    ProcessingRestriction.objects.create(
        kind=ProcessingRestriction.Kind.RESTRICTION, customer=customer, scope="Marketing analysis of our usage"
    )
    ProcessingRestriction.objects.create(
        kind=ProcessingRestriction.Kind.OBJECTION, customer=customer, lifted_at=timezone.now(), scope="Lifted long ago"
    )
    policies.publish_version("privacy", "Text", timezone.localdate(), False, "", actor=System("test"))

    response = owner_client.get(reverse("privacy:centre"))

    assert response.status_code == 200
    html = response.content.decode()
    for name in [*SECTIONS, "consents", "death_instructions", "policies"]:
        assert reverse(f"privacy:{name}") in html
    assert "Marketing analysis of our usage" in html
    assert "Lifted long ago" not in html
    assert reverse("privacy:policy_version", args=["privacy", 1]) in html


def test_centre_shows_a_non_owner_only_their_own_choices(customer, provider):
    technical = MembershipFactory(customer=customer, role=roles.Role.TECHNICAL).user
    ProcessingRestriction.objects.create(
        kind=ProcessingRestriction.Kind.RESTRICTION, customer=customer, scope="Customer-wide restriction"
    )
    client = Client()
    client.force_login(technical)

    response = client.get(reverse("privacy:centre"))

    assert response.status_code == 200
    html = response.content.decode()
    assert reverse("privacy:consents") in html and reverse("privacy:death_instructions") in html
    assert reverse("privacy:disclosures") not in html
    # Their own rights are offered to them: what we hold about them, their export, requests.
    for own in ("privacy:what_we_hold", "privacy:exports", "privacy:requests", "privacy:request_new"):
        assert reverse(own) in html
    assert "are for its owners" in html
    assert "Customer-wide restriction" not in html


def test_centre_shows_upcoming_policy_changes(customer, provider):
    person = MembershipFactory(customer=customer, role=roles.Role.BILLING).user
    version = policies.publish_version(
        "terms",
        "Text",
        timezone.localdate() + dt.timedelta(days=45),
        True,
        "Prices are now **fixed** for 12 months.",
        actor=System("test"),
    )
    policies.acknowledge(person, [version])  # else the acknowledgement comes first
    client = Client()
    client.force_login(person)

    html = client.get(reverse("privacy:centre")).content.decode()

    assert "Prices are now <strong>fixed</strong> for 12 months." in html  # the summary's Markdown, rendered


def test_centre_needs_login(client):
    response = client.get(reverse("privacy:centre"))

    assert response.status_code == 302 and reverse("account_login") in response["Location"]


def test_centre_query_count_is_bounded(owner_client, customer, django_assert_max_num_queries):
    for _ in range(5):
        ProcessingRestriction.objects.create(kind=ProcessingRestriction.Kind.RESTRICTION, customer=customer)
        policies.publish_version("privacy", "Text", timezone.localdate(), False, "", actor=System("test"))
    with django_assert_max_num_queries(14):
        assert owner_client.get(reverse("privacy:centre")).status_code == 200


# ---------------------------------------------------------------------------------------
# Instructions for after death
# ---------------------------------------------------------------------------------------


def test_a_person_records_updates_and_deletes_their_instructions(owner_client, owner):
    url = reverse("privacy:death_instructions")
    assert "You have not left any instructions." in owner_client.get(url).content.decode()

    owner_client.post(url, {"action": "save", "instructions": "Delete everything; tell my sister Ann."})
    assert PostMortemInstruction.objects.get(person=owner).instructions == "Delete everything; tell my sister Ann."
    assert "tell my sister Ann" in owner_client.get(url).content.decode()

    owner_client.post(url, {"action": "save", "instructions": "Give a copy to Ann, then delete."})
    assert PostMortemInstruction.objects.get(person=owner).instructions == "Give a copy to Ann, then delete."
    assert PostMortemInstruction.objects.count() == 1

    owner_client.post(url, {"action": "delete"})
    assert not PostMortemInstruction.objects.filter(person=owner).exists()


def test_empty_instructions_are_refused(owner_client, owner):
    response = owner_client.post(reverse("privacy:death_instructions"), {"action": "save", "instructions": "   "})

    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    assert not PostMortemInstruction.objects.exists()


def test_another_persons_instructions_are_never_visible_or_deletable(owner_client, owner, customer):
    colleague = MembershipFactory(customer=customer, role=roles.Role.OWNER).user
    consent.record_post_mortem_instructions(colleague, "Colleague's private wishes")
    url = reverse("privacy:death_instructions")

    html = owner_client.get(url).content.decode()
    assert "private wishes" not in html
    owner_client.post(url, {"action": "delete"})
    owner_client.post(url, {"action": "save", "instructions": "Mine"})

    assert PostMortemInstruction.objects.get(person=colleague).instructions == "Colleague's private wishes"
    assert PostMortemInstruction.objects.get(person=owner).instructions == "Mine"


def test_a_person_without_a_customer_can_still_leave_instructions(provider):
    loner = UserFactory()
    client = Client()
    client.force_login(loner)

    client.post(reverse("privacy:death_instructions"), {"action": "save", "instructions": "Delete all."})

    assert PostMortemInstruction.objects.get(person=loner).instructions == "Delete all."


def test_staff_see_instructions_in_the_admin_read_only(owner):
    consent.record_post_mortem_instructions(owner, "Delete everything.")
    staff = UserFactory(is_staff=True, is_superuser=True)
    enable_totp(staff)
    client = Client()
    client.force_login(staff)
    record = PostMortemInstruction.objects.get()

    changelist = client.get(reverse("admin:privacy_postmorteminstruction_changelist"))
    detail = client.get(reverse("admin:privacy_postmorteminstruction_change", args=[record.pk]))

    assert changelist.status_code == 200 and str(owner) in changelist.content.decode()
    assert detail.status_code == 200 and "Delete everything." in detail.content.decode()
    client.post(reverse("admin:privacy_postmorteminstruction_change", args=[record.pk]), {"instructions": "Altered"})
    record.refresh_from_db()
    assert record.instructions == "Delete everything."


# ---------------------------------------------------------------------------------------
# Every person keeps their own rights, whatever their role and after their last customer
# ---------------------------------------------------------------------------------------


def test_a_person_removed_from_their_last_customer_keeps_their_privacy_pages(
    customer, provider, django_capture_on_commit_callbacks
):
    from accounts.models import Membership
    from privacy.models import ConsentRecord, DataExport, DataSubjectRequest

    membership = MembershipFactory(customer=customer, role=roles.Role.TECHNICAL)
    person = membership.user
    ConsentRecord.objects.create(person=person, purpose="analytics", wording="Allow analytics", method="banner")
    client = Client()
    client.force_login(person)
    client.post(reverse("privacy:request_new"), {"kind": "access", "regime": "uk_gdpr", "details": "Before"})
    Membership.objects.filter(pk=membership.pk).delete()  # removed from their last customer

    for name in ("centre", "requests", "request_new", "exports", "what_we_hold", "consents"):
        response = client.get(reverse(f"privacy:{name}"))
        assert response.status_code == 200, name
    before = DataSubjectRequest.objects.get()
    assert client.get(reverse("privacy:request_detail", args=[before.pk])).status_code == 200
    assert b"Allow analytics" in client.get(reverse("privacy:consents")).content

    response = client.post(reverse("privacy:request_new"), {"kind": "erasure", "regime": "uk_gdpr", "details": "After"})
    after = DataSubjectRequest.objects.get(details="After")
    assert response["Location"] == reverse("privacy:request_detail", args=[after.pk])
    assert (after.person, after.customer) == (person, None)
    listing = client.get(reverse("privacy:requests")).content
    assert reverse("privacy:request_detail", args=[after.pk]).encode() in listing

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("privacy:exports"))
    export = DataExport.objects.get()
    assert export.person == person and export.status == DataExport.Status.READY
    assert client.get(reverse("privacy:export_download", args=[export.pk])).status_code == 200


def test_mail_about_an_owners_request_for_the_customer_is_the_owners_alone(owner_client, owner, customer):
    from accounts.correspondence.models import Message

    billing = MembershipFactory(customer=customer, role=roles.Role.BILLING).user
    technical = MembershipFactory(customer=customer, role=roles.Role.TECHNICAL).user
    owner_client.post(
        reverse("privacy:request_new"), {"about": "customer", "kind": "access", "regime": "uk_gdpr", "details": ""}
    )
    receipt = Message.objects.get(template="privacy_request_received")
    assert (receipt.customer, receipt.person) == (customer, owner)
    detail = reverse("correspondence:detail", args=[receipt.pk])
    assert owner_client.get(detail).status_code == 200
    assert detail.encode() in owner_client.get(reverse("correspondence:list")).content
    for contact in (billing, technical):
        client = Client()
        client.force_login(contact)
        assert client.get(detail).status_code == 404
        assert detail.encode() not in client.get(reverse("correspondence:list")).content
