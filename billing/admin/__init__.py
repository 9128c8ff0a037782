"""The billing app's admin, one module per topic."""

from __future__ import annotations

from billing.admin import accounting, collections, documents, home, payments, usage  # noqa: F401
