"""A demo billing contact finds an invoice in a real browser, downloads its PDF and reads
their statement; a technical contact is not shown billing at all."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from playwright.sync_api import expect
from pypdf import PdfReader

from accounts import roles
from accounts.models import Membership
from billing.models import Invoice
from portal.management.commands.load_demo import DEMO_PASSWORD

pytestmark = pytest.mark.e2e


def _log_in(page, live_server, email: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label(re.compile(r"^Email( address)?:?$", re.I)).fill(email)
    password = page.get_by_label(re.compile(r"^Password:?$", re.I))
    password.fill(DEMO_PASSWORD)
    password.press("Enter")
    expect(page).to_have_url(re.compile(re.escape(live_server.url) + "/$"))


def test_a_billing_contact_downloads_an_invoice_and_reads_the_statement(live_server, migration_rows, page):
    call_command("load_demo", stdout=io.StringIO())
    membership = (
        Membership.objects.filter(role=roles.Role.BILLING, customer__invoices__isnull=False)
        .select_related("user", "customer")
        .first()
    )
    invoice = Invoice.objects.filter(customer=membership.customer, kind=Invoice.Kind.INVOICE).order_by("pk").first()
    stranger = Invoice.objects.exclude(customer=membership.customer).exclude(status=Invoice.Status.DRAFT).first()
    assert invoice is not None and stranger is not None
    _log_in(page, live_server, membership.user.email)

    page.get_by_role("link", name="Billing", exact=True).click()
    main = page.locator("main")
    expect(main).to_contain_text(f"Invoices and credit notes of {membership.customer.display_name}")
    expect(main).to_contain_text(invoice.number)
    expect(main).not_to_contain_text(stranger.number)

    with page.expect_download() as download:
        page.get_by_role("link", name=f"Download {invoice.number} (PDF)").click()
    text = " ".join(PdfReader(download.value.path()).pages[0].extract_text().split())
    assert invoice.number in text and membership.customer.registered_name in text

    page.get_by_role("link", name=invoice.number, exact=True).click()
    expect(page.locator("main")).to_contain_text(invoice.number)
    page.get_by_role("link", name="Billing", exact=True).click()
    page.get_by_role("link", name="Statement of account").click()
    expect(page.locator("main")).to_contain_text("Closing balance")
    expect(page.locator("main")).to_contain_text(invoice.number)

    response = page.goto(f"{live_server.url}/billing/invoices/{stranger.pk}/pdf/")
    assert response.status == 404  # another customer's PDF


def test_a_technical_contact_is_not_shown_billing(live_server, migration_rows, page):
    call_command("load_demo", stdout=io.StringIO())
    technical = Membership.objects.filter(role=roles.Role.TECHNICAL).select_related("user").first()
    assert technical is not None
    _log_in(page, live_server, technical.user.email)

    expect(page.get_by_role("link", name="Billing", exact=True)).to_have_count(0)
    response = page.goto(f"{live_server.url}/billing/invoices/")
    assert response.status == 403
