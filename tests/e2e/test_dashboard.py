"""A demo customer logs in with a real browser and sees their dashboard."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from accounts.models import Customer
from portal.management.commands.load_demo import DEMO_PASSWORD

pytestmark = pytest.mark.e2e

OWNER_EMAIL = "alice@blackthorn-analytics.example"


def test_demo_owner_logs_in_and_sees_their_services(live_server, migration_rows, page):
    call_command("load_demo", stdout=io.StringIO())
    customer = Customer.objects.get(memberships__user__email=OWNER_EMAIL)
    services = list(customer.services.values_list("name", flat=True))
    others = list(
        Customer.objects.exclude(pk=customer.pk).filter(services__isnull=False).values_list("services__name", flat=True)
    )
    assert services and others

    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label(re.compile(r"^Email( address)?:?$", re.I)).fill(OWNER_EMAIL)
    password = page.get_by_label(re.compile(r"^Password:?$", re.I))
    password.fill(DEMO_PASSWORD)
    password.press("Enter")

    expect(page).to_have_url(re.compile(re.escape(live_server.url) + "/$"))
    main = page.locator("main")
    expect(main).to_contain_text(customer.display_name)
    for name in services:
        expect(main).to_contain_text(name)
    for name in others:
        expect(main).not_to_contain_text(name)
