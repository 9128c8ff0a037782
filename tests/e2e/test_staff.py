"""Staff in a real browser: they log in with two-factor, work from the home page's queues,
find a customer and act from the customer overview, and open an issued invoice's PDF and a
message's attachment from the admin."""

from __future__ import annotations

import re
import time

import pytest
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from accounts import roles
from accounts.correspondence import inbound
from accounts.correspondence.models import Conversation
from accounts.models import IPAssignment, Service
from billing.models import Invoice
from tests.accounts.factories import PASSWORD, CustomerFactory, MembershipFactory, StaffFactory, enable_totp
from tests.billing.factories import configured_provider, issued_invoice

pytestmark = pytest.mark.e2e

ATTACHED = b"Apr  3 10:14:01 web-01 sshd[811]: Failed password for root\n"
QUESTION = (
    b"From: owner@acme.example\r\nTo: support@hosting.example\r\nSubject: Server down?\r\n"
    b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n'
    b"--b1\r\nContent-Type: text/plain\r\n\r\nweb-01 does not answer; the log is attached.\r\n"
    b'--b1\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename="auth.log"\r\n\r\n'
    + ATTACHED
    + b"\r\n--b1--\r\n"
)


def _code(secret: str) -> str:
    period = mfa_settings.TOTP_PERIOD
    if period - time.time() % period < 2:
        time.sleep(2.1)  # not a code that expires before the form is sent
    return format_hotp_value(hotp_value(secret, int(time.time()) // period))


def _staff(*groups: str):
    person = StaffFactory(email=f"{'-'.join(g.split()[0].lower() for g in groups)}@staff.example")
    for group in groups:
        person.groups.add(Group.objects.get(name=group))
    return person, enable_totp(person)


def _log_in(page, base: str, person, secret: str) -> None:
    page.goto(f"{base}/admin/")
    page.get_by_label(re.compile(r"^Email( address)?:?$", re.I)).fill(person.email)
    password = page.get_by_label(re.compile(r"^Password:?$", re.I))
    password.fill(PASSWORD)
    password.press("Enter")
    code = page.get_by_label(re.compile(r"code", re.I))
    code.fill(_code(secret))
    code.press("Enter")
    expect(page).to_have_url(re.compile(re.escape(base) + "/admin/$"))


@pytest.fixture
def acme(migration_rows):
    configured_provider()
    customer = CustomerFactory(registered_name="Acme Widgets Ltd")
    MembershipFactory(customer=customer, role=roles.Role.OWNER, user__email="owner@acme.example")
    service = Service.objects.create(customer=customer, name="web-01", kind="vps", platform="virtual")
    IPAssignment(service=service, network="192.0.2.8/29").save()
    return customer


def test_support_works_from_the_home_page_and_the_customer_overview(live_server, acme, page):
    question = inbound.receive(QUESTION)
    person, secret = _staff(roles.SUPPORT_GROUP)
    _log_in(page, live_server.url, person, secret)

    # The home page: support's queue, the customer's question in it, a click away.
    expect(page.get_by_role("heading", name="What needs attention now")).to_be_visible()
    queue = page.locator(".queue", has=page.get_by_role("link", name="Customers waiting for an answer"))
    expect(queue).to_contain_text("Acme Widgets Ltd: Server down?")
    expect(page.get_by_text("Overdue invoices")).to_have_count(0)  # billing's work, not support's
    queue.get_by_role("link", name="Acme Widgets Ltd: Server down?").click()
    conversation = Conversation.objects.get(root=question)
    expect(page).to_have_url(re.compile(rf"/admin/accounts/conversation/{conversation.pk}/change/$"))
    expect(page.locator("#content")).to_contain_text("Server down?")

    # Find the customer from the home page: one match opens their overview.
    page.goto(f"{live_server.url}/admin/")
    page.get_by_label("Find a customer").fill("owner@acme.example")
    page.get_by_role("button", name="Open").click()
    expect(page).to_have_url(re.compile(rf"/admin/accounts/customer/{acme.pk}/overview/$"))
    expect(page.locator("#content")).to_contain_text("Customer overview")
    for heading in ("Details", "Contacts and roles", "Services and IP addresses", "Correspondence", "Audit trail"):
        expect(page.get_by_role("heading", name=re.compile(rf"^{heading}"))).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("^Legal holds"))).to_have_count(0)  # not support's to see
    expect(page.get_by_role("heading", name=re.compile("^Balance"))).to_have_count(0)
    services = page.locator("#services")
    expect(services).to_contain_text("192.0.2.8/29")

    # Suspend the service from the overview: the action's own page asks why first.
    services.get_by_role("button", name="Suspend…").click()
    page.get_by_label("Reason").fill("Sending spam from 192.0.2.9")
    page.get_by_role("button", name="Suspend").click()
    expect(page.locator(".messagelist")).to_contain_text(re.compile("web-01: suspended;", re.I))
    page.goto(f"{live_server.url}/admin/accounts/customer/{acme.pk}/overview/")
    expect(page.locator("#services")).to_contain_text("Suspended")
    expect(page.locator("#services").get_by_role("button", name="Restore…")).to_be_visible()

    # Reply to the customer's message from the overview.
    page.locator("#correspondence").get_by_role("link", name="Reply").click()
    page.get_by_label("Your reply").fill("We have restarted web-01.")
    page.get_by_role("button", name="Send reply").click()
    expect(page.locator(".messagelist")).to_contain_text("Reply queued to owner@acme.example")

    # The change page leads back to the overview.
    page.goto(f"{live_server.url}/admin/accounts/customer/{acme.pk}/change/")
    page.get_by_role("link", name="Customer overview").click()
    expect(page).to_have_url(re.compile(rf"/admin/accounts/customer/{acme.pk}/overview/$"))


