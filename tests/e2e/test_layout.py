"""Every customer page fits a phone (360 px) and a laptop (1280 px): nothing makes the
page wider than the screen; a wide table scrolls inside its own box.

With ``PORTAL_SCREENSHOTS`` set to a folder (``make screenshots``), each page is also
saved there as a PNG at both widths, for docs/screenshots/ and the README.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse
from playwright.sync_api import expect

from accounts.audit import System
from billing.models import Invoice
from portal.management.commands.load_demo import DEMO_PASSWORD

pytestmark = pytest.mark.e2e

OWNER_EMAIL = "alice@blackthorn-analytics.example"
WIDTHS = (360, 1280)
# A person's full name that no screen is wide enough for on one line, as people type them.
UNBROKEN = "Wolfeschlegelsteinhausenbergerdorff" * 3

PAGES = {
    "dashboard": "portal:dashboard",
    "services": "accounts:services",
    "contacts": "accounts:contacts",
    "profile": "accounts:profile",
    "activity": "accounts:activity",
    "invoices": "billing:invoices",
    "statement": "billing:statement",
    "correspondence": "correspondence:list",
    "write-to-us": "correspondence:write",
    "privacy-centre": "privacy:centre",
    "what-we-hold": "privacy:what_we_hold",
    "disclosures": "privacy:disclosures",
    "exports": "privacy:exports",
    "privacy-requests": "privacy:requests",
    "consents": "privacy:consents",
    "policies": "privacy:policies",
}


# The pages saved by `make screenshots` (all pages are checked).
SCREENSHOTS = {"login", "dashboard", "services", "contacts", "invoices", "invoice", "conversation", "privacy-centre"}


def _recent_pages(customer) -> dict[str, str]:
    """The customer pages added with usage billing, the abuse desk, storage access and
    collections, each with something on it: an abuse case about one of the customer's
    addresses, a letter of claim about their open invoice (dated after it fell due)."""
    import datetime as dt
    import json

    from django.utils import timezone

    from billing.collections.letters import send_letter
    from privacy.abuse import intake, parsers
    from privacy.storage.models import StorageGrant
    from tests.accounts.factories import StaffFactory
    from tests.privacy.abuse import samples

    metered = customer.services.filter(subscriptions__plan__usage_terms__isnull=False).distinct().first()
    address = metered.ip_assignments.order_by("pk").first().network.split("/")[0]
    sample = samples.PER_CATEGORY["connection"](ip=address, when=timezone.now().isoformat())
    report = intake.file_report(parsers.parse_xarf(json.dumps(sample)), now=timezone.now(), actor=System("tests"))
    invoice = Invoice.objects.filter(customer=customer).open().order_by("pk").first()
    letter = send_letter(
        customer, invoices=[invoice], actor=StaffFactory(), today=invoice.due_on + dt.timedelta(days=1)
    )
    grant = StorageGrant.objects.filter(service__customer=customer).order_by("pk").first()
    return {
        "usage": reverse("billing:service_usage", args=[metered.pk]),
        "abuse-reports": reverse("abuse:case_list"),
        "abuse-case": reverse("abuse:case_detail", args=[report.case_id]),
        "storage-access": reverse("storage_access:overview"),
        "storage-grant": reverse("storage_access:grant", args=[grant.pk]),
        "letters": reverse("billing:letters"),
        "letter-reply": reverse("billing:letter_reply", args=[letter.pk]),
        "dispute": reverse("billing:dispute_new", args=[invoice.pk]),
    }


def _overflow(page) -> int:
    """How many pixels the page is wider than the viewport (0 when it fits)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def _log_in(page, base: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label(re.compile(r"^Email( address)?:?$", re.I)).fill(OWNER_EMAIL)
    password = page.get_by_label(re.compile(r"^Password:?$", re.I))
    password.fill(DEMO_PASSWORD)
    password.press("Enter")
    expect(page).to_have_url(re.compile(re.escape(base) + "/$"))


def test_every_customer_page_fits_a_phone_and_a_laptop(live_server, migration_rows, browser):
    from accounts.models import User

    call_command("load_demo", stdout=io.StringIO())
    shots = os.environ.get("PORTAL_SCREENSHOTS")
    if not shots:  # the pictures show the demo as it is
        User.objects.filter(email=OWNER_EMAIL).update(full_name=UNBROKEN)
    owner = User.objects.get(email=OWNER_EMAIL)
    customer = owner.memberships.get().customer
    pages = {name: reverse(url_name) for name, url_name in PAGES.items()}
    service = customer.services.first()
    pages["service"] = reverse("accounts:service_detail", args=[service.pk])
    invoice = Invoice.objects.filter(customer=customer).exclude(status=Invoice.Status.DRAFT).first()
    if invoice is not None:
        pages["invoice"] = reverse("billing:invoice_detail", args=[invoice.pk])
    message = customer.messages.order_by("pk").first()
    if message is not None:
        pages["conversation"] = reverse("correspondence:detail", args=[message.pk])
    pages.update(_recent_pages(customer))

    too_wide = []
    for width in WIDTHS:
        context = browser.new_context(locale="en-GB", viewport={"width": width, "height": 800})
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{live_server.url}/accounts/login/")
        if _overflow(page) > 0:
            too_wide.append(("login", width, _overflow(page)))
        if shots:
            page.screenshot(path=str(Path(shots) / f"login-{width}.png"), full_page=True)
        _log_in(page, live_server.url)
        for name, path in pages.items():
            response = page.goto(f"{live_server.url}{path}")
            assert response is not None and response.status == 200, (name, response and response.status)
            if (extra := _overflow(page)) > 0:
                too_wide.append((name, width, extra))
            if shots and name in SCREENSHOTS:
                page.screenshot(path=str(Path(shots) / f"{name}-{width}.png"), full_page=True)
        context.close()
    assert too_wide == [], f"pages wider than the screen (page, viewport, extra px): {too_wide}"
