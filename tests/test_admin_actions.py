"""Every admin action checks a named permission: a member of staff without it is not
offered the action and cannot post it."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.test import RequestFactory
from django.urls import reverse

from tests.accounts.factories import StaffFactory, enable_totp

OURS = {"accounts", "billing", "privacy", "portal", "django_celery_beat", "mfa", "account", "auth"}


def _model_admins():
    for model in apps.get_models():
        if model._meta.app_label in OURS and admin.site.is_registered(model):
            yield model, admin.site.get_model_admin(model)


def test_every_admin_action_names_the_permission_it_needs():
    missing = []
    for model, model_admin in _model_admins():
        for name in model_admin.actions or ():
            func, action_name, _ = model_admin.get_action(name)
            if not getattr(func, "allowed_permissions", None):
                missing.append(f"{model._meta.label}.{action_name}")
    assert missing == []


@pytest.mark.django_db
def test_staff_who_may_only_view_are_offered_no_action_that_changes_anything():
    offered = {}
    for model, model_admin in _model_admins():
        staff = StaffFactory()
        staff.user_permissions.add(
            Permission.objects.get(
                content_type__app_label=model._meta.app_label, codename=f"view_{model._meta.model_name}"
            )
        )
        request = RequestFactory().get("/")
        request.user = type(staff).objects.get(pk=staff.pk)  # fresh permission cache
        for name, (func, _, _) in model_admin.get_actions(request).items():
            if set(getattr(func, "allowed_permissions", ())) - {"view"}:
                offered.setdefault(model._meta.label, []).append(name)
    assert offered == {}


@pytest.mark.django_db
def test_resuming_a_billing_run_needs_the_permission_to_start_one(client):
    from billing.models import BillingRun

    run = BillingRun.objects.create(period_start="2026-05-01", status=BillingRun.Status.FAILED)
    staff = StaffFactory()
    staff.user_permissions.add(Permission.objects.get(codename="view_billingrun"))
    enable_totp(staff)
    client.force_login(staff)
    changelist = reverse("admin:billing_billingrun_changelist")
    response = client.post(changelist, {"action": "resume_runs", "_selected_action": [run.pk]})
    run.refresh_from_db()
    assert run.status == BillingRun.Status.FAILED  # not queued again
    assert response.status_code in (200, 302, 403)
