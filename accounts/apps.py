from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from accounts import (  # noqa: F401  (audit: the AuditEvent model)
            audit,
            personal_data,
            tasks,
        )
        from accounts.correspondence import models as correspondence_models  # noqa: F401
        from accounts.correspondence.gateway import message_queued

        # Correspondence's models (Message, MessageAttachment) belong to this app but live
        # in their own module, so accounts.models need not import the package that uses them.
        # The gateway announces a stored message; the tasks module, above it, queues delivery.
        audit.connect_signals()
        message_queued.connect(tasks.queue_delivery, dispatch_uid="accounts.queue_delivery")
        # Kept customer pages are replaced when anything they could show changes.
        from core import pagecache

        pagecache.connect()
