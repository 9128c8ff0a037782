"""The privacy app's admin, one module per topic."""

from __future__ import annotations

from privacy.admin import exports, holds, ledger, policies, requests  # noqa: F401
