"""``manage.py load_demo``: fictional, complete, idempotent, printed, and never in production."""

from __future__ import annotations

import io
import time

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value
from django.apps import apps
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts import roles
from accounts.models import Customer, IPAssignment, LegalForm, Membership, ProviderDetails, Service, User
from accounts.vat import normalise_vat_number
from portal.management.commands.load_demo import ACCOUNTANT_EMAIL, DEMO_PASSWORD, DEMO_TOTP_SECRET, STAFF_EMAIL


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Argon2 is deliberately slow; the demo hashes one password per person per test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def load_demo(*args: str) -> str:
    out = io.StringIO()
    call_command("load_demo", *args, stdout=out)
    return out.getvalue()


def row_counts() -> dict[str, int]:
    models = [*(model for app in ("accounts", "billing", "privacy") for model in apps.get_app_config(app).get_models())]
    return {model._meta.label: model.objects.count() for model in models} | {
        "account.EmailAddress": EmailAddress.objects.count(),
        "mfa.Authenticator": Authenticator.objects.count(),
    }


@pytest.mark.django_db
def test_running_twice_changes_nothing():
    load_demo()
    first = row_counts()
    snapshot = {
        "users": list(User.objects.values_list("email", "password", "is_staff")),
        "ips": list(IPAssignment.objects.values_list("network", "service__name")),
    }

    output = load_demo()

    assert row_counts() == first
    assert snapshot == {
        "users": list(User.objects.values_list("email", "password", "is_staff")),
        "ips": list(IPAssignment.objects.values_list("network", "service__name")),
    }
    assert "nothing changed" in output


@pytest.mark.django_db
def test_demo_provider_is_fictional_and_complete():
    load_demo()

    provider = ProviderDetails.current()
    assert provider.registered_name == "Northwind Hosting Ltd"
    assert provider.registered_in == "England and Wales"
    assert normalise_vat_number(provider.vat_number) == provider.vat_number
    for address in (provider.support_email, provider.billing_email, provider.abuse_email, provider.privacy_email):
        assert address.endswith(".example"), "demo addresses must be on a reserved domain (RFC 2606)"


@pytest.mark.django_db
def test_demo_customers_cover_the_legal_forms_services_and_address_families():
    load_demo()

    assert {c.legal_form for c in Customer.objects.all()} >= {
        LegalForm.LIMITED_COMPANY,
        LegalForm.SOLE_TRADER,
        LegalForm.INDIVIDUAL,
    }
    for customer in Customer.objects.all():
        customer.full_clean()  # VAT numbers, company numbers and addresses pass the same rules as forms
        assert customer.postal_address_lines()
    company = Customer.objects.get(legal_form=LegalForm.LIMITED_COMPANY)
    assert company.vat_number and company.company_number
    assert {(s.kind, s.platform) for s in Service.objects.all()} >= {
        (Service.Kind.VPS, Service.Platform.VIRTUAL),
        (Service.Kind.DEDICATED, Service.Platform.PHYSICAL),
        (Service.Kind.COLOCATION, Service.Platform.PHYSICAL),
        (Service.Kind.OTHER, Service.Platform.VIRTUAL),
    }
    assert set(IPAssignment.objects.values_list("version", flat=True)) == {4, 6}


@pytest.mark.django_db
def test_demo_people_hold_every_role_and_one_belongs_to_two_customers():
    load_demo()

    assert set(Membership.objects.values_list("role", flat=True)) == set(roles.Role.values)
    assert any(user.memberships.count() > 1 for user in User.objects.all())
    assert all(customer.memberships.owners().exists() for customer in Customer.objects.all())
    for user in User.objects.all():
        assert EmailAddress.objects.filter(user=user, email=user.email, verified=True, primary=True).exists()
        assert user.check_password(DEMO_PASSWORD)


