"""No document asks to be paid without saying how: issuing refuses while the provider has
no payment method in Billing settings, the admin home says so, and the customer's page
shows the same payment instructions as the PDF."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from django.urls import reverse

from accounts.audit import System
from billing.delivery.pdf import render_invoice_pdf
from billing.issuing import add_line
from billing.models import BillingRun, BillingSettings, Invoice, NumberSeries
from billing.workflows.run import run_billing
from tests.accounts.factories import CustomerFactory, ProviderDetailsFactory, ServiceFactory
from tests.billing.factories import (
    BillingSettingsFactory,
    InvoiceFactory,
    PlanFactory,
    SubscriptionFactory,
    issued_invoice,
)
from tests.billing.test_pdf import pdf_text

pytestmark = pytest.mark.django_db

MISSING = "No payment method is configured"
WHERE = "give the account name, and a sort code and account number or an IBAN in Billing → Billing settings"


def _page_text(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


@pytest.fixture
def unpaid_draft():
    ProviderDetailsFactory()  # the seller's details, but no bank details
    draft = InvoiceFactory(customer=CustomerFactory())
    add_line(draft, description="VPS hosting", quantity=1, unit_price="10.00")
    return draft


def test_issuing_from_the_admin_is_refused_naming_the_missing_setting_and_nothing_is_numbered(
    billing_staff_client, unpaid_draft
):
    response = billing_staff_client.post(
        reverse("admin:billing_invoice_changelist"),
        {"action": "issue_selected", "_selected_action": [unpaid_draft.pk]},
        follow=True,
    )

    page = _page_text(response)
    assert MISSING in page and WHERE in page
    unpaid_draft.refresh_from_db()
    assert unpaid_draft.status == Invoice.Status.DRAFT and unpaid_draft.number is None
    assert not NumberSeries.objects.filter(code="INV", next_number__gt=1).exists()

    # Half the details are not a payment method either: a name alone tells nobody where to pay.
    BillingSettingsFactory(bank_account_name="Example Hosting Ltd", bank_sort_code="", bank_account_number="")
    billing_staff_client.post(
        reverse("admin:billing_invoice_changelist"), {"action": "issue_selected", "_selected_action": [unpaid_draft.pk]}
    )
    unpaid_draft.refresh_from_db()
    assert unpaid_draft.status == Invoice.Status.DRAFT

    BillingSettingsFactory(bank_iban="GB29NWBK60161331926819", bank_sort_code="", bank_account_number="")
    billing_staff_client.post(
        reverse("admin:billing_invoice_changelist"), {"action": "issue_selected", "_selected_action": [unpaid_draft.pk]}
    )
    unpaid_draft.refresh_from_db()
    assert unpaid_draft.status == Invoice.Status.ISSUED


def test_the_admin_home_warns_while_no_payment_method_is_configured(billing_staff_client):
    home = reverse("admin:index")

    page = _page_text(billing_staff_client.get(home))
    assert MISSING in page and WHERE in page
    assert reverse("admin:billing_billingsettings_changelist") in billing_staff_client.get(home).content.decode()

    BillingSettingsFactory()
    assert MISSING not in _page_text(billing_staff_client.get(home))


def test_a_billing_run_is_refused_until_a_payment_method_is_configured(billing_staff_client):
    ProviderDetailsFactory()
    customer = CustomerFactory()
    SubscriptionFactory(service=ServiceFactory(customer=customer), plan=PlanFactory())

    form = billing_staff_client.post(
        reverse("admin:billing_billingrun_add"), {"period_start": "2026-12-01", "customer": ""}
    )
    assert form.status_code == 200 and MISSING in _page_text(form)
    assert not BillingRun.objects.exists()

    run = run_billing(dt.date(2026, 12, 1), actor=System("tests"))  # as the schedule starts it
    assert run.status == BillingRun.Status.FAILED and MISSING in run.error and WHERE in run.error
    assert not Invoice.objects.exists()


def test_half_given_bank_details_are_refused_by_name_and_nothing_is_saved(billing_staff_client):
    from tests.accounts.test_admin import _form_data

    add = reverse("admin:billing_billingsettings_add")
    form = _form_data(billing_staff_client.get(add))

    response = billing_staff_client.post(
        add, {**form, "bank_account_name": "Example Hosting Ltd", "bank_sort_code": "40-27-16"}
    )

    assert response.status_code == 200
    assert "Give the account number that goes with the sort code." in response.content.decode()
    assert not BillingSettings.objects.exists()


def test_the_invoice_page_shows_the_payment_instructions_the_pdf_shows(owner_client, customer):
    BillingSettingsFactory(bank_iban="GB29NWBK60161331926819", bank_bic="NWBKGB2L")
    invoice = issued_invoice(customer, issued_on=dt.date(2026, 3, 2))

    page = _page_text(owner_client.get(reverse("billing:invoice_detail", args=[invoice.pk])))
    text = pdf_text(render_invoice_pdf(invoice))

    instructions = (
        f"Please pay £12.00 by 1 April 2026, quoting {invoice.number} as the reference. "
        "Account name Example Hosting Ltd Sort code 12-34-56 Account number 12345678 "
        "IBAN GB29 NWBK 6016 1331 9268 19 BIC NWBKGB2L"
    )
    assert instructions in text
    assert instructions in page


def test_a_uk_iban_must_be_for_the_sort_code_and_account_number_given(billing_staff_client):
    """Sort codes and account numbers are checked by format only (no well-kept library checks
    the banks' modulus rules), but a UK IBAN carries both under its own check digits."""
    from tests.accounts.test_admin import _form_data

    add = reverse("admin:billing_billingsettings_add")
    form = {
        **_form_data(billing_staff_client.get(add)),
        "bank_account_name": "Example Hosting Ltd",
        "bank_iban": "GB29 NWBK 6016 1331 9268 19",
    }

    refused = billing_staff_client.post(add, {**form, "bank_sort_code": "60-16-13", "bank_account_number": "31926818"})

    assert refused.status_code == 200
    assert (
        "The IBAN is for sort code 60-16-13, account 31926819, not the sort code and account number given"
        in refused.content.decode()
    )
    assert not BillingSettings.objects.exists()
    saved = billing_staff_client.post(add, {**form, "bank_sort_code": "601613", "bank_account_number": "31926819"})
    assert saved.status_code == 302
    assert BillingSettings.objects.get().bank_sort_code == "60-16-13"
