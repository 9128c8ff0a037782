"""The portal shell: the dashboard and the customer switcher."""

from __future__ import annotations

from django.urls import path

from portal import views

app_name = "portal"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("switch-customer/", views.switch_customer, name="switch_customer"),
    path("bench/bare/", views.bench_bare, name="bench_bare"),
]
