"""The accountants' area: reachable only by members of the Accountant group."""

from __future__ import annotations

from django.urls import path

from billing.views import accounting
from portal import views

app_name = "accounting"

urlpatterns = [
    path("", views.accounting_home, name="home"),
    *accounting.urlpatterns,
]
