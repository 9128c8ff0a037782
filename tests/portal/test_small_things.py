"""The small things a new user trips on: the icon, error pages and logs, public pages for
everyone, the provider's name on the staff side."""

from __future__ import annotations

import logging

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from accounts import roles
from tests.accounts.factories import MembershipFactory, StaffFactory, UserFactory, enable_totp

pytestmark = pytest.mark.django_db


def _logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_every_page_has_an_icon_and_the_browsers_favicon_request_finds_it(client, provider):
    page = client.get(reverse("account_login")).content.decode()
    assert 'rel="icon"' in page and "favicon.svg" in page
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("portal/favicon.svg")


def test_a_404_with_debug_on_shows_the_portals_page_unless_a_developer_asks(client, provider, settings):
    settings.DEBUG = True
    response = client.get("/no-such-page/")
    page = response.content.decode()
    assert response.status_code == 404 and "Page not found" in page
    assert "URLconf" not in page and "admin/" not in page  # no list of URL patterns

    settings.PORTAL_DEBUG_TECHNICAL_404 = True
    assert "URLconf" in client.get("/no-such-page/").content.decode()


def test_a_refusal_is_logged_in_one_line_without_a_traceback(provider, customer, caplog):
    technical = MembershipFactory(customer=customer, role=roles.Role.TECHNICAL).user
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = _logged_in(technical).get(reverse("billing:invoices"))
    assert response.status_code == 403
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.getMessage().startswith("Forbidden")
    # The handler formats what the filter left: no traceback.
    handler = logging.getLogger().handlers[0]
    assert "Traceback" not in handler.format(record)


def test_an_accountant_reads_the_privacy_policy_and_the_public_forms(provider):
    accountant = UserFactory()
    accountant.groups.add(Group.objects.get(name=roles.ACCOUNTANT_GROUP))
    enable_totp(accountant)
    client = _logged_in(accountant)
    for name in ("privacy:policies", "privacy:public_request", "privacy:agent_request"):
        assert client.get(reverse(name)).status_code == 200, name
    # …and is still kept out of the customers' pages.
    assert client.get(reverse("accounts:services"))["Location"] == reverse("accounting:home")


def test_the_staff_side_carries_the_providers_name(provider):
    staff = StaffFactory(is_superuser=True)
    enable_totp(staff)
    page = _logged_in(staff).get(reverse("admin:index")).content.decode()
    assert "Example Hosting Ltd · staff" in page and "Django site admin" not in page
    assert "favicon.svg" in page
