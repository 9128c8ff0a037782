"""The retention sweep: what has passed its retention goes, nothing under a hold is touched."""

from __future__ import annotations

import datetime as dt
import importlib
import uuid

import pytest
from allauth.account.models import EmailAddress
from django.apps import apps as global_apps
from django.contrib.auth.models import Group
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts import roles
from accounts.audit import System
from accounts.correspondence.models import Message
from accounts.groups import sync_groups
from accounts.models import Customer, Invitation, Membership, Service, User
from core.registry import declaration_for
from privacy.models import DisclosureEntry
from privacy.services import holds, ledger, retention
from privacy.services.retention import latest_expired_start, sweep
from tests.accounts.factories import CustomerFactory, MembershipFactory, ServiceFactory, StaffFactory, enable_totp
from tests.privacy.test_erasure import make_message

pytestmark = pytest.mark.django_db

LONDON = timezone.get_default_timezone()


def at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), tzinfo=LONDON)


def _entry(report, label: str):
    return next(m for m in report.models if m.model == label)


# ---------------------------------------------------------------------------------------
# Boundaries
# ---------------------------------------------------------------------------------------


def test_a_service_is_kept_six_years_from_the_end_of_the_financial_year_it_ended_in(settings):
    settings.PORTAL_FINANCIAL_YEAR_END = (3, 31)
    # Ended in the financial year ending 2020-03-31: may go from 2026-03-31.
    service = ServiceFactory(started_on=dt.date(2018, 1, 1), ended_on=dt.date(2019, 6, 30), status="ended")
    declaration = declaration_for(Service)
    assert latest_expired_start(declaration, dt.date(2026, 3, 30)) == dt.date(2019, 3, 31)
    assert latest_expired_start(declaration, dt.date(2026, 3, 31)) == dt.date(2020, 3, 31)

    day_before = sweep(dry_run=False, today=dt.date(2026, 3, 30))
    assert _entry(day_before, "accounts.Service").expired == 0
    assert Service.objects.filter(pk=service.pk).exists()

    on_the_day = sweep(dry_run=False, today=dt.date(2026, 3, 31))
    assert _entry(on_the_day, "accounts.Service").done == 1
    assert not Service.objects.filter(pk=service.pk).exists()


def test_a_row_whose_clock_has_not_started_is_kept():
    open_service = ServiceFactory(started_on=dt.date(2001, 1, 1), ended_on=None)
    sweep(dry_run=False, today=dt.date(2090, 1, 1))
    assert Service.objects.filter(pk=open_service.pk).exists()


def test_a_public_request_submission_its_task_never_took_goes_the_next_day():
    from privacy.models import PublicRequestSubmission

    submitted = dt.date(2026, 5, 4)
    left_over = PublicRequestSubmission.objects.create(
        email="someone@example.net",
        kind="access",
        regime="uk_gdpr",
        link_base="https://portal.example/",
        submitted_at=at(submitted),
    )
    sweep(dry_run=False, today=submitted)
    assert PublicRequestSubmission.objects.filter(pk=left_over.pk).exists()
    sweep(dry_run=False, today=submitted + dt.timedelta(days=1))
    assert not PublicRequestSubmission.objects.filter(pk=left_over.pk).exists()


def _invitation(*, expired_days_ago: float, customer=None) -> Invitation:
    return Invitation.objects.create(
        customer=customer or CustomerFactory(),
        email=f"{uuid.uuid4().hex[:8]}@example.org",
        role=roles.Role.TECHNICAL,
        token_hash=uuid.uuid4().hex,
        expires_at=timezone.now() - dt.timedelta(days=expired_days_ago),
    )


def test_the_sweep_deletes_invitations_30_days_after_they_expire_and_keeps_the_rest():
    """Invitations have no purge of their own: their declaration's retention is what removes them."""
    old = _invitation(expired_days_ago=31)
    recent = _invitation(expired_days_ago=29)
    still_open = _invitation(expired_days_ago=-7)

    report = sweep(dry_run=False)

    assert _entry(report, "accounts.Invitation").done == 1
    assert set(Invitation.objects.values_list("pk", flat=True)) == {recent.pk, still_open.pk}
    assert not Invitation.objects.filter(pk=old.pk).exists()
    assert _entry(sweep(dry_run=False), "accounts.Invitation").done == 0  # twice: nothing more


