"""Customer billing pages: each topic's views module contributes its URLs."""

from __future__ import annotations

from billing.views import collections, invoices, statements, usage

app_name = "billing"

urlpatterns = [*invoices.urlpatterns, *statements.urlpatterns, *usage.urlpatterns, *collections.urlpatterns]
