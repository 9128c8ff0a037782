from __future__ import annotations

import pytest
from django.test import Client

from accounts import roles
from tests.accounts.factories import (
    CustomerFactory,
    MembershipFactory,
    ProviderDetailsFactory,
    UserFactory,
)


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    """Files written by a test go to its own folder, never to var/."""
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": tmp_path / "private", "base_url": None},
    }}
    settings.PRIVATE_STORAGE_DIR = tmp_path / "private"


@pytest.fixture
def provider(db):
    return ProviderDetailsFactory()


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
def user(db):
    return UserFactory()
