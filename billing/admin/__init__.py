"""The billing app's admin, one module per topic."""

from __future__ import annotations

from billing.admin import accounting, collections, documents, home, overview, payments, usage  # noqa: F401
