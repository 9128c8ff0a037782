"""Health endpoints for load balancers: answered by address, over plain HTTP, saying only
ok or failing per component."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_liveness_answers_whatever_the_host_and_without_the_https_redirect(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["portal.example"]
    response = client.get("/healthz", HTTP_HOST="10.0.0.5:8000")  # a backend probed by its address
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"
    assert client.get("/", HTTP_HOST="portal.example").status_code == 301  # other pages still go to https


def test_readiness_reports_each_component(client):
    response = client.get("/readyz", HTTP_HOST="10.0.0.5")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "cache": "ok", "broker": "ok", "storage": "ok"},
    }


def test_readiness_fails_when_the_cache_is_down_and_says_no_more(client, settings, caplog):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body == {
        "status": "failing",
        "checks": {"database": "ok", "cache": "failing", "broker": "ok", "storage": "ok"},
    }
    assert "127.0.0.1" not in response.content.decode()  # the reason is in the log only
    assert "Readiness check cache failed" in caplog.text


def test_readiness_fails_when_the_broker_is_unreachable(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False  # as in production, with a broker
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "failing"


def test_each_request_is_logged_as_json_with_its_id_and_route_never_a_token_or_email(client, caplog):
    import json
    import logging

    from portal.logging import JsonFormatter, RequestIdFilter
    from tests.accounts.factories import UserFactory

    user = UserFactory(email="someone@customer.example")
    client.force_login(user)
    with caplog.at_level(logging.INFO, logger="portal.request"):
        response = client.get("/invitations/accept/secret-token-123/", HTTP_X_REQUEST_ID="lb-request-0001")
    assert response["X-Request-ID"] == "lb-request-0001"
    (record,) = [r for r in caplog.records if r.name == "portal.request"]
    RequestIdFilter().filter(record)  # as the console handler does; outside the request the id is gone
    line = JsonFormatter().format(record)
    logged = json.loads(line)
    assert logged["user_id"] == user.pk and logged["status"] == response.status_code
    assert logged["route"] == "invitations/accept/<str:token>/"
    assert "secret-token-123" not in line and "someone@customer.example" not in line
    assert logged["duration_ms"] >= 0 and logged["level"] == "INFO"
    # Django's own line for a failed request names no path either, and carries the same id.
    (failed,) = [r for r in caplog.records if r.name == "django.request"]  # the unknown token: 404
    RequestIdFilter().filter(failed)
    assert "secret-token-123" not in failed.getMessage() and failed.request_id == "lb-request-0001"


def test_a_malformed_request_id_is_replaced(client):
    response = client.get("/accounts/login/", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert response["X-Request-ID"] != "bad id\nwith newline" and len(response["X-Request-ID"]) == 32
