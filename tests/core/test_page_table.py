"""The kept pages' database table: Django's database cache, a write in one statement."""

from __future__ import annotations

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.pagecache import PageTable

pytestmark = pytest.mark.django_db


@pytest.fixture
def table():
    return PageTable("portal_page_cache", {"OPTIONS": {"MAX_ENTRIES": 10}})


def test_a_write_is_one_statement_and_reads_back(table):
    with CaptureQueriesContext(connection) as writes:
        table.set_many({"token": "a1", "page": {"body": "<p>hi</p>"}}, None)
    table.set("token", "b2", None)  # replaced in place

    assert len(writes) == 1
    assert table.get_many(["token", "page", "missing"]) == {"token": "b2", "page": {"body": "<p>hi</p>"}}


def test_what_has_expired_is_not_read(table):
    table.set("page", "old", 60)
    with time_machine.travel(timezone.now() + timezone.timedelta(seconds=61)):
        assert table.get("page") is None


def test_the_table_is_culled_now_and_then_not_counted_at_every_write(table):
    for n in range(PageTable.CULL_EVERY):
        table.set(f"page-{n}", n, 600)
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM portal_page_cache")
        assert cursor.fetchone()[0] < PageTable.CULL_EVERY  # a third went at the hundredth write
