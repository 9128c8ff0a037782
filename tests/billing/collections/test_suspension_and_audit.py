"""Suspension for non-payment after notice, restored on payment; every collections step
leaves an audit event."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import ValidationError

from accounts import roles
from accounts.audit import AuditEvent, System
from accounts.models import Service
from billing.collections.handoff import write_off
from billing.collections.models import SuspensionNotice
from billing.collections.suspension import give_notice, suspend_due
from billing.tasks import run_collections
from billing.workflows.settlement import receive_payment
from tests.accounts.factories import MembershipFactory, ServiceFactory, StaffFactory
from tests.billing.collections.helpers import customer, invoice_due, mails

D = dt.date
pytestmark = pytest.mark.django_db


def at(day: dt.date):
    return time_machine.travel(dt.datetime.combine(day, dt.time(10), tzinfo=dt.UTC), tick=False)


def test_services_are_suspended_after_the_notice_and_restored_on_payment(provider, django_capture_on_commit_callbacks):
    company = customer()
    MembershipFactory(customer=company, role=roles.Role.TECHNICAL)  # service mail goes to technical contacts
    service = ServiceFactory(customer=company, status=Service.Status.ACTIVE)
    invoice = invoice_due(company, D(2026, 3, 10))
    with at(D(2026, 3, 20)):
        notice = give_notice(company, invoices=[invoice], actor=StaffFactory())
        with pytest.raises(ValidationError):  # one notice at a time
            give_notice(company, invoices=[invoice], actor=StaffFactory())

    assert notice.suspend_on == D(2026, 3, 27)  # the default 7 days' notice
    told = mails(company, "collections_suspension_notice")[0]
    assert "27 March 2026" in told.body_text and service.name in told.body_text

    assert suspend_due(D(2026, 3, 26), actor=System("tests")) == 0
    with at(D(2026, 3, 27)):
        assert suspend_due(actor=System("tests")) == 1
        assert suspend_due(actor=System("tests")) == 0  # carried out once
    service.refresh_from_db()
    change = service.status_changes.get()
    assert service.status == Service.Status.SUSPENDED and change.source == "non_payment"
    assert invoice.number in change.reason and mails(company, "service_suspended")

    with at(D(2026, 3, 30)), django_capture_on_commit_callbacks(execute=True):
        receive_payment(
            company,
            amount=invoice.total_gross,
            received_on=D(2026, 3, 30),
            method="bank_transfer",
            actor=System("tests"),
        )

    service.refresh_from_db()
    assert service.status == Service.Status.ACTIVE
    assert service.status_changes.first().source == "non_payment"
    assert SuspensionNotice.objects.get().restored_at is not None
    assert mails(company, "service_restored")


def test_a_notice_paid_in_time_is_cancelled_and_nothing_is_suspended(provider):
    company = customer()
    service = ServiceFactory(customer=company, status=Service.Status.ACTIVE)
    invoice = invoice_due(company, D(2026, 3, 10))
    with at(D(2026, 3, 20)):
        give_notice(company, invoices=[invoice], actor=StaffFactory())
    receive_payment(
        company, amount=invoice.total_gross, received_on=D(2026, 3, 22), method="bank_transfer", actor=System("tests")
    )

    suspend_due(D(2026, 3, 27), actor=System("tests"))

    service.refresh_from_db()
    assert service.status == Service.Status.ACTIVE and SuspensionNotice.objects.get().cancelled_at is not None


def test_reminders_and_write_offs_are_in_the_audit_trail(provider):
    company = customer()
    invoice = invoice_due(company, D(2026, 3, 10))
    staff = StaffFactory()

    with at(D(2026, 3, 17)):
        run_collections()  # the daily task, as beat runs it
    write_off(invoice, reason="Customer dissolved", actor=staff)

    events = {e.action: e for e in AuditEvent.objects.filter(customer=company)}
    reminded = events["collections.reminder_sent"]
    assert reminded.actor is None and reminded.actor_label == "System (reminder run)"
    written = events["invoice.written_off"]
    assert written.actor == staff and written.changes == {"written_off": [None, "120.00"]}
    assert "Customer dissolved" in written.summary


def test_the_invoices_page_warns_of_the_suspension_and_shows_days_overdue(provider, client):
    company = customer()
    ServiceFactory(customer=company, status=Service.Status.ACTIVE)
    invoice = invoice_due(company, D(2026, 3, 10))
    with at(D(2026, 3, 20)):
        give_notice(company, invoices=[invoice], actor=StaffFactory())
        client.force_login(company.memberships.get().user)
        page = client.get("/billing/invoices/").content.decode()

    assert f"Unless {invoice.number} is paid, your services will be suspended on 27 March 2026." in page
    assert "10 days</span>" in page
