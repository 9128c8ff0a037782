from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap

import pytest
from django.db import connection, transaction

from billing.documents.numbering import next_number
from billing.models import NumberSeries

ISSUED = dt.date(2026, 11, 22)


@pytest.mark.django_db
def test_numbers_follow_the_series_format_one_after_another():
    with transaction.atomic():
        assert next_number("INV", issued_on=ISSUED) == "INV-2026-000001"
        assert next_number("INV", issued_on=ISSUED) == "INV-2026-000002"
        assert next_number("CN", issued_on=ISSUED) == "CN-2026-000001"


@pytest.mark.django_db
def test_a_rolled_back_issue_gives_its_number_back():
    with pytest.raises(RuntimeError), transaction.atomic():
        next_number("INV", issued_on=ISSUED)
        raise RuntimeError("issuing failed after taking a number")
    with transaction.atomic():
        assert next_number("INV", issued_on=ISSUED) == "INV-2026-000001"


@pytest.mark.django_db(transaction=True)
def test_numbers_are_only_taken_inside_a_transaction():
    with pytest.raises(RuntimeError, match="inside the transaction"):
        next_number("INV", issued_on=ISSUED)


@pytest.mark.django_db
def test_a_bad_format_is_refused_naming_the_problem():
    series = NumberSeries(code="INV", format="INV-{yr}-{number}")
    with pytest.raises(Exception, match="Not a usable format"):
        series.full_clean()


WORKER = textwrap.dedent(
    """
    import datetime as dt, os, sys
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django
    django.setup()
    from django.db import transaction
    from billing.documents.numbering import next_number
    taken = []
    for _ in range(int(sys.argv[1])):
        with transaction.atomic():
            taken.append(next_number("INV", issued_on=dt.date(2026, 11, 22)))
    print("\\n".join(taken))
    """
)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_processes_get_gap_free_unique_numbers():
    """Several processes issuing at once on PostgreSQL: no duplicate, no gap."""
    if connection.vendor != "postgresql":
        if os.environ.get("CI"):
            pytest.fail("CI runs on PostgreSQL; this test must run there")
        pytest.skip("needs PostgreSQL (DATABASE_URL=postgres://...)")
    NumberSeries.objects.create(code="INV")
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url}
    env.pop("CELERY_BROKER_URL", None)
    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER, "25"], stdout=subprocess.PIPE, env=env, text=True)
        for _ in range(4)
    ]
    numbers = []
    for worker in workers:
        out, _ = worker.communicate(timeout=120)
        assert worker.returncode == 0
        numbers += out.split()
    assert sorted(numbers) == [f"INV-2026-{n:06d}" for n in range(1, 101)]


ISSUER = textwrap.dedent(
    """
    import datetime as dt, os, sys
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django
    django.setup()
    from billing.models import Invoice
    from billing.issuing import issue_invoice
    from accounts.audit import System
    for pk in sys.argv[1:]:
        issue_invoice(Invoice.objects.get(pk=int(pk)), issued_on=dt.date(2026, 11, 22), actor=System("tests"))
    """
)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_issuing_through_the_service_numbers_every_document_once(tmp_path):
    """Four processes issuing drafts of the same customers at once, the series not yet
    created: issue_invoice's locks (customer, draft, series) give 40 numbers, no gap."""
    if connection.vendor != "postgresql":
        if os.environ.get("CI"):
            pytest.fail("CI runs on PostgreSQL; this test must run there")
        pytest.skip("needs PostgreSQL (DATABASE_URL=postgres://...)")
    from billing.issuing import add_line
    from billing.models import Invoice
    from tests.accounts.factories import CustomerFactory
    from tests.billing.factories import InvoiceFactory, configured_provider

    configured_provider()
    customers = [CustomerFactory() for _ in range(5)]
    drafts = []
    for n in range(40):
        draft = InvoiceFactory(customer=customers[n % 5])
        add_line(draft, description=f"Hosting {n}", quantity=1, unit_price="10.00")
        drafts.append(draft.pk)
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url, "PORTAL_VAR_DIR": str(tmp_path)}  # PDFs and outbox go there
    env.pop("CELERY_BROKER_URL", None)
    workers = [
        subprocess.Popen([sys.executable, "-c", ISSUER, *map(str, drafts[i::4])], env=env, stderr=subprocess.PIPE)
        for i in range(4)
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=180)
        assert worker.returncode == 0, err.decode()[-2000:]

    numbers = sorted(Invoice.objects.filter(pk__in=drafts).values_list("number", flat=True))
    assert numbers == [f"INV-2026-{n:06d}" for n in range(1, 41)]
    assert NumberSeries.objects.get(code="INV").next_number == 41


