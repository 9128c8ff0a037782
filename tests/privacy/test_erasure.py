"""The erasure engine: keep what the law requires, delete or anonymise the rest, all or nothing."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from allauth.account.models import EmailAddress
from django.utils import timezone

from accounts import roles
from accounts.correspondence.models import Message
from accounts.models import Customer, Invitation, Membership, Service, User
from privacy.models import ErasureRun, LegalHold
from privacy.services import erasure, holds
from privacy.services.erasure import ErasureFailed, erasure_notice, erasure_plan, execute_erasure
from tests.accounts.factories import CustomerFactory, MembershipFactory, ServiceFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db

_HOLD_WORDS = re.compile(r"legal hold|\bheld\b|\b(a|the|on|under) hold\b|\bholds\b|lifted", re.IGNORECASE)


def mentions_a_hold(text: str) -> bool:
    """Whether ``text`` gives away a legal hold ("we hold your data" is not one)."""
    return bool(_HOLD_WORDS.search(text))


def make_message(customer: Customer | None = None, *, person: User | None = None, **extra) -> Message:
    values = {
        "customer": customer,
        "person": person,
        "direction": Message.Direction.OUTBOUND,
        "kind": "service",
        "status": Message.Status.SENT,
        "message_id": f"{uuid.uuid4()}@portal.example",
        "from_address": "support@hosting.example",
        "to_addresses": ["owner@customer.example"],
        "subject": "Your server web-01",
        "body_text": "Dear Ada, your server is ready.",
        "headers": {"X-Customer": "Ada"},
        **extra,
    }
    return Message.objects.create(**values)


@pytest.fixture
def officer(db) -> User:
    return StaffFactory()


@pytest.fixture
def subject(customer):
    """A closed customer with a contact, an invitation, a service, and mail."""
    contact = MembershipFactory(customer=customer, role=roles.Role.OWNER).user
    Invitation.objects.create(
        customer=customer,
        email="invitee@customer.example",
        role=roles.Role.BILLING,
        token_hash=uuid.uuid4().hex,
        expires_at=timezone.now() + dt.timedelta(days=7),
    )
    service = ServiceFactory(customer=customer, started_on=dt.date(2018, 1, 1), ended_on=dt.date(2019, 6, 30))
    message = make_message(customer)
    return {"customer": customer, "contact": contact, "service": service, "message": message}


def _by_model(plan: list[dict]) -> dict[str, list[dict]]:
    items: dict[str, list[dict]] = {}
    for item in plan:
        items.setdefault(item["model"], []).append(item)
    return items


def test_plan_keeps_what_the_law_requires_and_erases_the_rest(subject):
    plan = _by_model(erasure_plan(customer=subject["customer"]))

    [customer_item] = plan["accounts.Customer"]
    assert customer_item["action"] == "keep"
    assert customer_item["keep_until"] is None and customer_item["keep_while"] == "while the account is open"
    [service_item] = plan["accounts.Service"]
    # Ended 2019-06-30, in the financial year ending 2020-03-31: kept 6 years from then.
    assert service_item["action"] == "keep" and service_item["keep_until"] == "2026-03-31"
    # Six years is the VAT and HMRC rule (the Companies Act asks a private company for three).
    assert "VAT Notice 700/21" in service_item["reason"] and "Companies Act" not in service_item["reason"]
    assert plan["accounts.Membership"][0]["action"] == "delete"
    assert plan["accounts.Invitation"][0]["action"] == "delete"
    assert plan["account.EmailAddress"][0]["action"] == "delete"
    assert plan["accounts.User"][0]["action"] == "anonymise"
    assert set(plan["accounts.User"][0]["fields"]) == {"email", "full_name", "is_active", "password", "deactivated_at"}
    assert plan["accounts.Message"][0] | {"count": 1, "action": "anonymise"} == plan["accounts.Message"][0]


def test_erasure_deletes_and_anonymises_and_keeps_as_declared(subject, officer):
    customer, contact, message = subject["customer"], subject["contact"], subject["message"]
    before = Customer.objects.values().get(pk=customer.pk)

    run = execute_erasure(customer=customer, actor=officer)

    after = Customer.objects.values().get(pk=customer.pk)
    # Kept as it is, except that the relationship ended first: the account is closed.
    assert after["status"] == "closed" and after["closed_at"] is not None
    assert {**after, "status": before["status"], "closed_at": before["closed_at"]} == before
    assert Service.objects.filter(pk=subject["service"].pk).exists()
    assert not Membership.objects.filter(customer=customer).exists()
    assert not Invitation.objects.filter(customer=customer).exists()
    assert not EmailAddress.objects.filter(user=contact).exists()
    contact.refresh_from_db()
    assert contact.email == f"erased-{contact.pk}@invalid" and contact.full_name == "" and not contact.is_active
    message = Message.objects.get(pk=message.pk)  # the row stays...
    assert (message.subject, message.body_text, message.to_addresses, message.headers) == ("(erased)", "", [], {})
    assert message.from_address == "erased@invalid" and message.kind == "service"  # ...its content goes

    run = ErasureRun.objects.get(pk=run.pk)
    assert run.run_by == officer and run.customer == customer and not run.dry_run
    assert {item["model"] for item in run.plan} >= {"accounts.Customer", "accounts.Service", "accounts.Message"}
    results = {r["model"]: r for r in run.result}
    assert results["accounts.Membership"] == {"model": "accounts.Membership", "action": "delete", "affected": 1}
    assert results["accounts.Message"]["affected"] == 1 and results["accounts.User"]["affected"] == 1
    assert "accounts.Customer" not in results  # kept: nothing to do


def test_the_notice_says_what_was_erased_and_what_was_kept_and_why(subject, officer):
    run = execute_erasure(customer=subject["customer"], actor=officer)

    notice = erasure_notice(run)

    erased, kept = notice.split("What we kept, and why")
    assert "Which people act for the customer, and in which role. (1 record): deleted." in erased
    assert "Every email we sent you and every email you sent us. (1 record): we erased the" in erased
    assert "subject" in erased and "The record that a message was sent stays" in erased
    assert "The services you hold with us. (1 record): Records of services supplied are business records" in kept
    assert "Finance Act 1998 Sch 18 para 21" in kept and "Companies Act" not in notice
    assert "on or after 31 March 2026" in kept
    # The account was closed before the erasure, so what is kept has a date to go by.
    assert "The customer account" in kept and "while the account is open" not in kept
    assert "Article 17(3)" in notice


def test_a_contact_of_another_customer_keeps_their_login(subject, officer):
    contact = subject["contact"]
    other = CustomerFactory()
    MembershipFactory(customer=other, user=contact)

    plan = _by_model(erasure_plan(customer=subject["customer"]))
    [user_item] = plan["accounts.User"]
    assert user_item["action"] == "keep" and user_item["shared"]

    execute_erasure(customer=subject["customer"], actor=officer)
    contact.refresh_from_db()
    assert contact.is_active and not contact.email.startswith("erased-")
    assert Membership.objects.filter(customer=other, user=contact).exists()


def test_held_rows_are_kept_and_reported_with_the_holds_reason(subject, officer):
    customer = subject["customer"]
    membership = Membership.objects.get(customer=customer)
    holds.place_hold(customer, reason="Dispute over invoice INV-2026-000123", actor=officer, target=membership)

    plan = _by_model(erasure_plan(customer=customer))
    [held] = plan["accounts.Membership"]
    assert held["action"] == "keep" and held["held"]
    assert held["reason"] == "Under a legal hold: Dispute over invoice INV-2026-000123"

    run = execute_erasure(customer=customer, actor=officer)
    assert Membership.objects.filter(pk=membership.pk).exists()
    assert not Invitation.objects.filter(customer=customer).exists()
    # The person is told the lawful reason in general terms, item by item: never that a
    # hold exists (it may follow an order they must not learn of), nor its reason or end.
    notice = erasure_notice(run)
    assert "INV-2026-000123" not in notice and not mentions_a_hold(notice)
    _erased, kept = notice.split("What we kept, and why")
    assert (
        "Which people act for the customer, and in which role. (1 record): we need them to establish, exercise or "
        "defend legal claims, or to comply with a legal obligation." in kept
    )
    assert "once that ends" not in notice and "as above" not in notice


def test_a_notice_under_a_whole_customer_hold_lists_every_kept_item_and_no_hold(subject, officer):
    holds.place_hold(subject["customer"], reason="Court order 2026/77: do not tell the customer", actor=officer)
    notice = erasure_notice(execute_erasure(customer=subject["customer"], actor=officer))
    assert not mentions_a_hold(notice) and "2026/77" not in notice
    _erased, kept = notice.split("What we kept, and why")
    for description in ("The customer account", "Every email we sent you", "Which people act for the customer"):
        assert f"- {description}" in kept


def test_a_whole_customer_hold_keeps_everything(subject, officer):
    customer = subject["customer"]
    holds.place_hold(customer, reason="Production order ref 42", actor=officer)

    execute_erasure(customer=customer, actor=officer)

    assert Membership.objects.filter(customer=customer).count() == 1
    assert Message.objects.get(pk=subject["message"].pk).body_text == "Dear Ada, your server is ready."
    assert all(item["action"] == "keep" for item in erasure_plan(customer=customer))


def _snapshot(customer: Customer) -> dict:
    return {
        "customers": list(Customer.objects.values().order_by("pk")),
        "users": list(User.objects.values().order_by("pk")),
        "memberships": list(Membership.objects.values().order_by("pk")),
        "invitations": list(Invitation.objects.values().order_by("pk")),
        "addresses": list(EmailAddress.objects.values().order_by("pk")),
        "messages": list(Message.objects.values().order_by("pk")),
        "services": list(Service.objects.values().order_by("pk")),
    }


def test_a_failing_step_leaves_nothing_half_applied(subject, officer, monkeypatch):
    customer = subject["customer"]
    before = _snapshot(customer)
    real_anonymise = erasure.anonymise_rows

    def fail_on_messages(model, rows, replacements):
        if model is Message:
            raise RuntimeError("disk full")
        return real_anonymise(model, rows, replacements)

    monkeypatch.setattr(erasure, "anonymise_rows", fail_on_messages)

    with pytest.raises(ErasureFailed) as failure:
        execute_erasure(customer=customer, actor=officer)

    assert _snapshot(customer) == before  # memberships, invitations, logins: all untouched
    assert "accounts.Message" in str(failure.value) and "disk full" in str(failure.value)
    assert "Nothing was changed" in str(failure.value)
    recorded = failure.value.run
    assert recorded.result == [{"status": "failed", "step": "accounts.Message", "error": str(failure.value)}]


def test_dry_run_records_the_plan_and_changes_nothing(subject, officer):
    before = _snapshot(subject["customer"])

    run = execute_erasure(customer=subject["customer"], actor=officer, dry_run=True)

    assert run.dry_run and run.plan and run.result == []
    assert _snapshot(subject["customer"]) == before
    assert "preview" in erasure_notice(run)


def test_erasing_one_person_leaves_the_customer_and_other_contacts(subject, officer):
    customer, contact = subject["customer"], subject["contact"]
    colleague = MembershipFactory(customer=customer, role=roles.Role.TECHNICAL).user
    login_mail = make_message(None, person=contact, kind="security", subject="Reset your password")

    execute_erasure(person=contact, actor=officer)

    contact.refresh_from_db()
    colleague.refresh_from_db()
    assert contact.email.startswith("erased-") and colleague.is_active
    assert not Membership.objects.filter(user=contact).exists()
    assert Membership.objects.filter(user=colleague).exists()
    assert Message.objects.get(pk=login_mail.pk).subject == "(erased)"
    assert Message.objects.get(pk=subject["message"].pk).subject == "Your server web-01"  # the customer's mail


def test_erasure_needs_exactly_one_subject(subject, officer):
    with pytest.raises(ValueError, match="exactly one"):
        erasure_plan()
    with pytest.raises(ValueError, match="exactly one"):
        execute_erasure(customer=subject["customer"], person=subject["contact"], actor=officer)


def test_another_customers_data_is_untouched(subject, officer):
    other_contact = MembershipFactory(role=roles.Role.OWNER).user
    other_message = make_message(other_contact.memberships.get().customer)

    execute_erasure(customer=subject["customer"], actor=officer)

    other_contact.refresh_from_db()
    assert other_contact.is_active and other_contact.memberships.exists()
    assert Message.objects.get(pk=other_message.pk).body_text
    assert UserFactory._meta.model.objects.filter(pk=other_contact.pk, email__startswith="erased-").count() == 0
    assert LegalHold.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_erasure_deletes_the_stored_raw_email_too(provider):
    from django.core.files.storage import default_storage

    from accounts import roles
    from accounts.correspondence import inbound
    from tests.accounts.factories import MembershipFactory, StaffFactory, UserFactory

    contact = MembershipFactory(role=roles.Role.OWNER, user=UserFactory(email="jo@customer.example"))
    message = inbound.receive(b"From: jo@customer.example\r\nSubject: My secrets\r\n\r\nHome address: 1 Lane")
    raw_name = message.raw.name
    assert default_storage.exists(raw_name)
    assert (message.customer, message.subject) == (contact.customer, "My secrets")
    execute_erasure(customer=contact.customer, actor=StaffFactory())
    message.refresh_from_db()
    assert (message.subject, message.body_text, message.raw.name) == ("(erased)", "", "")
    assert not default_storage.exists(raw_name)


def test_each_person_of_an_erased_customer_is_erased_with_it_unless_another_customer_needs_them(customer, officer):
    from privacy.models import ConsentRecord, PolicyAcknowledgement, PolicyVersion, PostMortemInstruction
    from privacy.services import consent

    alice = MembershipFactory(customer=customer, role=roles.Role.OWNER).user  # this customer only
    bob = MembershipFactory(customer=customer, role=roles.Role.TECHNICAL).user  # shared with another
    other = CustomerFactory()
    MembershipFactory(customer=other, user=bob, role=roles.Role.OWNER)
    version = PolicyVersion.objects.create(
        document="privacy", version=1, effective_from=dt.date(2026, 1, 1), body="Text", published_at=timezone.now()
    )
    for person in (alice, bob):
        consent.give_consent(person, "analytics_cookies", "Allow analytics", "v1", "cookie banner on /")
        consent.record_post_mortem_instructions(person, f"Delete everything of {person.pk}.")
        PolicyAcknowledgement.objects.create(person=person, version=version)

    run = execute_erasure(customer=customer, actor=officer)

    alice.refresh_from_db()
    assert alice.email == f"erased-{alice.pk}@invalid" and not alice.is_active
    assert not alice.has_usable_password() and alice.deactivated_at is not None  # so the sweep's clock runs
    assert not PostMortemInstruction.objects.filter(person=alice).exists()
    assert not PolicyAcknowledgement.objects.filter(person=alice).exists()
    # Proof of consent is kept (its declaration), but the consent is no longer in force.
    assert ConsentRecord.objects.filter(person=alice).exclude(withdrawn_at=None).count() == 1
    assert not ConsentRecord.objects.filter(person=alice, withdrawn_at=None).exists()

    bob.refresh_from_db()
    assert bob.is_active and bob.has_usable_password() and bob.deactivated_at is None
    assert not Membership.objects.filter(user=bob, customer=customer).exists()
    assert Membership.objects.filter(user=bob, customer=other).exists()
    assert PostMortemInstruction.objects.filter(person=bob).exists()
    assert ConsentRecord.objects.filter(person=bob, withdrawn_at=None).exists()
    assert PolicyAcknowledgement.objects.filter(person=bob).exists()

    notice = erasure_notice(run)
    assert "Instructions you left for your data after your death." in notice.split("What we kept")[0]
