from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap

import pytest
from django.db import connection, transaction

from billing.models import NumberSeries
from billing.numbering import next_number

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
    from billing.numbering import next_number
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
