from __future__ import annotations

from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "privacy"
    verbose_name = "Privacy"

    def ready(self) -> None:
        from privacy import (
            checks,  # noqa: F401  (registers the system check)
            middleware,  # noqa: F401  (connects the login receiver for policy acknowledgement)
        )