@pytest.mark.parametrize("hold_on", ["customer", "invitation"])
def test_the_sweep_keeps_an_expired_invitation_under_a_legal_hold(hold_on):
    customer = CustomerFactory()
    held = _invitation(expired_days_ago=60, customer=customer)
    target = held if hold_on == "invitation" else None
    holds.place_hold(customer, reason="Dispute about who was invited", actor=StaffFactory(), target=target)

    report = sweep(dry_run=False)

    assert Invitation.objects.filter(pk=held.pk).exists()
    assert _entry(report, "accounts.Invitation").held == 1


def test_a_timestamp_counts_from_its_uk_calendar_date(settings):
    # 00:30 on 1 April 2020 in London is still 31 March in UTC: the clock starts 1 April.
    settings.PORTAL_FINANCIAL_YEAR_END = (3, 31)
    invitation = Invitation.objects.create(
        customer=CustomerFactory(),
        email="late@example.net",
        role=roles.Role.BILLING,
        token_hash=uuid.uuid4().hex,
        expires_at=dt.datetime(2020, 4, 1, 0, 30, tzinfo=LONDON),
    )
    # 30 days after 1 April is 1 May.
    assert _entry(sweep(dry_run=True, today=dt.date(2020, 4, 30)), "accounts.Invitation").due == 0
    assert _entry(sweep(dry_run=True, today=dt.date(2020, 5, 1)), "accounts.Invitation").due == 1
    assert Invitation.objects.filter(pk=invitation.pk).exists()


@given(
    start=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2040, 12, 31)),
    offset=st.integers(min_value=-800, max_value=800),
    label=st.sampled_from(["accounts.Service", "accounts.User", "accounts.Invitation", "privacy.DisclosureEntry"]),
)
def test_the_cutoff_agrees_with_the_declared_rule(start, offset, label):
    declaration = declaration_for(label)
    today = start + dt.timedelta(days=offset)
    expiry = declaration.retention.expires_on(start, financial_year_end=(3, 31))
    cutoff = latest_expired_start(declaration, today)
    assert (start <= cutoff) == (expiry <= today)


# ---------------------------------------------------------------------------------------
# What the sweep does
# ---------------------------------------------------------------------------------------


@pytest.fixture
def closed_long_ago():
    """A customer closed in 2010 with a contact who left, mail, a service and an old invitation."""
    customer = CustomerFactory(status=Customer.Status.CLOSED, closed_at=at(dt.date(2010, 5, 1)))
    contact = MembershipFactory(customer=customer).user
    User.objects.filter(pk=contact.pk).update(deactivated_at=at(dt.date(2010, 5, 1)), is_active=False)
    ServiceFactory(customer=customer, started_on=dt.date(2008, 1, 1), ended_on=dt.date(2010, 4, 30))
    make_message(customer)
    make_message(customer)
    Invitation.objects.create(
        customer=customer,
        email="old@example.net",
        role=roles.Role.BILLING,
        token_hash=uuid.uuid4().hex,
        expires_at=at(dt.date(2010, 1, 1)),
    )
    return customer, contact


def _everything() -> dict:
    return {
        model._meta.label: list(model._default_manager.values().order_by("pk"))
        for model in (Customer, User, Membership, Invitation, EmailAddress, Message, Service)
    }


def test_dry_run_changes_nothing_and_reports_what_the_real_run_then_does(closed_long_ago):
    customer, contact = closed_long_ago
    today = dt.date(2026, 6, 1)
    before = _everything()

    dry = sweep(dry_run=True, today=today, batch_size=1)

    assert _everything() == before
    assert all(m.done == 0 for m in dry.models)
    assert _entry(dry, "accounts.Message").due == 2
    assert _entry(dry, "accounts.Invitation").due == 1
    assert _entry(dry, "accounts.User").due == 1
    # The customer row is still needed by its (anonymised, never deleted) mail.
    assert _entry(dry, "accounts.Customer").blocked == 1

    real = sweep(dry_run=False, today=today, batch_size=1)

    assert {m.model: m.due for m in real.models} == {m.model: m.due for m in dry.models}
    assert {m.model: m.done for m in real.models} == {m.model: m.due for m in dry.models}
    assert Message.objects.filter(customer=customer).count() == 2  # rows stay, content goes
    assert set(Message.objects.values_list("subject", flat=True)) == {"(erased)"}
    contact.refresh_from_db()
    assert contact.email == f"erased-{contact.pk}@invalid"
    assert not Invitation.objects.exists() and not Membership.objects.exists()
    assert not EmailAddress.objects.filter(user=contact).exists()
    assert Customer.objects.filter(pk=customer.pk).exists()

    again = sweep(dry_run=True, today=today)
    assert again.total_due == 0  # anonymised rows are not rewritten every night


