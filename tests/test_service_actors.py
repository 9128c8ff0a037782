"""Every state-changing service function is told who acts, and the audit trail says so.

The rule (docs/architecture.md, "The audit trail"): a service function that changes state
takes the acting person as a keyword-only ``actor`` with no default. Nothing falls back
to a made-up system actor when a caller forgets: a scheduled task names itself with
``System("...")``, an admin action or a page passes ``request.user``.
"""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
import pkgutil
from decimal import Decimal
from unittest import mock

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from accounts import roles
from accounts.audit import AuditEvent, System
from billing.models import BillingRun, Invoice
from tests.accounts.factories import CustomerFactory, ServiceFactory, StaffFactory, enable_totp
from tests.billing.factories import BillingSettingsFactory, PlanFactory, SubscriptionFactory, configured_provider

PACKAGES = ("accounts", "billing", "privacy")

# The services made to take their actor when the rule was written down: each must keep it.
MUST_TAKE_AN_ACTOR = [
    "accounts.services.invite_contact",
    "billing.issuing.issue_invoice",
    "billing.issuing.issue_credit_note",
    "billing.receivables.payments.record_payment",
    "billing.receivables.payments.record_refund",
    "billing.workflows.settlement.issue_document",
    "billing.workflows.settlement.credit_invoice",
    "billing.workflows.settlement.receive_payment",
    "billing.workflows.proforma.issue_vat_invoice_for_paid_request",
    "billing.workflows.proforma.settle_paid_requests",
    "billing.workflows.proforma.cancel_payment_request",
    "billing.workflows.subscriptions.start_subscription",
    "billing.workflows.subscriptions.end_subscription",
    "billing.workflows.subscriptions.end_service",
    "billing.workflows.subscriptions.change_plan",
    "billing.workflows.closure.end_billing",
    "billing.workflows.closure.bill_what_is_left",
    "billing.workflows.run.run_billing",
    "billing.workflows.run.run_on_billing_day",
    "billing.collections.reminders.run_reminders",
    "billing.collections.suspension.suspend_due",
    "billing.collections.suspension.restore_paid",
    "privacy.services.ledger.record_disclosure",
    "privacy.services.policies.publish_version",
    "privacy.services.recipients.record_recipient_notification",
    "privacy.services.requests.release_held_erasures",
    "privacy.lawful.services.notify_customers",
    "privacy.lawful.services.notify_ended_duties",
    "privacy.storage.services.start_session",
    "privacy.storage.services.end_session",
]


def _modules():
    for name in PACKAGES:
        package = importlib.import_module(name)
        yield package
        for info in pkgutil.walk_packages(package.__path__, f"{name}."):
            if ".migrations" not in info.name:
                yield importlib.import_module(info.name)


