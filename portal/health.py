"""Health for load balancers and orchestrators: ``/healthz`` and ``/readyz``.

- ``/healthz`` (liveness): the process answers. Nothing else is checked, so a database
  outage never makes a supervisor restart every web process at once.
- ``/readyz`` (readiness): this process can serve: the database answers and every
  migration is applied, the cache takes a write, the broker (when there is one) accepts a
  connection, private file storage answers. Each component is reported as ``ok`` or
  ``failing`` and nothing more (no versions, hosts or error text: the endpoints are
  unauthenticated); the reason for a failure goes to the log. 200 when all are ok, 503
  otherwise.

Both are answered by a middleware placed first, before host validation and the HTTPS
redirect: a load balancer probes a backend by its address, over plain HTTP.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse

from portal.celery import app

logger = logging.getLogger(__name__)

LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"
# Seconds a readiness probe may wait for the broker: probes come every few seconds.
BROKER_TIMEOUT = 2.0

_migrations_applied = False  # once true, true for the life of the process


def _database() -> None:
    global _migrations_applied
    connection = connections[DEFAULT_DB_ALIAS]
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    if not _migrations_applied:
        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            raise RuntimeError("migrations not applied")
        _migrations_applied = True


def _cache() -> None:
    cache.set("portal:readyz", "ok", timeout=30)
    if cache.get("portal:readyz") != "ok":
        raise RuntimeError("cache lost a value it was just given")


def _broker() -> None:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return  # the embedded default: tasks run in-process, there is no broker to reach

    with app.connection_for_write(url=settings.CELERY_BROKER_URL) as connection:
        connection.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT)


def _storage() -> None:
    default_storage.exists("readyz-probe")


CHECKS: dict[str, Callable[[], None]] = {
    "database": _database,
    "cache": _cache,
    "broker": _broker,
    "storage": _storage,
}


def readiness() -> dict[str, str]:
    """Each component: "ok" or "failing" (the reason is logged, never returned)."""
    results = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception:
            logger.exception("Readiness check %s failed", name)
            results[name] = "failing"
        else:
            results[name] = "ok"
    return results


class HealthCheckMiddleware:
    """Answers ``/healthz`` and ``/readyz`` before anything else looks at the request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == LIVENESS_PATH:
            return _no_store(JsonResponse({"status": "ok"}))
        if request.path == READINESS_PATH:
            checks = readiness()
            ready = all(result == "ok" for result in checks.values())
            body = {"status": "ok" if ready else "failing", "checks": checks}
            return _no_store(JsonResponse(body, status=200 if ready else 503))
        return self.get_response(request)


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response