def test_the_scheduled_task_runs_the_real_sweep(closed_long_ago):
    from privacy.tasks import retention_sweep

    retention_sweep.delay()
    assert not Invitation.objects.exists()


def test_the_migration_schedules_the_sweep_once():
    from django_celery_beat.models import PeriodicTask

    migration = importlib.import_module("privacy.migrations.0002_schedule_retention_sweep")
    migration.schedule_retention_sweep(global_apps, None)
    migration.schedule_retention_sweep(global_apps, None)
    task = PeriodicTask.objects.get(name=migration.NAME)
    assert task.task == "privacy.tasks.retention_sweep" and task.enabled
    assert (task.crontab.hour, task.crontab.minute, task.crontab.day_of_week) == ("2", "30", "*")


def test_the_sweeps_queries_do_not_grow_with_the_rows(django_assert_max_num_queries):
    for _ in range(30):
        Invitation.objects.create(
            customer=CustomerFactory(),
            email="x@example.net",
            role=roles.Role.BILLING,
            token_hash=uuid.uuid4().hex,
            expires_at=at(dt.date(2010, 1, 1)),
        )
    with django_assert_max_num_queries(140):
        report = sweep(dry_run=True, today=dt.date(2026, 1, 1))
    assert _entry(report, "accounts.Invitation").due == 30


def test_the_retention_sweep_never_prunes_the_hash_chained_ledger(provider):
    """Each ledger entry's hash covers the one before: removing an old entry would break the
    chain for every later one, so the ledger is kept whatever its entries' age."""
    customer = CustomerFactory()
    first = ledger.record_disclosure(
        recipient_kind="accountant",
        recipient="A",
        purpose="p",
        legal_basis="b",
        categories=[],
        customers=[customer],
        actor=System("tests"),
    )
    ledger.record_disclosure(
        recipient_kind="accountant",
        recipient="B",
        purpose="p",
        legal_basis="b",
        categories=[],
        customers=[customer],
        actor=System("tests"),
    )
    DisclosureEntry.objects.filter(pk=first.pk).update(created_at=first.created_at - dt.timedelta(days=365 * 8))
    retention.sweep(dry_run=False, today=timezone.localdate() + dt.timedelta(days=365 * 8))
    assert DisclosureEntry.objects.count() == 2


# ---------------------------------------------------------------------------------------
# Holds: the property
# ---------------------------------------------------------------------------------------

CLOSINGS = st.one_of(st.none(), st.dates(min_value=dt.date(2005, 1, 1), max_value=dt.date(2030, 12, 31)))
DAYS = st.dates(min_value=dt.date(2005, 1, 1), max_value=dt.date(2030, 12, 31))

customer_spec = st.fixed_dictionaries(
    {
        "closed": CLOSINGS,
        "left": CLOSINGS,  # the contact's login closed
        "service_ended": st.one_of(st.none(), DAYS),
        "invitation_expired": DAYS,
        "messages": st.integers(min_value=0, max_value=2),
        "hold": st.sampled_from(["none", "customer", "service", "invitation", "membership", "message", "user"]),
    }
)


def _build(spec: dict, officer: User) -> dict:
    closed = spec["closed"]
    customer = CustomerFactory(
        status=Customer.Status.CLOSED if closed else Customer.Status.ACTIVE,
        closed_at=at(closed) if closed else None,
    )
    membership = MembershipFactory(customer=customer)
    user = membership.user
    if spec["left"]:
        User.objects.filter(pk=user.pk).update(deactivated_at=at(spec["left"]))
    ended = spec["service_ended"]
    service = ServiceFactory(
        customer=customer, started_on=min(ended, dt.date(2005, 1, 1)) if ended else dt.date(2005, 1, 1), ended_on=ended
    )
    invitation = Invitation.objects.create(
        customer=customer,
        email="someone@example.net",
        role=roles.Role.BILLING,
        token_hash=uuid.uuid4().hex,
        expires_at=at(spec["invitation_expired"]),
    )
    messages = [make_message(customer) for _ in range(spec["messages"])]
    targets = {
        "service": service,
        "invitation": invitation,
        "membership": membership,
        "message": messages[0] if messages else None,
        "user": user,
    }
    held: list = []
    if spec["hold"] == "customer":
        holds.place_hold(customer, reason="Litigation", actor=officer)
        held = [customer, membership, user, service, invitation, *messages]
        held += list(EmailAddress.objects.filter(user=user))
    elif targets.get(spec["hold"]) is not None:
        target = targets[spec["hold"]]
        holds.place_hold(customer, reason="Dispute", actor=officer, target=target)
        held = [target]
    return {"held": held}