@pytest.mark.django_db
def test_staff_and_accountant_have_the_printed_totp_secret():
    output = load_demo()

    staff = User.objects.get(email=STAFF_EMAIL)
    accountant = User.objects.get(email=ACCOUNTANT_EMAIL)
    assert staff.is_staff and staff.is_superuser
    assert accountant.is_accountant and not accountant.is_staff
    for user in (staff, accountant):
        assert user.must_use_mfa
        totp = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)
        code = format_hotp_value(hotp_value(DEMO_TOTP_SECRET, int(time.time()) // 30))
        assert TOTP(totp).validate_code(code)
    assert DEMO_TOTP_SECRET in output


@pytest.mark.django_db
def test_output_lists_every_login_with_the_password():
    output = load_demo()

    assert f"password for all: {DEMO_PASSWORD}" in output
    for email in User.objects.values_list("email", flat=True):
        assert email in output


@pytest.mark.django_db
def test_demo_owner_can_log_in_with_the_printed_password(client):
    load_demo()
    owner = Membership.objects.filter(role=roles.Role.OWNER).select_related("user").first().user

    response = client.post("/accounts/login/", {"login": owner.email, "password": DEMO_PASSWORD})

    assert response.status_code == 302
    assert client.session.get("_auth_user_id") == str(owner.pk)


@pytest.mark.django_db
@pytest.mark.parametrize(("email", "home"), [(STAFF_EMAIL, "/admin/"), (ACCOUNTANT_EMAIL, "/accounting/")])
def test_staff_and_accountant_log_in_with_the_printed_password_and_code(client, email, home):
    load_demo()

    response = client.post("/accounts/login/", {"login": email, "password": DEMO_PASSWORD})
    assert response.status_code == 302
    assert response.url == reverse("mfa_authenticate")
    code = format_hotp_value(hotp_value(DEMO_TOTP_SECRET, int(time.time()) // 30))
    response = client.post(reverse("mfa_authenticate"), {"code": code})

    assert response.status_code == 302
    assert client.get(home).status_code == 200


@pytest.mark.django_db
def test_refuses_to_run_in_production_unless_forced(settings):
    settings.PORTAL_ENV = "production"

    with pytest.raises(CommandError, match="production"):
        load_demo()
    assert not User.objects.exists()

    load_demo("--force")
    assert User.objects.exists()


@pytest.mark.django_db
def test_demo_customers_have_invoices_with_pdfs_and_differing_balances(client, django_capture_on_commit_callbacks):
    from billing.models import Invoice
    from billing.receivables.payments import account_balance

    with django_capture_on_commit_callbacks(execute=True):  # the PDFs are rendered after commit
        load_demo()

    invoices = Invoice.objects.exclude(status=Invoice.Status.DRAFT)
    assert invoices.count() == 9  # each of the three months of the story, for each of three customers
    assert all(invoice.pdf and invoice.pdf_sha256 for invoice in invoices)
    balances = {c.registered_name: account_balance(c) for c in Customer.objects.all()}
    tom = Customer.objects.get(registered_name="Tom Okafor")
    paying = Customer.objects.get(registered_name="Ellen Marsh")
    assert balances["Tom Okafor"] == sum(i.total_gross for i in invoices.filter(customer=tom))
    assert invoices.filter(customer=paying, status=Invoice.Status.PAID).count() >= 2
    unpaid = invoices.filter(customer=paying).exclude(status=Invoice.Status.PAID)
    assert balances["Ellen Marsh"] == sum(i.total_gross for i in unpaid)

    client.login(email="bob@blackthorn-analytics.example", password=DEMO_PASSWORD)  # the billing contact
    page = client.get(reverse("billing:invoices")).content.decode()
    assert "INV-" in page and "Paid" in page


@pytest.mark.django_db
def test_demo_invoices_say_how_to_pay_with_complete_and_obviously_fictional_bank_details():
    from billing.delivery.pdf import render_invoice_pdf
    from billing.models import BillingSettings, Invoice
    from tests.billing.test_pdf import pdf_text

    load_demo()

    policy = BillingSettings.current()
    assert policy.missing_payment_method() == ""
    assert "not a real account" in policy.bank_account_name
    assert (policy.bank_sort_code, policy.bank_account_number) == ("00-00-00", "00000000")
    assert "DEMO" in policy.bank_iban and "DEMO" in policy.bank_bic
    policy.full_clean()  # valid in form: the IBAN's check digits are right
    unpaid = Invoice.objects.filter(status=Invoice.Status.ISSUED).first()
    text = pdf_text(render_invoice_pdf(unpaid))
    assert "Sort code 00-00-00" in text and "IBAN GB46 DEMO 0000 0000 0000 00" in text and "BIC DEMOGB22" in text


@pytest.mark.django_db
def test_demo_services_have_usage_billed_on_this_months_invoice(client):
    from billing.usage.models import UsageCharge, UsageSample

    load_demo()
    assert UsageSample.objects.exists()
    # Last month's bandwidth is on this month's invoices, with the method printed.
    descriptions = [charge.invoice_line.description for charge in UsageCharge.objects.select_related("invoice_line")]
    assert any("95th percentile" in text for text in descriptions)
    assert any("total transfer" in text for text in descriptions)
    owner = Membership.objects.filter(role=roles.Role.OWNER, customer__services__name="bt-db-01").first().user
    client.force_login(owner)
    service = Service.objects.get(name="bt-db-01")
    page = client.get(reverse("billing:service_usage", args=[service.pk])).content.decode()
    assert "<svg" in page and "95th percentile" in page


@pytest.mark.django_db
def test_the_demo_tells_one_consistent_story():
    import datetime as dt

    from django.utils import timezone

    from billing.models import Invoice, InvoiceLine, Subscription
    from portal.management.commands.load_demo import history_start
    from privacy.models import DataSubjectRequest
    from privacy.services.policies import current_versions

    load_demo()
    today = timezone.localdate()

    # The provider's policy and terms were in force before anyone joined.
    assert {(v.document, v.effective_from) for v in current_versions()} == {
        ("privacy", history_start()),
        ("terms", history_start()),
    }
    # Services and their subscriptions began on the same day, and nothing is billed before it.
    subscriptions = Subscription.objects.select_related("service")
    assert subscriptions.exists()
    assert all(sub.started_on == sub.service.started_on == history_start() for sub in subscriptions)
    for line in InvoiceLine.objects.filter(subscription__isnull=False, period_start__isnull=False).select_related(
        "subscription__service"
    ):
        assert line.period_start >= line.subscription.service.started_on, line.description
    # Each month's invoice is dated its billing day, in number order.
    issued = list(Invoice.objects.exclude(status=Invoice.Status.DRAFT).order_by("pk"))
    assert [i.issued_on for i in issued] == sorted(i.issued_on for i in issued)
    assert all(i.issued_on == i.period_start for i in issued)  # the billing day is the 1st
    # A paid invoice, and an overdue one.
    assert Invoice.objects.filter(status=Invoice.Status.PAID).exists()
    overdue = Invoice.objects.with_balance().filter(balance__gt=0, due_on__lt=today)
    assert overdue.filter(customer__registered_name="Tom Okafor").exists()
    assert not overdue.exclude(customer__registered_name="Tom Okafor").exists()
    # A privacy request with days left on its clock.
    (request,) = DataSubjectRequest.objects.all()
    assert request.status == DataSubjectRequest.Status.OPEN and request.due_on > today + dt.timedelta(days=20)


@pytest.mark.django_db
def test_every_staff_queue_and_customer_page_has_something_in_it(client):
    from billing.models import Invoice

    load_demo()
    staff = User.objects.get(email=STAFF_EMAIL)
    code = format_hotp_value(hotp_value(DEMO_TOTP_SECRET, int(time.time()) // 30))
    client.post("/accounts/login/", {"login": STAFF_EMAIL, "password": DEMO_PASSWORD})
    client.post(reverse("mfa_authenticate"), {"code": code})
    assert client.session.get("_auth_user_id") == str(staff.pk)

    workbench = client.get(reverse("admin:index")).content.decode()
    overdue = Invoice.objects.get(
        customer__registered_name="Tom Okafor", period_start=Invoice.objects.earliest("period_start").period_start
    )
    for expected in (
        "Customers waiting for an answer",
        "Welcome to Northwind Hosting",  # each owner's reply to it, unanswered
        f"Invoice {overdue.number}",  # Tom's question about it, unanswered
        "Moving our shop to you",  # from a stranger, to assign or reject
        "Privacy requests by days left",
        overdue.number,
    ):
        assert expected in workbench, expected

    client.logout()
    client.login(email="tom@okafor.example", password=DEMO_PASSWORD)
    invoices = client.get(reverse("billing:invoices")).content.decode()
    assert overdue.number in invoices and "overdue" in invoices.lower()
    client.logout()
    client.login(email="ellen@marsh-webdesign.example", password=DEMO_PASSWORD)
    requests = client.get(reverse("privacy:requests")).content.decode()
    assert "days left)" in requests


@pytest.mark.django_db
def test_what_the_demo_did_is_on_the_audit_trail_as_the_demo():
    from accounts.audit import AuditEvent

    load_demo()
    issued = AuditEvent.objects.filter(action="document.issued")
    assert issued.exists() and set(issued.values_list("actor_label", flat=True)) == {"System (demo data)"}
    assert AuditEvent.objects.filter(action="policy.published", actor_label="System (demo data)").count() == 2
