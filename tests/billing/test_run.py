from __future__ import annotations

import contextlib
import datetime as dt
import os
import threading
from decimal import Decimal

import pytest
from django.db import connection

from accounts.audit import System
from accounts.roles import Role
from billing.models import BillingRun, Invoice
from billing.tasks import billing_run_task
from billing.workflows.run import run_billing
from tests.accounts.factories import CustomerFactory, MembershipFactory, ServiceFactory
from tests.billing.factories import BillingSettingsFactory, PlanFactory, SubscriptionFactory, configured_provider
from tests.statements import on_statement

NEVER = dt.date(1900, 1, 1)
MAY = dt.date(2026, 5, 1)


def _subscribed(n=2, **sub_fields):
    customers = []
    for _ in range(n):
        customer = CustomerFactory()
        SubscriptionFactory(service=ServiceFactory(customer=customer), **sub_fields)
        customers.append(customer)
    return customers


@pytest.mark.django_db
def test_billing_run_creates_one_issued_invoice_per_customer_and_reports_progress():
    configured_provider()
    customers = _subscribed(3)
    run = run_billing(MAY, actor=System("tests"))
    assert (run.status, run.total, run.done, run.created) == (BillingRun.Status.DONE, 3, 3, 3)
    invoices = Invoice.objects.filter(period_start=MAY)
    assert sorted(i.customer_id for i in invoices) == sorted(c.pk for c in customers)
    assert {i.status for i in invoices} == {Invoice.Status.ISSUED}
    assert {i.total_gross for i in invoices} == {Decimal("12.00")}


@pytest.mark.django_db
def test_running_twice_creates_nothing_new(django_assert_max_num_queries):
    configured_provider()
    _subscribed(2)
    run_billing(MAY, actor=System("tests"))
    with django_assert_max_num_queries(10):
        again = run_billing(MAY, actor=System("tests"))
    assert (again.total, again.created) == (0, 0)
    assert Invoice.objects.filter(period_start=MAY).count() == 2


@pytest.mark.django_db
def test_an_invoice_inserted_by_another_run_meanwhile_leaves_the_customer_untouched():
    """The unique constraint is what stops a second invoice: if our look-ups missed another
    run's invoice (under the customer's lock they cannot; the index stands behind the lock),
    our insert is refused, the customer's transaction rolls back whole and the customer
    counts as theirs, not as an error."""
    from billing.models import Subscription

    configured_provider()
    (customer,) = _subscribed(1)
    run_billing(MAY, actor=System("tests"))
    theirs = Invoice.objects.get(customer=customer, period_start=MAY)
    Subscription.objects.update(billed_until=None)  # as it was before their run
    inserted = False

    def our_look_ups_miss_theirs(execute, sql, params, many, context):
        # Until our first insert, our reads of invoices ask about another period.
        nonlocal inserted
        if sql.startswith('INSERT INTO "billing_invoice"'):
            inserted = True
        elif not inserted and sql.startswith("SELECT") and '"billing_invoice"' in sql:
            params = type(params)(NEVER if str(value) == MAY.isoformat() else value for value in params)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(our_look_ups_miss_theirs):
        run = run_billing(MAY, actor=System("tests"))
    assert inserted  # ours was tried, and refused
    assert (run.status, run.created, run.error) == (BillingRun.Status.DONE, 0, "")
    assert list(Invoice.objects.filter(customer=customer)) == [theirs]
    assert Subscription.objects.get().billed_until is None  # nothing of ours was kept


@pytest.mark.django_db
def test_resumed_run_skips_customers_already_invoiced():
    configured_provider()
    first, second = _subscribed(2)
    run_billing(MAY, customer=first, actor=System("tests"))  # as if the run crashed after the first customer
    resumed = run_billing(MAY, actor=System("tests"))
    assert (resumed.total, resumed.created) == (1, 1)
    assert Invoice.objects.filter(period_start=MAY, customer=second).count() == 1