def _state(objects: list) -> list:
    return [type(obj)._default_manager.filter(pk=obj.pk).values().first() for obj in objects]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    specs=st.lists(customer_spec, min_size=1, max_size=4),
    today=st.dates(min_value=dt.date(2006, 1, 1), max_value=dt.date(2045, 12, 31)),
    batch_size=st.integers(min_value=1, max_value=5),
)
def test_the_sweep_never_touches_held_records(specs, today, batch_size, db):
    officer = StaffFactory()
    with transaction.atomic():
        built = [_build(spec, officer) for spec in specs]
        held = [obj for b in built for obj in b["held"]]
        before = _state(held)

        sweep(dry_run=False, today=today, batch_size=batch_size)

        assert _state(held) == before
        transaction.set_rollback(True)


# ---------------------------------------------------------------------------------------
# The admin report
# ---------------------------------------------------------------------------------------


def _staff_client(group: str) -> Client:
    sync_groups(global_apps)  # make sure the privacy models' permissions are in the groups
    staff = StaffFactory()
    staff.groups.add(Group.objects.get(name=group))
    enable_totp(staff)
    client = Client()
    client.force_login(staff)
    return client


def test_the_report_shows_a_privacy_officer_what_the_next_sweep_will_do(closed_long_ago, provider):
    client = _staff_client(roles.PRIVACY_GROUP)

    response = client.get(reverse("admin:privacy_legalhold_retention_report"))

    assert response.status_code == 200
    body = response.content.decode()
    assert "What the next retention sweep will do" in body
    assert 'data-model="accounts.Invitation"' in body
    row = body.split('data-model="accounts.Message"', 1)[1].split("</tr>", 1)[0]
    assert '<td class="due">2</td>' in row
    assert Invitation.objects.exists()  # a dry run

    changelist = client.get(reverse("admin:privacy_legalhold_changelist"))
    assert reverse("admin:privacy_legalhold_retention_report") in changelist.content.decode()


def test_the_report_is_forbidden_to_support_staff(provider):
    client = _staff_client(roles.SUPPORT_GROUP)
    response = client.get(reverse("admin:privacy_legalhold_retention_report"))
    assert response.status_code == 403


# ---------------------------------------------------------------------------------------
# Records that belong to no customer
# ---------------------------------------------------------------------------------------


def test_every_declared_record_reaching_its_customer_through_an_optional_link_has_a_retention_end():
    """A row whose customer link is empty would never start a clock counted from the
    customer: such declarations must say what the clock counts from instead."""
    from core.registry import declarations
    from privacy.services.erasure import model_of, path_fields

    for declaration in declarations():
        customer_path = declaration.customer_path
        if not customer_path or not declaration.retention.counted_from.startswith(f"{customer_path}__"):
            continue
        if any(getattr(f, "null", False) for f in path_fields(model_of(declaration), customer_path)):
            assert declaration.retention.counted_from_without_customer, declaration.model


@pytest.mark.django_db(transaction=True)
def test_a_quarantined_message_nobody_claimed_is_erased_when_its_retention_ends(provider):
    from email.message import EmailMessage

    from accounts.correspondence import inbound
    from accounts.correspondence.models import MessageAttachment
    from privacy.tasks import retention_sweep

    email = EmailMessage()
    email["From"], email["To"], email["Subject"] = "angry@stranger.example", "abuse@hosting.example", "Complaint"
    email.set_content("Your customer's server at 192.0.2.7 attacked mine. Call me on 07700 900123.")
    email.add_attachment(b"%PDF-1.4 logs", maintype="application", subtype="pdf", filename="logs.pdf")
    message = inbound.receive(email.as_bytes())
    recent = inbound.receive(email.as_bytes().replace(b"Complaint", b"Complaint again"))
    assert message.customer is None and message.status == Message.Status.QUARANTINED
    old = timezone.now() - dt.timedelta(days=365 * 6 + 10)
    Message.objects.filter(pk=message.pk).update(created_at=old)
    report = sweep(dry_run=True)
    assert _entry(report, "accounts.Message").due == 1
    assert _entry(report, "accounts.MessageAttachment").due == 1

    retention_sweep.delay()

    message.refresh_from_db()
    assert (message.subject, message.body_text, message.from_address) == ("(erased)", "", "erased@invalid")
    assert not MessageAttachment.objects.filter(message=message).exists()
    recent.refresh_from_db()
    assert recent.body_text and MessageAttachment.objects.filter(message=recent).exists()
