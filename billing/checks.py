"""Start-up checks for what billing needs of the database."""

from __future__ import annotations

import os
import sqlite3

from django.conf import settings
from django.core import checks

# UPDATE ... RETURNING (billing.documents.numbering) and ids from bulk inserts (the billing run's lines).
SQLITE_NEEDED = (3, 35)


def sqlite_too_old(databases: dict, version: tuple[int, ...]) -> list[checks.CheckMessage]:
    """An error if a database in ``databases`` (the DATABASES setting) is SQLite and
    ``version`` (the SQLite library's) is older than billing needs."""
    if version >= SQLITE_NEEDED or not any(
        db.get("ENGINE") == "django.db.backends.sqlite3" for db in databases.values()
    ):
        return []
    shown = ".".join(map(str, version))
    return [
        checks.Error(
            f"SQLite {shown} is too old for billing: it needs {'.'.join(map(str, SQLITE_NEEDED))} "
            "or later (RETURNING, for document numbers and invoice lines).",
            hint="Use a Python built against a newer SQLite, or PostgreSQL (DATABASE_URL).",
            id="billing.E001",
        )
    ]


@checks.register()
def sqlite_supports_returning(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    return sqlite_too_old(settings.DATABASES, sqlite3.sqlite_version_info)


def retired_vat_setting(environ) -> list[checks.CheckMessage]:
    """A warning while the environment still sets the VAT rates the portal no longer reads."""
    if not environ.get("PORTAL_CONSUMER_VAT_RATES"):
        return []
    return [
        checks.Warning(
            "PORTAL_CONSUMER_VAT_RATES is no longer read: VAT rates are a dated table kept in the admin.",
            hint="Check the rates under Billing → VAT rates (add any missing, from the date they apply), "
            "then remove the setting from the environment.",
            id="billing.W001",
        )
    ]


@checks.register()
def vat_rates_are_kept_in_the_admin(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    return retired_vat_setting(os.environ)