@pytest.mark.django_db
def test_subscription_starting_mid_period_is_prorated_and_setup_fee_billed_once():
    configured_provider()
    customer = CustomerFactory()
    plan = PlanFactory(price=Decimal("31.00"), setup_fee=Decimal("5.00"))
    sub = SubscriptionFactory(service=ServiceFactory(customer=customer), plan=plan, started_on=dt.date(2026, 5, 22))
    run_billing(MAY, actor=System("tests"))
    invoice = Invoice.objects.get(customer=customer, period_start=MAY)
    assert sorted(line.net for line in invoice.lines.all()) == [Decimal("5.00"), Decimal("10.00")]  # 10 of 31 days
    run_billing(dt.date(2026, 6, 1), actor=System("tests"))
    june = Invoice.objects.get(customer=customer, period_start=dt.date(2026, 6, 1))
    assert [line.net for line in june.lines.all()] == [Decimal("31.00")]
    sub.refresh_from_db()
    assert sub.billed_until == dt.date(2026, 6, 30)


@pytest.mark.django_db
def test_overpayment_settles_the_invoice_the_run_issues():
    from billing.models import Payment
    from billing.workflows.settlement import receive_payment

    configured_provider()
    (customer,) = _subscribed(1)
    receive_payment(customer, amount=Decimal("50"), received_on=MAY, method=Payment.Method.CARD, actor=System("tests"))
    run_billing(MAY, actor=System("tests"))
    assert Invoice.objects.get(customer=customer).status == Invoice.Status.PAID


@pytest.mark.django_db
def test_task_runs_only_on_the_billing_day():
    from unittest import mock

    configured_provider()
    BillingSettingsFactory(billing_day=3)
    _subscribed(1)
    with mock.patch("billing.workflows.run.timezone.localdate", return_value=dt.date(2026, 5, 2)):
        assert billing_run_task() is None
    with mock.patch("billing.workflows.run.timezone.localdate", return_value=dt.date(2026, 5, 3)):
        assert billing_run_task() is not None
    assert Invoice.objects.filter(period_start=MAY).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("pro_forma_mode", [False, True], ids=["vat-invoices", "payment-requests"])
@pytest.mark.parametrize("group_size", [50, 2], ids=["one-group", "groups-of-2"])
def test_two_concurrent_runs_create_nothing_twice(pro_forma_mode, group_size, monkeypatch):
    if connection.vendor != "postgresql":
        if os.environ.get("CI"):
            pytest.fail("CI runs on PostgreSQL; this test must run there")
        pytest.skip("needs PostgreSQL")
    monkeypatch.setattr("billing.workflows.run.GROUP_SIZE", group_size)
    configured_provider()
    BillingSettingsFactory(pro_forma_mode=pro_forma_mode)
    kind = Invoice.Kind.PRO_FORMA if pro_forma_mode else Invoice.Kind.INVOICE
    _subscribed(6)
    barrier = threading.Barrier(2)
    runs, errors = [], []

    def go():
        try:
            barrier.wait()
            runs.append(run_billing(MAY, actor=System("tests")))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert Invoice.objects.filter(period_start=MAY).count() == 6
    assert Invoice.objects.filter(period_start=MAY, kind=kind).count() == 6
    assert sum(r.created for r in runs) == 6
    assert Invoice.objects.exclude(status=Invoice.Status.ISSUED).count() == 0
    prefix = "PR" if pro_forma_mode else "INV"
    assert sorted(Invoice.objects.values_list("number", flat=True)) == [f"{prefix}-2026-{n:06d}" for n in range(1, 7)]


@pytest.mark.django_db
def test_one_off_charges_go_on_the_next_invoice_once():
    from billing.models import OneOffCharge

    configured_provider()
    [customer] = _subscribed(1)
    charge = OneOffCharge.objects.create(customer=customer, description="Manual OS reinstall", unit_price="25.00")
    run_billing(MAY, actor=System("tests"))
    invoice = Invoice.objects.get(customer=customer, period_start=MAY)
    assert "Manual OS reinstall" in [line.description for line in invoice.lines.all()]
    charge.refresh_from_db()
    assert charge.invoice_line.invoice == invoice
    run_billing(dt.date(2026, 6, 1), actor=System("tests"))
    june = Invoice.objects.get(customer=customer, period_start=dt.date(2026, 6, 1))
    assert "Manual OS reinstall" not in [line.description for line in june.lines.all()]


