"""Billing staff in the admin: subscriptions, hand-made credit notes, overdue invoices, refunds."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.audit import System
from billing.models import Invoice, InvoiceLine, OneOffCharge, Subscription
from billing.workflows.run import run_billing
from tests.accounts.factories import CustomerFactory, ServiceFactory
from tests.billing.factories import (
    BillingSettingsFactory,
    PlanFactory,
    SubscriptionFactory,
    configured_provider,
    issued_invoice,
)

pytestmark = pytest.mark.django_db

DECEMBER = dt.date(2026, 12, 1)


@pytest.fixture(autouse=True)
def _provider():
    configured_provider()


def _billed_subscription(price="31.00"):
    customer = CustomerFactory()
    plan = PlanFactory(price=Decimal(price))
    sub = SubscriptionFactory(service=ServiceFactory(customer=customer), plan=plan, started_on=dt.date(2026, 6, 1))
    run_billing(DECEMBER, actor=System("tests"))
    return sub


def _action(client, action, objects, **data):
    changelist = reverse(f"admin:billing_{objects[0]._meta.model_name}_changelist")
    return client.post(
        changelist, {"action": action, "_selected_action": [o.pk for o in objects], "apply": "1", **data}, follow=True
    )


def test_adding_a_subscription_after_the_run_bills_the_rest_of_the_month_next_time(billing_staff_client):
    sub = _billed_subscription()
    service = ServiceFactory(customer=sub.service.customer)
    plan = PlanFactory(price=Decimal("62.00"))
    add = reverse("admin:billing_subscription_add")

    response = billing_staff_client.post(add, {"service": service.pk, "plan": plan.pk, "started_on": "2026-12-17"})

    assert response.status_code == 302
    new = Subscription.objects.get(service=service)
    BillingSettingsFactory(bill_in_advance=True)  # January may not have started yet
    run_billing(dt.date(2027, 1, 1), actor=System("tests"))
    assert new.invoice_lines.get(period_start=dt.date(2026, 12, 17)).net == Decimal("30.00")


def test_adding_a_second_subscription_to_a_service_is_refused_on_the_form(billing_staff_client):
    sub = _billed_subscription()
    add = reverse("admin:billing_subscription_add")

    response = billing_staff_client.post(
        add, {"service": sub.service.pk, "plan": PlanFactory().pk, "started_on": "2026-12-17"}
    )

    assert response.status_code == 200
    assert "already has a subscription" in response.content.decode()
    assert Subscription.objects.count() == 1 and not OneOffCharge.objects.exists()


def test_ending_a_service_from_the_admin_issues_the_credit_note(billing_staff_client):
    sub = _billed_subscription()

    form = billing_staff_client.post(
        reverse("admin:billing_subscription_changelist"), {"action": "end_service", "_selected_action": [sub.pk]}
    )
    assert "Last day of service" in form.content.decode()
    done = _action(billing_staff_client, "end_service", [sub], last_day="2026-12-21")

    note = Invoice.objects.get(kind=Invoice.Kind.CREDIT_NOTE)
    sub.service.refresh_from_db()
    assert sub.service.ended_on == dt.date(2026, 12, 21)
    expected = f"{sub.service}: {sub.service.state_label}; credited by {note.number}"
    assert expected.lower() in done.content.decode().lower()
    assert note.total_net == Decimal("10.00")
    # An existing subscription is read-only: it changes through the actions.
    page = billing_staff_client.get(reverse("admin:billing_subscription_change", args=[sub.pk])).content.decode()
    assert 'name="plan"' not in page


def test_an_ended_service_shows_its_real_state_and_end_date_to_the_customer(billing_staff_client, client):
    from accounts import roles
    from accounts.models import Service
    from tests.accounts.factories import MembershipFactory

    sub = _billed_subscription()
    service = sub.service
    owner = MembershipFactory(customer=service.customer, role=roles.Role.OWNER).user
    client.force_login(owner)
    today = timezone.localdate()

    # Ended from a day still to come: running until then, with its last day shown.
    last_day = today + dt.timedelta(days=3)
    _action(billing_staff_client, "end_service", [sub], last_day=last_day.isoformat())
    page = client.get(reverse("accounts:service_detail", args=[service.pk])).content.decode()
    assert f"Active until {last_day:%-d %B %Y}" in page
    # Once the day has passed it reads ended, on every page, without anyone touching it.
    Service.objects.filter(pk=service.pk).update(ended_on=today - dt.timedelta(days=1))
    page = client.get(reverse("accounts:services")).content.decode()
    assert f"Ended on {today - dt.timedelta(days=1):%-d %B %Y}" in page and "Active" not in page
    dashboard = client.get(reverse("portal:dashboard")).content.decode()
    assert "1 ended service is listed" in dashboard


def test_ending_a_service_from_a_past_day_marks_it_ended_at_once(billing_staff_client):
    from accounts.models import Service

    sub = _billed_subscription()
    Service.objects.filter(pk=sub.service_id).update(started_on=dt.date(2026, 6, 1))
    last_day = timezone.localdate() - dt.timedelta(days=2)
    _action(billing_staff_client, "end_service", [sub], last_day=last_day.isoformat())
    service = Service.objects.get(pk=sub.service_id)
    assert service.status == Service.Status.ENDED and service.ended_on == last_day
    listing = billing_staff_client.get(reverse("admin:accounts_service_changelist")).content.decode()
    assert f"Ended on {last_day:%-d %B %Y}" in listing


def test_changing_plan_from_the_admin(billing_staff_client):
    sub = _billed_subscription()
    bigger = PlanFactory(price=Decimal("93.00"), name="VPS Large")

    done = _action(billing_staff_client, "change_plan", [sub], plan=bigger.pk, on="2026-12-22")

    assert f"{sub.service} is on {bigger} from 22 December 2026".lower() in done.content.decode().lower()
    assert Subscription.objects.filter(service=sub.service, plan=bigger, started_on=dt.date(2026, 12, 22)).exists()


def test_a_credit_note_drafted_in_the_admin_is_issued_with_the_originals_rate(billing_staff_client):
    customer = CustomerFactory()
    invoice = issued_invoice(customer, lines=(("Hosting", 1, "100.00"),), issued_on=dt.date(2026, 11, 1))
    add = reverse("admin:billing_invoice_add")
    lines = {
        "lines-TOTAL_FORMS": "1",
        "lines-INITIAL_FORMS": "0",
        "lines-0-description": "Outage credit",
        "lines-0-quantity": "1",
        "lines-0-unit_price": "10.00",
        "lines-0-vat_category": "standard",
    }
    data = {"kind": "credit_note", "customer": customer.pk, "currency": "GBP", "corrects": invoice.pk, **lines}

    assert billing_staff_client.post(add, {**data, "reason": "Outage on 3 November"}).status_code == 302
    draft = Invoice.objects.get(kind=Invoice.Kind.CREDIT_NOTE)
    assert InvoiceLine.objects.get(invoice=draft).vat_rate is None  # decided when issued
    done = _action(billing_staff_client, "issue_selected", [draft])

    draft.refresh_from_db()
    assert "Issued 1 document(s)." in done.content.decode()
    assert (draft.reason, draft.total_gross, draft.lines.get().vat_rate) == ("Outage on 3 November", 12, 20)


def test_overdue_filter_and_status_column(billing_staff_client):
    today = timezone.localdate()
    late = issued_invoice(issued_on=today - dt.timedelta(days=60))
    issued_invoice(issued_on=today)
    changelist = reverse("admin:billing_invoice_changelist")

    page = billing_staff_client.get(changelist, {"overdue": "yes"}).content.decode()

    assert late.number in page and "Overdue (issued)" in page
    assert billing_staff_client.get(changelist).content.decode().count("Overdue (issued)") == 1


def test_a_credit_note_page_links_to_recording_its_refund(billing_staff_client):
    from billing.workflows.settlement import credit_invoice

    note = credit_invoice(issued_invoice(), reason="Ordered in error", actor=System("tests"))

    page = billing_staff_client.get(reverse("admin:billing_invoice_change", args=[note.pk])).content.decode()

    assert f"{reverse('admin:billing_refund_add')}?credit_note={note.pk}" in page
    assert "None yet." in page


# ---------------------------------------------------------------------------------------
# Products and their prices per billing period
# ---------------------------------------------------------------------------------------


def _product_form(name, rows):
    data = {
        "name": name,
        "description": "",
        "plans-TOTAL_FORMS": str(len(rows)),
        "plans-INITIAL_FORMS": "0",
        "plans-MIN_NUM_FORMS": "0",
        "plans-MAX_NUM_FORMS": "1000",
    }
    for i, (period, price) in enumerate(rows):
        data |= {
            f"plans-{i}-period": period,
            f"plans-{i}-currency": "GBP",
            f"plans-{i}-price": price,
            f"plans-{i}-setup_fee": "0",
            f"plans-{i}-vat_category": "standard",
            f"plans-{i}-active": "on",
            f"plans-{i}-name": "",
        }
    return data


def test_billing_staff_price_a_product_per_billing_period(billing_staff_client):
    from billing.models import Product

    add = reverse("admin:billing_product_add")

    twice = billing_staff_client.post(add, _product_form("VPS Medium", [("monthly", "20.00"), ("monthly", "19.00")]))
    assert twice.status_code == 200 and "Two active monthly prices in GBP" in twice.content.decode()
    assert not Product.objects.exists()

    done = billing_staff_client.post(
        add, _product_form("VPS Medium", [("monthly", "20.00"), ("quarterly", "57.00"), ("annual", "216.00")])
    )

    assert done.status_code == 302, [f.errors for f in done.context["inline_admin_formsets"][0].formset.forms]
    product = Product.objects.get()
    assert sorted((p.name, p.period, p.price) for p in product.plans.all()) == [
        ("VPS Medium", "annual", Decimal("216.00")),
        ("VPS Medium", "monthly", Decimal("20.00")),
        ("VPS Medium", "quarterly", Decimal("57.00")),
    ]
    listing = billing_staff_client.get(reverse("admin:billing_product_changelist")).content.decode()
    assert "£20.00 monthly, £57.00 quarterly, £216.00 annual" in listing


def test_a_second_active_price_for_the_same_period_is_refused_on_the_plan_form(billing_staff_client):
    from billing.models import Plan, Product

    product = Product.objects.create(name="Backup 1 TB")
    PlanFactory(product=product, name="", period="monthly", price=Decimal("9.00"))
    add = reverse("admin:billing_plan_add")
    data = {"product": product.pk, "name": "", "period": "monthly", "currency": "GBP", "price": "8.00",
            "setup_fee": "0", "vat_category": "standard", "active": "on",
            # The plan's usage terms (an inline), left empty.
            "usage_terms-TOTAL_FORMS": "0", "usage_terms-INITIAL_FORMS": "0",
            "usage_terms-MIN_NUM_FORMS": "0", "usage_terms-MAX_NUM_FORMS": "1"}  # fmt: skip

    refused = billing_staff_client.post(add, data)
    assert refused.status_code == 200 and "already has an active plan for that period" in refused.content.decode()
    retired = billing_staff_client.post(add, {**data, "active": ""})  # a retired price may sit beside it
    assert retired.status_code == 302
    assert Plan.objects.filter(product=product).count() == 2
    assert Plan.objects.get(product=product, active=False).name == "Backup 1 TB"


def test_an_issued_documents_page_shows_seller_and_buyer_as_addresses(billing_staff_client):
    invoice = issued_invoice(CustomerFactory(registered_name="Acme Widgets Ltd"))
    page = billing_staff_client.get(reverse("admin:billing_invoice_change", args=[invoice.pk])).content.decode()
    assert "Buyer (as printed)" in page and "Acme Widgets Ltd<br>" in page
    assert '"registered_name"' not in page  # no JSON
    assert "View invoice" in page or "View " in page


def test_a_draft_is_issued_from_its_own_page(billing_staff_client):
    from tests.billing.factories import InvoiceFactory, InvoiceLineFactory

    draft = InvoiceFactory(customer=CustomerFactory())
    InvoiceLineFactory(invoice=draft)
    url = reverse("admin:billing_invoice_change", args=[draft.pk])
    page = billing_staff_client.get(url).content.decode()
    assert 'name="_issue"' in page
    form = {
        "kind": draft.kind, "customer": draft.customer_id, "currency": draft.currency,
        "lines-TOTAL_FORMS": "0", "lines-INITIAL_FORMS": "0", "_issue": "Save and issue",
    }  # fmt: skip
    response = billing_staff_client.post(url, form, follow=True)
    draft.refresh_from_db()
    assert draft.status != Invoice.Status.DRAFT and draft.number, response.content.decode()[:3000]


def test_the_country_filter_lists_only_countries_in_use(billing_staff_client):
    CustomerFactory(country="GB")
    CustomerFactory(country="FR", vat_number="", postcode="75001", town="Paris")
    page = billing_staff_client.get(reverse("admin:accounts_customer_changelist")).content.decode()
    assert "France" in page and "United Kingdom" in page and "Germany" not in page
