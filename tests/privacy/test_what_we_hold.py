"""What we hold about you: every declaration, live counts of the customer's own rows."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts import roles
from accounts.audit import System
from accounts.correspondence import gateway
from accounts.correspondence.models import MailKind
from accounts.models import IPAssignment, Service
from core.registry import Category
from privacy.models import ConsentRecord, DisclosureEntry
from privacy.services import what_we_hold
from privacy.services.ledger import record_disclosure
from tests.accounts.factories import IPAssignmentFactory, MembershipFactory, ServiceFactory

pytestmark = pytest.mark.django_db

URL = reverse("privacy:what_we_hold")


def _counts(response) -> dict[str, int]:
    return {label: int(count) for label, count in re.findall(r'data-model="([^"]+)">(\d+)<', response.content.decode())}


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _populate(customer, *, services: int, ips_per_service: int, messages: int, tag: str) -> None:
    for s in range(services):
        service = ServiceFactory(customer=customer, name=f"{tag}-{s}")
        for _ in range(ips_per_service):
            IPAssignmentFactory(service=service)
    for m in range(messages):
        gateway.send_mail(
            kind=MailKind.SERVICE,
            template="staff_reply",
            customer=customer,
            context={"subject": f"{tag} {m}", "body": "Hello."},
            idempotency_key=f"{tag}-{m}",
        )


def test_the_page_counts_the_customers_own_rows_live(owner_client, customer, owner, other_customer_client):
    MembershipFactory(customer=customer, role=roles.Role.TECHNICAL)
    _populate(customer, services=3, ips_per_service=2, messages=4, tag="mine")
    stranger = MembershipFactory(role=roles.Role.OWNER).customer
    _populate(stranger, services=5, ips_per_service=1, messages=7, tag="theirs")

    counts = _counts(owner_client.get(URL))
    assert counts["accounts.Customer"] == 1
    # Each contact's login and addresses are their own: the owner sees theirs, "about you
    # personally"; for the other contact, only their membership (which names them).
    assert counts["accounts.User"] == 1
    assert counts["accounts.Membership"] == 2
    assert counts["account.EmailAddress"] == 1
    assert counts["accounts.Service"] == 3
    assert counts["accounts.IPAssignment"] == 6
    assert counts["accounts.Message"] == 4
    assert set(counts) >= {d.model for _, d in what_we_hold.declarations_for(customer=True)}

    ServiceFactory(customer=customer)
    assert _counts(owner_client.get(URL))["accounts.Service"] == 4


def test_the_page_explains_each_declaration_in_plain_words(owner_client):
    page = owner_client.get(URL).content.decode()
    for _model, declaration in what_we_hold.declarations_for(customer=True):
        assert declaration.description in page
        assert declaration.retention.description.replace("'", "&#x27;") in page
        assert what_we_hold.basis_label(declaration) in page
    assert Category.CORRESPONDENCE.description in page
    assert "Kept even if you ask us to erase your data" in page
    assert "Deleted if you ask us to erase your data." in page
    assert "we remove the email address, full name, is active, password and deactivated at" in page.replace("\n", " ")


def test_withheld_disclosures_are_not_counted(owner_client, customer):
    record_disclosure(
        recipient_kind="authority",
        recipient="A police force",
        purpose="Investigation",
        legal_basis="Investigatory Powers Act 2016 s.61",
        categories=[Category.NETWORK],
        customers=[customer],
        withheld=True,
        withheld_reason="IPA 2016 s.82",
        actor=System("tests"),
    )
    record_disclosure(
        recipient_kind="accountant",
        recipient="Accountants",
        purpose="Accounts",
        legal_basis="legal_obligation",
        categories=[Category.FINANCIAL],
        customers=[customer],
        actor=System("tests"),
    )
    assert DisclosureEntry.objects.for_customer(customer).count() == 2
    assert _counts(owner_client.get(URL))["privacy.DisclosureEntry"] == 1


def test_a_contact_who_is_not_an_owner_sees_what_we_hold_about_them_not_the_customers_counts(customer, provider):
    technical = MembershipFactory(customer=customer, role=roles.Role.TECHNICAL).user
    ConsentRecord.objects.create(person=technical, purpose="analytics", wording="Allow", method="banner")
    response = _client_for(technical).get(URL)
    assert response.status_code == 200
    counts = _counts(response)
    assert counts["privacy.ConsentRecord"] == 1 and counts["accounts.User"] == 1
    # Customer-wide records (invoices, payments, services) are the owners' to see.
    assert not {"billing.Invoice", "billing.Payment", "accounts.Service"} & set(counts)
    assert reverse("privacy:exports").encode() in response.content  # they may export their own data


def test_anonymous_visitors_are_sent_to_log_in(db):
    response = Client().get(URL)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_every_declaration_is_counted_in_one_query_however_much_data(owner_client, customer):
    declarations = len(what_we_hold.declarations_for(customer=True)) + len(
        [d for _, d in what_we_hold.declarations_for(person=True) if d.customer_path is None]
    )
    owner_client.get(URL)  # warm the session
    with CaptureQueriesContext(connection) as empty:
        owner_client.get(URL)
    counting = [q["sql"] for q in empty.captured_queries if "COUNT(*)" in q["sql"]]
    # The customer's part and the person's own part: one query each, whatever the registry holds.
    assert len(counting) == 2
    assert sum(sql.count("COUNT(*)") for sql in counting) == declarations
    # Besides the counts: session, user, accountant check, membership, the switcher, the footer.
    assert len(empty.captured_queries) <= 2 + 6
    _populate(customer, services=6, ips_per_service=3, messages=10, tag="more")
    for _ in range(3):
        MembershipFactory(customer=customer, role=roles.Role.BILLING)
    with CaptureQueriesContext(connection) as full:
        response = owner_client.get(URL)
    assert len(full.captured_queries) == len(empty.captured_queries)
    assert _counts(response)["accounts.IPAssignment"] == 18


def test_count_rows_answers_like_count_in_one_query(customer, owner, django_assert_num_queries):
    _populate(customer, services=3, ips_per_service=2, messages=4, tag="count")
    querysets = [
        Service.objects.filter(customer=customer),
        Service.objects.none(),
        Service.objects.filter(pk__in=[]),
        IPAssignment.objects.filter(service__customer=customer),
        Service.objects.filter(customer=customer, name__startswith="no such"),
    ]
    expected = [queryset.count() for queryset in querysets]
    with django_assert_num_queries(1):
        assert what_we_hold.count_rows(querysets) == expected
    assert expected[0] == 3 and expected[3] == 6
    with django_assert_num_queries(0):
        assert what_we_hold.count_rows([Service.objects.none()]) == [0]