# ---------------------------------------------------------------------------------------
# Staff start, follow and resume runs in the admin
# ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_billing_staff_start_a_run_and_follow_its_progress(billing_staff_client, django_capture_on_commit_callbacks):
    from django.urls import reverse

    configured_provider()
    _subscribed(3)
    add = reverse("admin:billing_billingrun_add")

    with django_capture_on_commit_callbacks(execute=True):
        started = billing_staff_client.post(add, {"period_start": "2026-05-17"}, follow=True)

    assert "Billing run for May 2026 started" in started.content.decode()
    run = BillingRun.objects.get()
    assert (run.period_start, run.status, run.created) == (MAY, BillingRun.Status.DONE, 3)
    listing = billing_staff_client.get(reverse("admin:billing_billingrun_changelist")).content.decode()
    assert "3 of 3" in listing and "Done" in listing
    assert Invoice.objects.filter(period_start=MAY, status=Invoice.Status.ISSUED).count() == 3


@pytest.mark.django_db
def test_a_run_whose_worker_died_shows_stalled_and_resumes_without_billing_twice(
    billing_staff_client, django_capture_on_commit_callbacks
):
    from django.urls import reverse
    from django.utils import timezone

    configured_provider()
    first, *_rest = _subscribed(3)
    run_billing(MAY, customer=first, actor=System("tests"))  # what the dead worker got done
    an_hour_ago = timezone.now() - dt.timedelta(hours=1)
    dead = BillingRun.objects.create(
        period_start=MAY, status=BillingRun.Status.RUNNING, total=3, done=1, progressed_at=an_hour_ago
    )
    moving = BillingRun.objects.create(period_start=MAY, status=BillingRun.Status.RUNNING, total=3, done=1)
    moving.progressed_at = timezone.now()
    moving.save()
    changelist = reverse("admin:billing_billingrun_changelist")
    assert "Stalled: no progress since" in billing_staff_client.get(changelist).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        page = billing_staff_client.post(
            changelist, {"action": "resume_runs", "_selected_action": [dead.pk, moving.pk]}, follow=True
        ).content.decode()

    assert "Resumed 1 run(s)" in page and "Still running, not resumed: Billing run for May 2026 (1 of 3)" in page
    dead.refresh_from_db()
    assert (dead.status, dead.total, dead.created) == (BillingRun.Status.DONE, 2, 2)
    assert Invoice.objects.filter(period_start=MAY).count() == 3
    moving.refresh_from_db()
    assert moving.status == BillingRun.Status.RUNNING


# Customers are billed in groups (billing.workflows.run.GROUP_SIZE): the group's statements (lock,
# look-ups for invoices, one-off charges and payments, subscriptions, the VAT rates, the
# invoices, their lines and the subscriptions written once each) are shared, and each customer with one
# subscription and no billing contact adds 5 (numbering, issue, and the PDF: the
# document, its lines, the stored file), on SQLite and PostgreSQL alike: one more per
# customer, or one per earlier invoice, fails this. (Each email adds the gateway's:
# docs/billing.md.)
QUERIES_PER_CUSTOMER = 5
# Fixed: the run's own queries, two for last month's usage billed in arrears (the
# customers with usage due, and each group's subscriptions with usage terms), and two for
# the audit trail (one INSERT of a group's events, one content-type look-up), and one for
# the VAT-rate table, read once per group.
FIXED_QUERIES = 21


@pytest.mark.django_db
def test_the_runs_queries_grow_with_the_customers_billed_and_nothing_else(django_assert_max_num_queries):
    configured_provider()
    _subscribed(4)
    with django_assert_max_num_queries(FIXED_QUERIES + 4 * QUERIES_PER_CUSTOMER):
        run_billing(MAY, actor=System("tests"))
    # A month later, with a month of history each and twice the customers.
    _subscribed(4)
    with django_assert_max_num_queries(FIXED_QUERIES + 8 * QUERIES_PER_CUSTOMER):
        assert run_billing(dt.date(2026, 6, 1), actor=System("tests")).created == 8


