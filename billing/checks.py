"""Start-up checks for what billing needs of the database."""

from __future__ import annotations

import sqlite3

from django.conf import settings
from django.core import checks

# UPDATE ... RETURNING (billing.numbering) and ids from bulk inserts (the billing run's lines).
SQLITE_NEEDED = (3, 35)


def _sqlite_in_use() -> bool:
    return any(db.get("ENGINE") == "django.db.backends.sqlite3" for db in settings.DATABASES.values())


@checks.register()
def sqlite_supports_returning(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    if not _sqlite_in_use() or sqlite3.sqlite_version_info >= SQLITE_NEEDED:
        return []
    return [
        checks.Error(
            f"SQLite {sqlite3.sqlite_version} is too old for billing: it needs {'.'.join(map(str, SQLITE_NEEDED))} "
            "or later (RETURNING, for document numbers and invoice lines).",
            hint="Use a Python built against a newer SQLite, or PostgreSQL (DATABASE_URL).",
            id="billing.E001",
        )
    ]
