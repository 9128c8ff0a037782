"""Every customer page at a customer with ten years of history (tests/large_customer.py:
500 documents, 5,004 messages, 50 services, 25 contacts) costs what it costs at a small
one: the same queries, and a bounded page (lists are paginated, the statement is bounded).

Speed itself is measured by bench/pages.py, never here; these pins keep the shape that
makes it fast.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.correspondence.models import Message
from billing.models import Invoice
from tests import large_customer

# Most queries any page may make (session, user, membership and switcher included).
PINS = {
    "portal:dashboard": 10,
    "billing:invoices": 9,
    "billing:statement": 8,
    "billing:invoice_detail": 14,
    "correspondence:list": 7,
    "correspondence:detail": 8,  # the conversation's status and its form
    "privacy:centre": 7,
    "privacy:what_we_hold": 6,
    "privacy:disclosures": 6,
    "privacy:exports": 6,
    "privacy:requests": 6,
    "accounts:contacts": 8,
    "accounts:services": 7,
    "accounts:profile": 4,
}
# The largest HTML any of these pages may send at the large customer.
MAX_PAGE_BYTES = 64 * 1024


def page_urls(built) -> dict[str, str]:
    customer = built.customer
    invoice = Invoice.objects.filter(customer=customer).order_by("-issued_on").first()
    thread = Message.objects.filter(customer=customer, thread__isnull=True).order_by("-created_at").first()
    urls = {name: reverse(name) for name in PINS if name not in ("billing:invoice_detail", "correspondence:detail")}
    urls["billing:invoice_detail"] = reverse("billing:invoice_detail", args=[invoice.pk])
    urls["correspondence:detail"] = reverse("correspondence:detail", args=[thread.pk])
    return urls


def _measure(built) -> dict[str, tuple[int, int]]:
    client = Client()
    client.force_login(built.owner)
    found = {}
    for name, url in page_urls(built).items():
        client.get(url)  # the session and caches warm, as for a person clicking around
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200, (name, response.status_code)
        found[name] = (len(queries), len(response.content))
    return found


@pytest.mark.django_db
def test_every_page_costs_the_same_at_ten_years_of_history(provider):
    small = _measure(large_customer.build(scale=0.02))
    built = large_customer.build()
    large = _measure(built)

    over_pin = {name: queries for name, (queries, _) in large.items() if queries > PINS[name]}
    grew = {name: (small[name][0], queries) for name, (queries, _) in large.items() if queries != small[name][0]}
    too_big = {name: size for name, (_, size) in large.items() if size > MAX_PAGE_BYTES}
    assert not over_pin, f"more queries than pinned: {over_pin}"
    assert not grew, f"queries grew with the history (small, large): {grew}"
    assert not too_big, f"pages larger than {MAX_PAGE_BYTES} bytes: {too_big}"

    # The lists show a page and say how many there are; the statement says what it shows.
    client = Client()
    client.force_login(built.owner)
    invoices = client.get(reverse("billing:invoices")).content.decode()
    assert invoices.count("/pdf/") == 25
    assert f"1–25 of {built.documents} documents" in invoices
    conversations = client.get(reverse("correspondence:list")).content.decode()
    assert f"1–25 of {built.messages // 4} conversations" in conversations
    disclosures = client.get(reverse("privacy:disclosures")).content.decode()
    assert f"1–50 of {large_customer.DISCLOSURES} disclosures" in disclosures
    statement = client.get(reverse("billing:statement")).content.decode()
    assert "Showing the current financial year" in statement
    services = client.get(reverse("accounts:services")).content.decode()
    assert f"1–25 of {built.services} services" in services
    contacts = client.get(reverse("accounts:contacts")).content.decode()
    assert f"{built.contacts} contacts" in contacts
    dashboard = client.get(reverse("portal:dashboard")).content.decode()
    assert f"1–10 of {built.services} current services" in dashboard
    assert f"1–10 of {built.contacts} contacts" in dashboard


def test_the_benchmarks_bare_view_is_off_unless_turned_on(settings, owner_client):
    url = reverse("portal:bench_bare")
    assert owner_client.get(url).status_code == 404
    settings.PORTAL_BENCH_BARE_VIEW = True
    response = owner_client.get(url)
    assert response.status_code == 200 and response.content == b"ok"
    assert Client().get(url)["Location"].startswith(reverse("account_login"))