@pytest.mark.django_db
def test_staff_see_the_run_progress_while_it_goes(monkeypatch):
    """The run's row moves as each group of customers commits, not only at the end: its
    counts are written in the group's transaction."""
    import billing.workflows.run

    configured_provider()
    _subscribed(3)
    run = BillingRun.objects.create(period_start=MAY)
    seen = []

    def look_at_the_run():  # as staff reloading the admin page while a group is being invoiced
        seen.append(BillingRun.objects.order_by("-pk").values_list("done", "created").first())

    monkeypatch.setattr(billing.workflows.run, "GROUP_SIZE", 1)
    with on_statement(r'^INSERT INTO "billing_invoice"', look_at_the_run):
        run_billing(MAY, run=run, actor=System("tests"))
    assert seen == [(0, 0), (1, 1), (2, 2)]
    run.refresh_from_db()
    assert (run.status, run.total, run.done, run.created) == (BillingRun.Status.DONE, 3, 3, 3)

    _subscribed(3)
    seen.clear()
    monkeypatch.setattr(billing.workflows.run, "GROUP_SIZE", 2)
    with on_statement(r'^INSERT INTO "billing_invoice"', look_at_the_run):
        again = run_billing(dt.date(2026, 6, 1), actor=System("tests"))
    assert seen == [(0, 0), (2, 2), (4, 4)]  # groups of 2, 2 and 2
    assert (again.total, again.done, again.created) == (6, 6, 6)


class _Killed(BaseException):
    """The worker's process ending mid-run (a deploy, the OOM killer): nothing of ours runs after it."""


@contextlib.contextmanager
def killed_while_issuing(monkeypatch, *, invoice_number: int):
    """The run's process dies as it issues its ``invoice_number``-th invoice: that group's
    transaction never commits, the groups before it did."""
    import billing.workflows.run

    real, issued = billing.workflows.run.issue_locked, []

    def issue_or_die(*args, **kwargs):
        issued.append(1)
        if len(issued) == invoice_number:
            raise _Killed
        return real(*args, **kwargs)

    monkeypatch.setattr(billing.workflows.run, "issue_locked", issue_or_die)
    try:
        yield
    finally:
        monkeypatch.setattr(billing.workflows.run, "issue_locked", real)


@pytest.mark.django_db
def test_a_run_killed_mid_way_and_resumed_by_staff_ends_with_true_counters(
    monkeypatch, billing_staff_client, django_capture_on_commit_callbacks
):
    from django.urls import reverse
    from django.utils import timezone

    import billing.workflows.run

    configured_provider()
    _subscribed(7)
    monkeypatch.setattr(billing.workflows.run, "GROUP_SIZE", 2)
    run = BillingRun.objects.create(period_start=MAY)
    with pytest.raises(_Killed), killed_while_issuing(monkeypatch, invoice_number=5):  # in the third group
        run_billing(MAY, run=run, actor=System("tests"))
    run.refresh_from_db()
    assert (run.status, run.total, run.done, run.created) == (BillingRun.Status.RUNNING, 7, 4, 4)
    BillingRun.objects.filter(pk=run.pk).update(progressed_at=timezone.now() - dt.timedelta(hours=1))  # stalled

    with django_capture_on_commit_callbacks(execute=True):
        billing_staff_client.post(
            reverse("admin:billing_billingrun_changelist"), {"action": "resume_runs", "_selected_action": [run.pk]}
        )

    run.refresh_from_db()
    assert Invoice.objects.filter(period_start=MAY).count() == 7
    assert (run.status, run.total, run.done, run.created) == (BillingRun.Status.DONE, 7, 7, 7)
    # Resumed once more, nothing left: still true.
    with django_capture_on_commit_callbacks(execute=True):
        billing_staff_client.post(
            reverse("admin:billing_billingrun_changelist"), {"action": "resume_runs", "_selected_action": [run.pk]}
        )
    run.refresh_from_db()
    assert (run.status, run.total, run.done, run.created) == (BillingRun.Status.DONE, 7, 7, 7)


@pytest.mark.django_db
def test_a_resumed_run_counts_a_customer_in_error_once():
    """A customer refused in the first life (staff left a draft for the period) is tried
    again by the resumed run, once the draft is gone, and counted once."""
    from tests.billing.factories import InvoiceFactory

    configured_provider()
    _good, troubled = _subscribed(2)
    draft = InvoiceFactory(customer=troubled, period_start=MAY, period_end=dt.date(2026, 5, 31))
    run = run_billing(MAY, actor=System("tests"))
    assert (run.status, run.total, run.done, run.created) == (BillingRun.Status.FAILED, 2, 2, 1)
    draft.delete()
    run = run_billing(MAY, run=run, actor=System("tests"))
    assert (run.status, run.total, run.done, run.created) == (BillingRun.Status.DONE, 2, 2, 2)


