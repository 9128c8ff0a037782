"""The privacy app's admin, one module per topic."""

from __future__ import annotations

from privacy.abuse import admin as abuse_admin  # noqa: F401
from privacy.admin import exports, holds, ledger, overview, policies, requests  # noqa: F401
from privacy.lawful import admin as lawful_admin  # noqa: F401
from privacy.storage import admin as storage_admin  # noqa: F401
