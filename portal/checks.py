"""`check --deploy` reports what production was allowed to do on purpose but should not."""

from __future__ import annotations

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def production_runs_as_production(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    found = []
    if settings.CELERY_TASK_ALWAYS_EAGER:
        found.append(
            checks.Warning(
                "Background work runs inside web requests (no CELERY_BROKER_URL; PORTAL_TASKS_IN_PROCESS=true).",
                hint="Set CELERY_BROKER_URL and run Celery workers and one beat (README, Production).",
                id="portal.W001",
            )
        )
    if not settings.EMAIL_HOST:
        found.append(
            checks.Warning(
                "Outgoing mail is kept in the local outbox, not sent (no EMAIL_HOST; PORTAL_MAIL_TO_OUTBOX=true).",
                hint="Set EMAIL_HOST and the other EMAIL_* settings (README, Production).",
                id="portal.W002",
            )
        )
    if not settings.PORTAL_MAIL_AUTHSERV_ID:
        found.append(
            checks.Warning(
                "No receiving mail server is trusted to authenticate senders (no PORTAL_MAIL_AUTHSERV_ID): every "
                "inbound email is marked 'sender not verified' and none joins a conversation by its Message-ID.",
                hint="Set PORTAL_MAIL_AUTHSERV_ID to the authserv-id your MTA writes in Authentication-Results "
                "(docs/correspondence.md).",
                id="portal.W003",
            )
        )
    return found