def test_billing_refuses_to_start_on_an_sqlite_without_returning():
    from billing.checks import sqlite_too_old

    sqlite = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "portal.sqlite3"}}
    (error,) = sqlite_too_old(sqlite, (3, 31, 1))
    assert error.id == "billing.E001" and "SQLite 3.31.1 is too old" in error.msg
    assert sqlite_too_old(sqlite, (3, 40, 1)) == []
    assert sqlite_too_old({"default": {"ENGINE": "django.db.backends.postgresql"}}, (3, 31, 1)) == []


@pytest.mark.django_db
def test_the_run_bills_the_customer_as_staff_left_them_mid_run():
    """The run loaded its customers when it started; a change made since is what is invoiced."""
    from accounts.models import Customer

    configured_provider()
    (stale,) = _subscribed(1)

    def staff_edit_the_customer():
        Customer.objects.filter(pk=stale.pk).update(registered_name="Renamed Since Ltd", address_line1="2 New Street")

    # The run has read its customers and is about to start billing them.
    with on_statement(r'^UPDATE "billing_billingrun"', staff_edit_the_customer, before=False, times=1):
        run = run_billing(MAY, actor=System("tests"))
    assert run.created == 1
    invoice = Invoice.objects.get(customer=stale, period_start=MAY)
    assert invoice.buyer["registered_name"] == "Renamed Since Ltd"
    assert invoice.buyer["address"][0] == "2 New Street"


@pytest.mark.django_db
def test_an_insert_refused_for_another_reason_is_reported_not_skipped(monkeypatch):
    from django.db import IntegrityError

    configured_provider()
    (customer,) = _subscribed(1)

    def refuse(*args, **kwargs):
        raise IntegrityError("CHECK constraint failed: issued_documents_have_numbers")

    monkeypatch.setattr(Invoice.objects, "bulk_create", refuse)  # the run's insert of its invoices
    run = run_billing(MAY, actor=System("tests"))  # a run names the customer in its error
    assert (run.status, run.created) == (BillingRun.Status.FAILED, 0)
    assert f"{customer}: CHECK constraint failed: issued_documents_have_numbers" in run.error
    assert not Invoice.objects.filter(customer=customer).exists()


@pytest.mark.django_db
def test_a_customer_refused_in_a_group_is_named_and_the_others_are_invoiced():
    """Customers are billed in groups, one transaction each: a customer whose invoice is
    refused while it is built (here, staff left a draft for the period) is left out and
    named in the run's error; the others in the group get their invoices, numbered
    without a gap."""
    from tests.billing.factories import InvoiceFactory

    configured_provider()
    first, troubled, last = _subscribed(3)
    draft = InvoiceFactory(customer=troubled, period_start=MAY, period_end=dt.date(2026, 5, 31))

    run = run_billing(MAY, actor=System("tests"))

    assert (run.status, run.total, run.done, run.created) == (BillingRun.Status.FAILED, 3, 3, 2)
    assert run.error == (
        f"{troubled}: {troubled} has a draft invoice for May 2026 ({draft}): issue or delete it, then run the "
        "billing again for this customer."
    )
    issued = Invoice.objects.exclude(status=Invoice.Status.DRAFT).order_by("number")
    assert [invoice.customer for invoice in issued] == [first, last]
    assert [invoice.number[-6:] for invoice in issued] == ["000001", "000002"]


@pytest.mark.django_db(transaction=True)  # the PDFs and emails go after each commit
def test_an_error_while_a_group_is_written_rolls_it_back_and_its_customers_are_billed_one_by_one(mailoutbox):
    """The middle customer's invoice comes to less than zero, which only issuing finds,
    after the first customer's invoice was numbered: the whole group rolls back (its number
    too), then each customer is billed alone. The others' invoices are numbered without a
    gap, each is rendered and emailed once, and the run names the customer in error."""
    from billing.models import OneOffCharge

    configured_provider()
    first, troubled, last = _subscribed(3)
    for customer in (first, last):
        MembershipFactory(customer=customer, role=Role.BILLING)
    OneOffCharge.objects.create(customer=troubled, description="Goodwill", unit_price="-50.00")

    run = run_billing(MAY, actor=System("tests"))

    assert (run.status, run.done, run.created) == (BillingRun.Status.FAILED, 3, 2)
    assert f"{troubled}: " in run.error and "an invoice cannot be less than zero" in run.error
    issued = list(Invoice.objects.order_by("number"))
    assert [invoice.customer for invoice in issued] == [first, last]
    assert [invoice.number[-6:] for invoice in issued] == ["000001", "000002"]
    assert all(invoice.pdf for invoice in issued)
    assert sorted(message.attachments[0][0] for message in mailoutbox) == [f"{i.number}.pdf" for i in issued]
    assert OneOffCharge.objects.get().invoice_line is None  # waits for the next invoice


