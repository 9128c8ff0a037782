"""Customer pages kept once rendered: served again while nothing they show has changed,
rendered afresh as soon as anything has, whoever or whatever changed it."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.contrib.messages import constants, get_messages
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import roles
from accounts.audit import System
from accounts.correspondence import inbound
from accounts.models import Membership, ProviderDetails, Service
from billing.models import Invoice
from core import pagecache
from tests.accounts.factories import CustomerFactory, MembershipFactory, ServiceFactory
from tests.billing.factories import issued_invoice

pytestmark = pytest.mark.django_db

KEPT = "portal/kept_page.html"
SERVICES = reverse("accounts:services")
INVOICES = reverse("billing:invoices")


def _commit() -> None:
    """What committing the test's transaction would do for kept pages (pytest-django's
    tests run in a transaction that never commits): replace the tokens it changed."""
    for _sids, hook, _robust in list(connections[DEFAULT_DB_ALIAS].run_on_commit):
        if getattr(hook, "__qualname__", "") == "_Pending.flush":
            hook()


def _kept(response) -> bool:
    return KEPT in [template.name for template in response.templates]


def _main(response) -> str:
    html = response.content.decode()
    main = html[html.index("<main") : html.index("</main>")]
    return " ".join(re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", main).split())


@pytest.fixture
def owner(customer, provider):
    person = MembershipFactory(customer=customer, role=roles.Role.OWNER).user
    ServiceFactory(customer=customer, name="web-1")
    _commit()
    return person


@pytest.fixture
def client_of(owner):
    client = Client()
    client.force_login(owner)
    _commit()
    return client


def test_second_view_is_the_kept_page_and_reads_the_same(client_of):
    first = client_of.get(SERVICES)
    second = client_of.get(SERVICES)

    assert first.status_code == second.status_code == 200
    assert not _kept(first) and _kept(second)
    assert _main(second) == _main(first)
    assert "<title>" in second.content.decode() and "web-1" in second.content.decode()


def _save(customer) -> None:
    ServiceFactory(customer=customer, name="changed-here")


def _bulk_update(customer) -> None:
    Service.objects.filter(customer=customer).update(name="changed-here")


def _raw_sql(customer) -> None:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        table = Service._meta.db_table
        cursor.execute(f"UPDATE {table} SET name = %s WHERE customer_id = %s", ["changed-here", customer.pk])  # noqa: S608


@pytest.mark.parametrize("change", [_save, _bulk_update, _raw_sql], ids=["saved", "bulk update", "raw SQL"])
def test_a_change_shows_at_once_however_it_was_written(client_of, customer, change):
    client_of.get(SERVICES)
    assert _kept(client_of.get(SERVICES))
    change(customer)
    _commit()

    response = client_of.get(SERVICES)

    assert not _kept(response)
    assert "changed-here" in response.content.decode()


def test_another_customers_change_leaves_the_page_kept(client_of):
    client_of.get(SERVICES)
    ServiceFactory(customer=CustomerFactory(), name="someone-else")
    _commit()

    response = client_of.get(SERVICES)

    assert _kept(response)
    assert "someone-else" not in response.content.decode()


def test_an_attributed_bulk_write_replaces_only_that_customers_pages(client_of, customer):
    other = CustomerFactory()
    ServiceFactory(customer=other)
    _commit()
    client_of.get(SERVICES)

    with pagecache.writes_for(customers=[other.pk]):
        Service.objects.filter(customer=other).update(name="theirs")
    _commit()
    assert _kept(client_of.get(SERVICES))

    with pagecache.writes_for(customers=[customer.pk]):
        Service.objects.filter(customer=customer).update(name="ours")
    _commit()
    response = client_of.get(SERVICES)
    assert not _kept(response) and "ours" in response.content.decode()


def test_a_site_wide_change_shows_on_every_page(client_of, provider):
    client_of.get(SERVICES)
    provider.trading_name = "Renamed Hosting"
    provider.save()
    ProviderDetails.forget_cached()
    _commit()

    response = client_of.get(SERVICES)

    assert not _kept(response)
    assert "Renamed Hosting" in response.content.decode()


def test_nothing_is_kept_from_a_transaction_not_yet_committed(client_of, customer):
    client_of.get(SERVICES)
    with transaction.atomic():
        ServiceFactory(customer=customer, name="maybe")
        inside = client_of.get(SERVICES)  # the same connection sees the uncommitted row
        assert not _kept(inside) and "maybe" in inside.content.decode()
        transaction.set_rollback(True)
    _commit()

    after = client_of.get(SERVICES)

    assert "maybe" not in after.content.decode()


def test_a_page_rendered_before_a_commit_is_not_kept_under_the_new_tokens(client_of, customer, owner):
    slot = "pc:page:test"
    tokens, _ = pagecache.fetch(slot, customer=customer.pk, person=owner.pk)
    ServiceFactory(customer=customer, name="committed-meanwhile")
    _commit()
    pagecache.keep(slot, tokens, {"body": "rendered from the rows before"})

    assert pagecache.fetch(slot, customer=customer.pk, person=owner.pk)[1] is None


def test_a_lost_token_renders_afresh(client_of, customer):
    client_of.get(SERVICES)
    pagecache.store().delete(pagecache.customer_token(customer.pk))
    pagecache.store().set(pagecache.customer_token(customer.pk), "guessed", None)

    assert not _kept(client_of.get(SERVICES))


def test_each_person_and_role_has_their_own_page(client_of, customer):
    client_of.get(INVOICES)
    technical = MembershipFactory(customer=customer, role=roles.Role.TECHNICAL).user
    _commit()
    other = Client()
    other.force_login(technical)

    response = other.get(INVOICES)

    assert response.status_code == 403
    assert not _kept(response)


def test_a_new_role_is_shown_at_once(client_of, customer, owner):
    issued_invoice(customer, [("Hosting", 1, "10.00")])
    billing = MembershipFactory(customer=customer, role=roles.Role.BILLING)
    client = Client()
    client.force_login(billing.user)
    _commit()
    assert client.get(INVOICES).status_code == 200
    assert _kept(client.get(INVOICES))

    Membership.objects.filter(pk=billing.pk).update(role=roles.Role.TECHNICAL)
    _commit()

    assert client.get(INVOICES).status_code == 403


def test_the_kept_page_has_the_requesters_own_csrf_token(client_of, owner, customer):
    MembershipFactory(customer=customer, role=roles.Role.TECHNICAL, user__email="tech@example.com")
    _commit()
    contacts = reverse("accounts:contacts")
    again = Client(enforce_csrf_checks=True)
    again.force_login(owner)  # another browser: another CSRF secret
    _commit()
    client_of.get(contacts)  # kept from the first browser's rendering

    page = again.get(contacts)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    answer = again.post(reverse("accounts:invite_contact"), {"csrfmiddlewaretoken": token, "email": "x@example.com"})

    assert _kept(page)
    assert "\x00" not in page.content.decode()
    assert answer.status_code != 403


def test_messages_are_shown_on_a_kept_page(client_of):
    client_of.get(SERVICES)
    session_page = client_of.get(SERVICES)
    assert _kept(session_page)
    response = client_of.get(SERVICES)
    storage = get_messages(response.wsgi_request)
    storage.add(constants.SUCCESS, "Saved just now")
    storage.update(response)
    client_of.cookies.update(response.cookies)

    shown = client_of.get(SERVICES)

    assert _kept(shown)
    assert "Saved just now" in shown.content.decode()


def test_the_next_day_renders_afresh(client_of):
    client_of.get(SERVICES)
    assert _kept(client_of.get(SERVICES))

    with time_machine.travel(timezone.now() + dt.timedelta(days=1)):
        assert not _kept(client_of.get(SERVICES))


def test_another_customers_invoice_is_not_found_whatever_is_kept(client_of, customer):
    mine = issued_invoice(customer, [("Hosting", 1, "10.00")])
    theirs = issued_invoice(CustomerFactory(), [("Hosting", 1, "10.00")])
    _commit()
    assert client_of.get(reverse("billing:invoice_detail", args=[mine.pk])).status_code == 200

    assert client_of.get(reverse("billing:invoice_detail", args=[theirs.pk])).status_code == 404
    assert client_of.get(reverse("billing:invoice_detail", args=[theirs.pk])).status_code == 404


def test_a_payment_shows_on_the_invoice_list_at_once(client_of, customer):
    from billing.models import Payment
    from billing.workflows.settlement import receive_payment

    issued_invoice(customer, [("Hosting", 1, "10.00")])
    _commit()
    client_of.get(INVOICES)
    kept = client_of.get(INVOICES)
    assert _kept(kept) and "£12.00" in kept.content.decode()

    receive_payment(
        customer,
        amount="12.00",
        received_on=timezone.localdate(),
        method=Payment.Method.BANK_TRANSFER,
        actor=System("t"),
    )
    _commit()
    response = client_of.get(INVOICES)

    assert not _kept(response)
    assert _main(response) != _main(kept)
    assert Invoice.objects.filter(customer=customer, status=Invoice.Status.PAID).exists()


def test_a_new_message_shows_in_correspondence_at_once(client_of, customer, owner):
    page = reverse("correspondence:list")
    client_of.get(page)
    assert _kept(client_of.get(page))

    inbound.receive(f"From: {owner.email}\r\nSubject: Fresh subject\r\n\r\nHello".encode())
    _commit()

    response = client_of.get(page)
    assert not _kept(response) and "Fresh subject" in response.content.decode()


def test_turned_off_every_page_is_rendered(client_of, settings):
    settings.PORTAL_PAGE_CACHE = False
    client_of.get(SERVICES)

    assert not _kept(client_of.get(SERVICES))


def test_a_delete_shows_at_once(client_of, customer):
    doomed = ServiceFactory(customer=customer, name="to-be-deleted")
    _commit()
    client_of.get(SERVICES)
    assert _kept(client_of.get(SERVICES))

    doomed.delete()
    _commit()

    assert "to-be-deleted" not in client_of.get(SERVICES).content.decode()


def test_imported_usage_replaces_only_its_customers_pages(client_of, customer):
    import io

    from billing.usage.ingest import ingest

    theirs, ours = ServiceFactory(customer=CustomerFactory()), Service.objects.get(customer=customer)
    _commit()
    dashboard = reverse("portal:dashboard")
    client_of.get(dashboard)

    ingest(
        io.StringIO(f"service,interval_start,bytes_in,bytes_out\n{theirs.pk},2026-11-01T00:00:00Z,1,2\n"),
        actor=System("t"),
    )
    _commit()
    assert _kept(client_of.get(dashboard))

    ingest(
        io.StringIO(f"service,interval_start,bytes_in,bytes_out\n{ours.pk},2026-11-01T00:00:00Z,1,2\n"),
        actor=System("t"),
    )
    _commit()
    assert not _kept(client_of.get(dashboard))


def test_every_kept_page_of_a_long_history_answers_in_the_bare_views_queries(provider, settings):
    """A kept page costs what the bare view costs (session, login, membership, switcher)
    plus nothing that grows: the page itself is one read of the cache."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests import large_customer
    from tests.portal.test_large_customer import page_urls

    built = large_customer.build(scale=0.05)
    client = Client()
    client.force_login(built.owner)
    _commit()
    settings.PORTAL_BENCH_BARE_VIEW = True
    client.get(reverse("portal:bench_bare"))
    with CaptureQueriesContext(connection) as bare:
        assert client.get(reverse("portal:bench_bare")).status_code == 200
    for name, url in page_urls(built).items():
        client.get(url)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert _kept(response), name
        assert len(queries) <= len(bare), (name, [q["sql"] for q in queries])


def test_changes_inside_a_batch_replace_their_tokens_once_when_it_ends(client_of, customer, monkeypatch):
    client_of.get(SERVICES)
    cache = pagecache.store()
    writes = []
    set_many = cache.set_many
    monkeypatch.setattr(
        cache, "set_many", lambda data, *args, **kwargs: writes.append(set(data)) or set_many(data, *args, **kwargs)
    )

    with pagecache.writes_for(customers=[customer.pk]):
        ServiceFactory(customer=customer, name="batch-one")
        _commit()  # the first document's transaction commits
        ServiceFactory(customer=customer, name="batch-two")
        _commit()
        # Nothing written to the cache meanwhile: the batch's pages show it when it ends.
        assert writes == []
        assert _kept(client_of.get(SERVICES))
    _commit()

    assert writes == [{pagecache.customer_token(customer.pk)}]
    response = client_of.get(SERVICES)
    assert not _kept(response)
    assert "batch-one" in response.content.decode() and "batch-two" in response.content.decode()
