"""The billing app's admin, one module per topic."""

from __future__ import annotations

from billing.admin import collections, documents, home, payments  # noqa: F401