@pytest.mark.django_db(transaction=True)  # the PDFs and emails go after each commit
def test_a_pdf_that_fails_to_render_stops_no_other_document_of_its_group(monkeypatch, mailoutbox, caplog):
    """In process (no broker), each issued document is rendered and emailed after its group
    commits. One render failing is logged and leaves that invoice issued without its PDF,
    for the sweep or staff to send again; the group's other documents are still rendered
    and emailed, and the run counts every invoice it issued."""
    import weasyprint

    configured_provider()
    customers = _subscribed(3)
    for customer in customers:
        MembershipFactory(customer=customer, role=Role.BILLING)
    write_pdf = weasyprint.HTML.write_pdf
    calls = []

    def first_render_fails(document, *args, **kwargs):
        calls.append(document)
        if len(calls) == 1:
            raise OSError("disk full")
        return write_pdf(document, *args, **kwargs)

    monkeypatch.setattr(weasyprint.HTML, "write_pdf", first_render_fails)

    run = run_billing(MAY, actor=System("tests"))

    assert (run.status, run.created) == (BillingRun.Status.DONE, 3)
    invoices = list(Invoice.objects.order_by("number"))
    assert [bool(invoice.pdf) for invoice in invoices] == [False, True, True]
    assert sorted(message.attachments[0][0] for message in mailoutbox) == [f"{i.number}.pdf" for i in invoices[1:]]
    assert "disk full" in caplog.text


@pytest.mark.django_db
def test_resuming_a_killed_run_renders_and_sends_what_it_issued_before_the_kill(
    monkeypatch, billing_staff_client, django_capture_on_commit_callbacks
):
    """The run was killed after its groups committed and before their documents' delivery,
    queued on commit, went: resuming it delivers them, and everything issued since."""
    from django.db.models import Exists
    from django.urls import reverse
    from django.utils import timezone

    import billing.workflows.run
    from accounts.correspondence.models import Message
    from billing.models import document_emails

    configured_provider()
    customers = _subscribed(5)
    for customer in customers:
        MembershipFactory(customer=customer, role=Role.BILLING)
    monkeypatch.setattr(billing.workflows.run, "GROUP_SIZE", 2)
    run = BillingRun.objects.create(period_start=MAY)
    # Killed in the third group; the deliveries queued on the first two groups' commits die with it.
    with pytest.raises(_Killed), killed_while_issuing(monkeypatch, invoice_number=5):
        run_billing(MAY, run=run, actor=System("tests"))
    assert Invoice.objects.filter(period_start=MAY, pdf="").count() == 4
    assert not Message.objects.exists()
    BillingRun.objects.filter(pk=run.pk).update(progressed_at=timezone.now() - dt.timedelta(hours=1))

    with django_capture_on_commit_callbacks(execute=True):
        billing_staff_client.post(
            reverse("admin:billing_billingrun_changelist"), {"action": "resume_runs", "_selected_action": [run.pk]}
        )

    invoices = Invoice.objects.filter(period_start=MAY)
    assert invoices.count() == 5
    assert not invoices.filter(pdf="").exists()
    assert invoices.filter(Exists(document_emails())).count() == 5
    assert Message.objects.filter(template="invoice").count() == 5  # each emailed once


@pytest.mark.django_db
def test_a_run_replaying_a_past_billing_day_dates_its_documents_then_and_never_in_the_future():
    from django.utils import timezone

    configured_provider()
    (customer,) = _subscribed(1)
    with pytest.raises(ValueError, match="cannot be dated in the future"):
        run_billing(MAY, actor=System("tests"), issued_on=timezone.localdate() + dt.timedelta(days=1))
    assert not BillingRun.objects.exists()

    run_billing(MAY, actor=System("tests"), issued_on=MAY)
    invoice = Invoice.objects.get(customer=customer)
    assert (invoice.issued_on, invoice.tax_point, invoice.due_on) == (MAY, MAY, MAY + dt.timedelta(days=30))
