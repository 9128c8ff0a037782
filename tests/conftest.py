from __future__ import annotations

import importlib
import os

import hypothesis
import pytest
from django.test import Client

from accounts import roles
from tests.accounts.factories import (
    CustomerFactory,
    MembershipFactory,
    UserFactory,
    enable_totp,
)

# Property tests take their example counts from a profile, never from the test itself:
# few examples for a quick run at a desk, many on CI. A test's examples touch the
# database, so their duration varies and no deadline applies. CI sets CI=true;
# HYPOTHESIS_PROFILE=dev|ci chooses explicitly (e.g. the thorough run locally).
hypothesis.settings.register_profile("dev", max_examples=25, deadline=None)
hypothesis.settings.register_profile("ci", max_examples=300, deadline=None, print_blob=True)
hypothesis.settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") == "true" else "dev")
)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Argon2 still (hashes start "argon2"), at a test-sized cost."""
    settings.PASSWORD_HASHERS = ["tests.hashers.FastArgon2PasswordHasher", *settings.PASSWORD_HASHERS[1:]]


@pytest.fixture(autouse=True)
def _no_timing_floor(settings):
    """Forms padded to a uniform answer time (core.timing) answer at once in tests but where
    the padding itself is tested (tests/core/test_timing.py)."""
    settings.PORTAL_UNIFORM_TIMING_FLOOR = 0


@pytest.fixture(autouse=True)
def _local_cache(settings):
    """Each test gets an empty in-memory cache (production shares one: PORTAL_CACHE_URL)."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "tests"},
        "pages": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "test-pages"},
    }
    from django.core.cache import caches

    caches["default"].clear()
    caches["pages"].clear()


@pytest.fixture(autouse=True)
def _no_footer_copy():
    """Each test reads the provider's details it made: the footer's copy of another test's
    (rolled back, so never saved or deleted here) is forgotten."""
    from accounts.models import ProviderDetails

    ProviderDetails.forget_cached()
    yield
    ProviderDetails.forget_cached()


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    """Files written by a test go to its own folder, never to var/."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {
                "location": tmp_path / "private",
                "base_url": None,
                "file_permissions_mode": 0o600,
                "directory_permissions_mode": 0o700,
            },
        },
    }
    settings.PRIVATE_STORAGE_DIR = tmp_path / "private"


@pytest.fixture(autouse=True)
def _tasks_in_process_unless_marked_broker(request):
    """Tasks run in-process after commit (the embedded default) even when CI sets
    CELERY_BROKER_URL; only tests marked ``broker`` go through the real broker."""
    from portal.celery import app

    saved = app.conf.task_always_eager, app.conf.broker_url
    app.conf.task_always_eager = request.node.get_closest_marker("broker") is None
    yield
    app.conf.task_always_eager, app.conf.broker_url = saved


@pytest.fixture(autouse=True)
def _mail_server_not_paused():
    """In-process delivery pauses for a while after the mail server could not be reached
    (accounts.tasks.in_process); each test starts with a mail server not known to be down."""
    from accounts import tasks

    tasks.in_process.resume()
    yield
    tasks.in_process.resume()


@pytest.fixture(autouse=True)
def _staff_groups(request):
    """The staff groups come from a data migration; a transactional test's flush removes them."""
    marker = request.node.get_closest_marker("django_db")
    transactional = (
        "transactional_db" in request.fixturenames
        or "live_server" in request.fixturenames
        or (marker is not None and marker.kwargs.get("transaction", False))
    )
    if not (marker or transactional or "db" in request.fixturenames):
        return
    request.getfixturevalue("transactional_db" if transactional else "db")
    from django.apps import apps
    from django.contrib.auth.models import Group

    from accounts.groups import GROUP_PERMISSIONS, sync_groups

    if Group.objects.filter(name__in=GROUP_PERMISSIONS).count() != len(GROUP_PERMISSIONS):
        sync_groups(apps)
    # The VAT rates too come from a data migration (billing 0024).
    from billing.models import VatRate

    if not VatRate.objects.exists():
        importlib.import_module("billing.migrations.0030_vat_rates").seed(apps, None)


@pytest.fixture(scope="session")
def freshly_migrated(tmp_path_factory) -> dict:
    """What the migrations alone put in a new database (tests/migrated.py); once per run."""
    from tests.migrated import migrate_fresh_database

    return migrate_fresh_database(tmp_path_factory.mktemp("migrated"))


@pytest.fixture
def provider(db):
    """The provider's details, and billing settings with a payment method (issuing refuses without one)."""
    from tests.billing.factories import configured_provider

    return configured_provider()


@pytest.fixture
def customer(db):
    return CustomerFactory()


@pytest.fixture
def owner(customer):
    return MembershipFactory(customer=customer, role=roles.Role.OWNER).user


@pytest.fixture
def owner_client(owner, provider) -> Client:
    client = Client()
    client.force_login(owner)
    return client


@pytest.fixture
def other_customer_client(db, provider) -> Client:
    """A contact of a different customer: must get 404 for the first customer's objects."""
    stranger = MembershipFactory(role=roles.Role.OWNER).user
    client = Client()
    client.force_login(stranger)
    return client


@pytest.fixture
def admin_client_mfa(db) -> Client:
    """A superuser with TOTP: staff reach nothing in the admin without MFA."""
    superuser = UserFactory(is_staff=True, is_superuser=True)
    enable_totp(superuser)
    client = Client()
    client.force_login(superuser)
    return client


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on loopback; the portal's SMTP backend points at it."""
    from tests.smtp import SMTPServer

    with SMTPServer() as server:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_TIMEOUT = 5
        yield server
