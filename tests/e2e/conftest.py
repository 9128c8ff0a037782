"""Browser tests: Playwright's sync API driving Debian's Chromium (never `playwright install`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Playwright's sync API keeps an asyncio loop running in this thread, so Django's
# guard against blocking ORM calls inside an event loop would trip on every query
# the test (and live_server's teardown) makes. The calls really are synchronous.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path(os.environ.get("PORTAL_E2E_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    # The test machines have no outside network; without these Chromium keeps
    # trying to reach Google's services and logs refused connections.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def pytest_collection_modifyitems(config, items) -> None:
    # In CI a missing browser is a failure (the test reports it), never a quiet skip.
    if CHROMIUM.exists() or os.environ.get("CI"):
        return
    skip = pytest.mark.skip(reason=f"needs Debian's Chromium at {CHROMIUM} (apt-get install chromium)")
    for item in items:
        if "e2e" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"CI must run the browser tests, but there is no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def migration_rows(transactional_db) -> None:
    """Put back the rows data migrations create (the staff groups).

    A transactional test empties every table when it ends, so a live-server test that
    runs after another one would find no groups. (Django's serialized_rollback would
    restore them, but clashes with the content types the flush recreates.)
    """
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    from accounts.groups import sync_groups

    sync_groups(MigrationLoader(connection).project_state().apps)