@pytest.mark.parametrize("width", [360, 1280])
def test_the_customer_overview_fits_the_screen(live_server, acme, browser, width):
    issued_invoice(acme)
    inbound.receive(QUESTION)
    person, secret = _staff(roles.BILLING_GROUP, roles.SUPPORT_GROUP)
    context = browser.new_context(locale="en-GB", viewport={"width": width, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    _log_in(page, live_server.url, person, secret)
    page.goto(f"{live_server.url}/admin/accounts/customer/{acme.pk}/overview/")
    expect(page.locator("#documents")).to_contain_text("Invoices, credit notes and payment requests")
    # No section is wider than the content area; a wide table scrolls inside its own box.
    too_wide = page.evaluate(
        """() => [...document.querySelectorAll('.overview-section')]
             .filter(s => s.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
             .map(s => s.id)"""
    )
    assert too_wide == []
    context.close()


def test_billing_opens_an_issued_pdf_and_a_message_attachment_from_the_admin(live_server, acme, page):
    invoice = issued_invoice(acme)
    invoice.refresh_from_db()
    assert invoice.pdf, "issuing renders the PDF once the transaction commits"
    question = inbound.receive(QUESTION)
    person, secret = _staff(roles.BILLING_GROUP)
    _log_in(page, live_server.url, person, secret)

    page.goto(f"{live_server.url}/admin/accounts/customer/{acme.pk}/overview/")
    page.locator("#documents").get_by_role("link", name=invoice.number).click()
    expect(page.locator("h1")).to_have_text("View invoice")
    link = page.get_by_role("link", name=re.compile(rf"^Open .*{re.escape(invoice.number)}.*\.pdf$"))
    pdf = page.request.get(f"{live_server.url}{link.get_attribute('href')}")
    assert pdf.status == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"].startswith("inline")
    assert pdf.body().startswith(b"%PDF-")

    page.goto(f"{live_server.url}/admin/accounts/message/{question.pk}/change/")
    with page.expect_download() as download:
        page.get_by_role("link", name="auth.log").click()
    assert download.value.suggested_filename == "auth.log"
    with open(download.value.path(), "rb") as saved:
        assert saved.read().strip() == ATTACHED.strip()
    served = page.request.get(f"{live_server.url}{page.get_by_role('link', name='auth.log').get_attribute('href')}")
    assert served.headers["content-type"].startswith("text/plain")
    assert served.headers["content-disposition"].startswith("attachment")

    # Both openings are in the audit trail, as the customer's History shows.
    page.goto(f"{live_server.url}/admin/accounts/customer/{acme.pk}/overview/")
    expect(page.locator("#audit")).to_contain_text("auth.log")
    assert Invoice.objects.get(pk=invoice.pk).pdf_sha256


def test_the_privacy_request_list_fits_a_laptop(live_server, acme, browser):
    from django.utils import timezone

    from privacy.models import DataSubjectRequest

    DataSubjectRequest.objects.create(
        kind=DataSubjectRequest.Kind.ERASURE, channel=DataSubjectRequest.Channel.STAFF, customer=acme,
        status=DataSubjectRequest.Status.OPEN, received_at=timezone.now(), due_on=timezone.localdate(),
    )  # fmt: skip
    person, secret = _staff(roles.PRIVACY_GROUP)
    context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 800})
    page = context.new_page()
    _log_in(page, live_server.url, person, secret)
    page.goto(f"{live_server.url}/admin/privacy/datasubjectrequest/")
    table = page.locator("#result_list")
    expect(table).to_contain_text("Acme Widgets Ltd")
    expect(table.locator("thead")).to_contain_text("Days left")
    # The whole table is on the screen, the filters beside it: nothing to scroll sideways for.
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    box = table.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 1280
    context.close()
