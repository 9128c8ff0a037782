"""Every page works under the Content-Security-Policy: a customer's pages, a stored
email, the privacy centre and the staff admin, in Chromium, with any violation the
browser reports failing the test."""

from __future__ import annotations

import io
import re
import time

import pytest
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.core.management import call_command

from accounts.correspondence.models import Message
from billing.models import Invoice
from portal.management.commands.load_demo import DEMO_PASSWORD, DEMO_TOTP_SECRET, STAFF_EMAIL

pytestmark = pytest.mark.e2e

OWNER_EMAIL = "alice@blackthorn-analytics.example"


def _log_in(page, base: str, email: str, totp: str | None = None) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label(re.compile(r"^Email( address)?:?$", re.I)).fill(email)
    password = page.get_by_label(re.compile(r"^Password:?$", re.I))
    password.fill(DEMO_PASSWORD)
    password.press("Enter")
    if totp:
        page.wait_for_url(re.compile(r".*/2fa/authenticate/.*"))
        code = page.get_by_label(re.compile(r"code", re.I))
        code.fill(format_hotp_value(hotp_value(totp, int(time.time()) // 30)))
        code.press("Enter")
    page.wait_for_load_state()


def test_pages_work_under_the_content_security_policy(live_server, migration_rows, page):
    call_command("load_demo", stdout=io.StringIO())
    violations: list[str] = []
    page.on(
        "console",
        lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None,
    )
    base = live_server.url

    response = page.goto(f"{base}/accounts/login/")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]

    _log_in(page, base, OWNER_EMAIL)
    invoice = Invoice.objects.filter(customer__memberships__user__email=OWNER_EMAIL).exclude(number=None).first()
    message = Message.objects.filter(customer__memberships__user__email=OWNER_EMAIL).first()
    for path in ("/", "/billing/invoices/", f"/billing/invoices/{invoice.pk}/", "/correspondence/",
                 f"/correspondence/{message.pk}/", "/privacy/", "/privacy/exports/"):  # fmt: skip
        assert page.goto(base + path).status == 200, path

    page.context.clear_cookies()
    _log_in(page, base, STAFF_EMAIL, DEMO_TOTP_SECRET)
    for path in ("/admin/", "/admin/accounts/customer/", f"/admin/accounts/customer/{invoice.customer_id}/change/",
                 "/admin/billing/invoice/", f"/admin/billing/invoice/{invoice.pk}/change/",
                 f"/admin/accounts/message/{message.pk}/change/"):  # fmt: skip
        assert page.goto(base + path).status == 200, path
    assert violations == []

    # And the policy bites: a script injected into a page does not run, and is reported.
    page.evaluate(
        "document.body.append(Object.assign(document.createElement('script'), {textContent: 'window.ran = 1'}))"
    )
    assert page.evaluate("window.ran") is None
    page.wait_for_timeout(200)
    assert any("script-src" in violation for violation in violations)
