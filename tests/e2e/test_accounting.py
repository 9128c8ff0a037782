"""An accountant logs in with a password and an authenticator code, makes an export and
downloads it, in a real browser."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from accounts import roles
from billing.models import Accountant, AccountingFirm
from privacy.models import DisclosureEntry
from tests.accounts.factories import CustomerFactory, UserFactory, enable_totp
from tests.billing.factories import issued_invoice

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple 42"


def _code(secret: str) -> str:
    import time

    period = mfa_settings.TOTP_PERIOD
    if period - time.time() % period < 2:
        time.sleep(2.1)
    return format_hotp_value(hotp_value(secret, int(time.time()) // period))


def test_accountant_logs_in_with_totp_and_downloads_the_day_book(live_server, migration_rows, page, provider):
    customer = CustomerFactory(registered_name="Gamma Colocation Ltd")
    invoice = issued_invoice(customer, lines=(("Rack space", 1, "250.00"),), issued_on=dt.date(2026, 11, 4))
    firm = AccountingFirm.objects.create(
        name="Ledgerline Accounts LLP",
        postal_address="4 Counting House Yard\nLeeds",
        contact_email="books@ledgerline.example",
        engaged_from=dt.date(2020, 1, 1),
    )
    accountant = UserFactory(email="priya@ledgerline.example", password=PASSWORD)
    accountant.groups.add(Group.objects.get(name=roles.ACCOUNTANT_GROUP))
    Accountant.objects.create(user=accountant, firm=firm)
    secret = enable_totp(accountant)

    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label(re.compile(r"^Email( address)?:?$", re.I)).fill(accountant.email)
    password = page.get_by_label(re.compile(r"^Password:?$", re.I))
    password.fill(PASSWORD)
    password.press("Enter")
    code = page.get_by_label(re.compile(r"code", re.I))
    code.fill(_code(secret))
    code.press("Enter")

    expect(page).to_have_url(re.compile(re.escape(live_server.url) + "/accounting/$"))
    page.get_by_role("link", name="Make or download an export").click()
    page.get_by_label("Export").select_option("day_book")
    page.get_by_label("Format").select_option("csv")
    page.get_by_label("Period").select_option("range")
    page.get_by_label("From").fill("2026-11-01")
    page.get_by_label("To").fill("2026-11-30")
    page.get_by_role("button", name="Make the export").click()
    expect(page.locator("main")).to_contain_text("Ready: 1 row covering 1 customer")

    with page.expect_download() as info:
        page.get_by_role("link", name=re.compile(r"^Download ")).click()
    download = info.value
    assert download.suggested_filename == "sales-day-book-2026-11-01-to-2026-11-30.csv"
    rows = list(csv.DictReader(io.StringIO(open(download.path(), encoding="utf-8").read())))  # noqa: SIM115
    line = next(row for row in rows if row["record"] == "line")
    assert (line["document_number"], line["customer_name"], Decimal(line["gross"])) == (
        invoice.number,
        "Gamma Colocation Ltd",
        Decimal("300.00"),
    )
    entry = DisclosureEntry.objects.get()
    assert entry.recipient == firm.name and entry.customer_ids == [customer.pk]