def _public_functions(module):
    """The module's own public functions, and the public methods of its own classes."""
    for name, value in vars(module).items():
        if name.startswith("_") or getattr(value, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(value):
            yield f"{module.__name__}.{name}", value
        elif inspect.isclass(value):
            for method_name, method in vars(value).items():
                if inspect.isfunction(method) and not method_name.startswith("_"):
                    yield f"{module.__name__}.{name}.{method_name}", method


def test_no_service_function_lets_its_actor_default_or_be_passed_by_position():
    wrong = []
    checked = 0
    for module in _modules():
        for name, function in _public_functions(module):
            actor = inspect.signature(function).parameters.get("actor")
            if actor is None:
                continue
            checked += 1
            if actor.kind is not inspect.Parameter.KEYWORD_ONLY:
                wrong.append(f"{name}: actor is not keyword-only")
            if actor.default is not inspect.Parameter.empty:
                wrong.append(f"{name}: actor defaults to {actor.default!r}")
    assert checked > 50, "the walk found too few services: is it still looking in the right packages?"
    assert not wrong, "Every service takes its actor keyword-only and required:\n" + "\n".join(wrong)


@pytest.mark.parametrize("dotted", MUST_TAKE_AN_ACTOR)
def test_state_changing_services_take_an_actor(dotted):
    module, name = dotted.rsplit(".", 1)
    actor = inspect.signature(getattr(importlib.import_module(module), name)).parameters.get("actor")
    assert actor is not None and actor.kind is inspect.Parameter.KEYWORD_ONLY
    assert actor.default is inspect.Parameter.empty


def test_a_service_called_without_an_actor_is_refused_before_it_changes_anything(db):
    from billing.workflows.run import run_billing

    with pytest.raises(TypeError, match="actor"):
        run_billing(dt.date(2026, 5, 1))
    assert not BillingRun.objects.exists()


def _subscribed_customer(price: str = "31.00"):
    customer = CustomerFactory()
    start = dt.date(2026, 4, 1)
    SubscriptionFactory(
        service=ServiceFactory(customer=customer, started_on=start),
        plan=PlanFactory(price=Decimal(price)),
        started_on=start,
    )
    return customer


@pytest.mark.django_db
def test_the_scheduled_billing_run_records_its_documents_as_the_billing_run():
    from billing.tasks import billing_run_task

    configured_provider()
    BillingSettingsFactory(billing_day=3)
    customer = _subscribed_customer()
    with mock.patch("billing.workflows.run.timezone.localdate", return_value=dt.date(2026, 5, 3)):
        run = BillingRun.objects.get(pk=billing_run_task())

    invoice = Invoice.objects.get(customer=customer, period_start=dt.date(2026, 5, 1))
    event = AuditEvent.objects.about(invoice).get(action="document.issued")
    assert event.actor is None and event.actor_label == "System (billing run)"
    assert event.customer == customer and invoice.number in event.summary
    assert run.started_by is None


def _billing_staff() -> tuple:
    person = StaffFactory()
    person.groups.add(Group.objects.get(name=roles.BILLING_GROUP))
    enable_totp(person)
    client = Client()
    client.force_login(person)
    return person, client


@pytest.mark.django_db
def test_a_billing_run_started_in_the_admin_records_its_documents_as_the_staff_member(
    django_capture_on_commit_callbacks,
):
    configured_provider()
    customer = _subscribed_customer()
    person, client = _billing_staff()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:billing_billingrun_add"), {"period_start": "2026-05-01", "customer": customer.pk}
        )
    assert response.status_code == 302

    run = BillingRun.objects.get()
    assert run.status == BillingRun.Status.DONE and run.started_by == person
    invoice = Invoice.objects.get(customer=customer, period_start=dt.date(2026, 5, 1))
    event = AuditEvent.objects.about(invoice).get(action="document.issued")
    assert event.actor == person and event.actor_label == person.email


@pytest.mark.django_db
def test_ending_a_service_in_the_admin_records_every_step_as_the_staff_member():
    from billing.models import Subscription
    from billing.workflows.run import run_billing

    configured_provider()
    customer = _subscribed_customer()
    run_billing(dt.date(2026, 5, 1), actor=System("tests"))
    subscription = Subscription.objects.get(service__customer=customer)
    person, client = _billing_staff()

    client.post(
        reverse("admin:billing_subscription_changelist"),
        {"action": "end_service", "_selected_action": [subscription.pk], "apply": "1", "last_day": "2026-05-20"},
    )

    note = Invoice.objects.get(kind=Invoice.Kind.CREDIT_NOTE)
    events = {event.action: event for event in AuditEvent.objects.filter(customer=customer, actor=person)}
    assert {"subscription.ended", "document.issued", "service.ended"} <= set(events), sorted(events)
    assert AuditEvent.objects.about(note).get(action="document.issued").actor == person
    assert "20 May 2026" in events["subscription.ended"].summary
    # Nothing in the change was put down to a system actor.
    assert not AuditEvent.objects.filter(customer=customer, actor__isnull=True).exclude(actor_label="System (tests)")