@pytest.mark.django_db
def test_a_format_without_the_number_is_refused():
    series = NumberSeries(code="INV", format="INV-{year}")
    with pytest.raises(Exception, match=r"Put \{number\} in the format"):
        series.full_clean()


@pytest.mark.django_db
def test_billing_staff_set_a_new_series_first_number_then_only_its_format(billing_staff_client):
    from django.urls import reverse

    from billing.models import NumberSeries as Series
    from tests.billing.factories import issued_invoice

    add = reverse("admin:billing_numberseries_add")
    created = billing_staff_client.post(add, {"code": "INV", "format": "{code}{year}/{number:05d}", "next_number": 501})
    assert created.status_code == 302
    series = Series.objects.get(code="INV")
    change = reverse("admin:billing_numberseries_change", args=[series.pk])
    form = {"format": "{code}{year}/{number:05d}", "next_number": 601}
    assert billing_staff_client.post(change, form).status_code == 302  # nothing issued yet: still correctable
    series.refresh_from_db()
    assert series.next_number == 601

    assert issued_invoice(issued_on=ISSUED).number == "INV2026/00601"  # continues the old numbering
    page = billing_staff_client.get(change).content.decode()
    assert "INV2026/00602" in page  # the next number, as it will be printed
    billing_staff_client.post(change, {"format": "INV-{year}-{number:06d}", "next_number": 1})
    series.refresh_from_db()
    assert (series.format, series.next_number) == ("INV-{year}-{number:06d}", 602)  # the counter stays
    assert billing_staff_client.post(reverse("admin:billing_numberseries_delete", args=[series.pk])).status_code == 403


@pytest.mark.django_db
def test_saving_the_format_never_puts_back_a_counter_read_before_documents_were_issued(
    billing_staff_client, monkeypatch
):
    from django.urls import reverse

    from billing.admin.documents import NumberSeriesAdmin
    from billing.models import NumberSeries as Series
    from tests.billing.factories import issued_invoice

    first = issued_invoice(issued_on=ISSUED)
    series = Series.objects.get(code="INV")
    stale = Series.objects.get(pk=series.pk)  # what the admin read: next number 2...
    issued_invoice(issued_on=ISSUED)  # ...while the run issued the second
    monkeypatch.setattr(NumberSeriesAdmin, "get_object", lambda self, request, object_id, from_field=None: stale)
    change = reverse("admin:billing_numberseries_change", args=[series.pk])
    billing_staff_client.post(change, {"format": "INV/{year}/{number:06d}", "next_number": 2})

    series.refresh_from_db()
    assert (series.format, series.next_number) == ("INV/{year}/{number:06d}", 3)
    assert issued_invoice(issued_on=ISSUED).number == "INV/2026/000003"
    assert first.number == "INV-2026-000001"


@pytest.mark.django_db
def test_a_format_that_cannot_be_filled_in_is_refused_not_a_crash():
    for bad in ("{number[0]}", "{number:abc}", "{number.real.x}"):
        with pytest.raises(Exception, match="Not a usable format"):
            NumberSeries(code="INV", format=bad).full_clean()
