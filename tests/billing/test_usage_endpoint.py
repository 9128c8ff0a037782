"""The collectors' endpoint and the tokens staff issue and revoke in the admin."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from accounts import roles
from accounts.audit import AuditEvent, System
from billing.usage.models import CollectorToken, UsageSample
from tests.accounts.factories import ServiceFactory, StaffFactory, enable_totp

pytestmark = pytest.mark.django_db
URL = "/api/usage/samples"
STAFF = System("tests")


def post(client, body: str, token: str | None, **extra):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token is not None else {}
    return client.post(URL, data=body, content_type="text/csv", **headers, **extra)


def test_a_collector_posts_samples_with_its_token(client):
    service = ServiceFactory()
    token, secret = CollectorToken.issue(name="core-sw1", actor=STAFF)
    body = f"service,interval_start,bytes_in,bytes_out\n{service.pk},2026-11-01T00:00:00Z,10,20\n"
    response = post(client, body, secret)
    assert response.status_code == 200
    assert response.json() == {"ok": True, "stored": 1, "replaced": 0, "unchanged": 0, "rejected": []}
    assert UsageSample.objects.get().bytes_out == 20
    token.refresh_from_db()
    assert token.last_used_at is not None
    event = AuditEvent.objects.get(action="usage.samples_imported")
    assert event.actor_label == "System (usage collector core-sw1)" and "1 stored" in event.summary
    # Sending it again is safe.
    assert post(client, body, secret).json()["unchanged"] == 1


def test_rejected_rows_are_named_and_the_good_ones_kept(client):
    service = ServiceFactory()
    _, secret = CollectorToken.issue(name="core-sw1", actor=STAFF)
    response = post(client, f"{service.pk},2026-11-01T00:00:00Z,1,2\n{service.pk},2026-11-01T00:01:00Z,1,2\n", secret)
    assert response.status_code == 422
    data = response.json()
    assert data["stored"] == 1 and data["rejected"][0]["line"] == 2
    assert "5-minute boundary" in data["rejected"][0]["reason"]


def test_a_wrong_missing_or_revoked_token_is_refused_and_nothing_stored(client):
    service = ServiceFactory()
    token, secret = CollectorToken.issue(name="core-sw1", actor=STAFF)
    body = f"{service.pk},2026-11-01T00:00:00Z,1,2\n"
    assert post(client, body, "uc_wrong").status_code == 401
    assert post(client, body, None).status_code == 401
    token.revoke(actor=STAFF)
    response = post(client, body, secret)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "revoked" in response.json()["error"]
    assert not UsageSample.objects.exists()


def test_only_the_token_hash_is_stored():
    token, secret = CollectorToken.issue(name="core-sw1", actor=STAFF)
    stored = CollectorToken.objects.filter(pk=token.pk).values().get()
    assert secret not in {str(value) for value in stored.values()}
    assert CollectorToken.objects.find(secret) == token


def billing_staff(client: Client):
    person = StaffFactory()
    person.groups.add(Group.objects.get(name=roles.BILLING_GROUP))
    enable_totp(person)
    client.force_login(person)
    return person


def test_staff_issue_a_token_in_the_admin_see_it_once_and_revoke_it(client):
    person = billing_staff(client)
    response = client.post(reverse("admin:billing_collectortoken_add"), {"name": "edge-router flows"})
    assert response.status_code == 200
    secret = response.context["secret"]
    token = CollectorToken.objects.get(name="edge-router flows")
    assert token.created_by == person and secret.startswith(token.prefix)
    assert secret in response.content.decode()
    # Never again: the change page shows the prefix only.
    page = client.get(reverse("admin:billing_collectortoken_change", args=[token.pk])).content.decode()
    assert secret not in page and token.prefix in page
    client.post(
        reverse("admin:billing_collectortoken_changelist"),
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    token.refresh_from_db()
    assert token.revoked_at is not None and token.revoked_by == person
    # Both are on the audit trail, with who did them.
    events = AuditEvent.objects.about(token).order_by("occurred_at")
    assert [(e.action, e.actor) for e in events] == [
        ("usage.collector_token_issued", person),
        ("usage.collector_token_revoked", person),
    ]
    assert CollectorToken.objects.find(secret) is None
    assert post(Client(), f"{ServiceFactory().pk},{dt.date(2026, 11, 1)}T00:00:00Z,1,1\n", secret).status_code == 401
