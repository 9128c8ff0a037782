from __future__ import annotations

from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "privacy"
    verbose_name = "Privacy"

    def ready(self) -> None:
        from accounts.correspondence.inbound import abuse_mail_received
        from privacy import (
            checks,  # noqa: F401  (registers the system check)
            middleware,  # noqa: F401  (connects the login receiver for policy acknowledgement)
            tasks,
        )
        from privacy.abuse import intake
        from privacy.abuse import models as abuse_models  # noqa: F401  (the abuse desk's models are this app's)
        from privacy.lawful import models as lawful_models  # noqa: F401
        from privacy.services.export import export_requested
        from privacy.services.holds import hold_lifted
        from privacy.services.requests import public_request_submitted
        from privacy.storage import models as storage_models  # noqa: F401

        # Storage and lawful access's models belong to this app but live in their own package, so
        # privacy.models never imports what builds on it (as accounts' correspondence).

        # Services announce; the tasks module (a layer above them) queues the work.
        export_requested.connect(tasks.queue_export_build, dispatch_uid="privacy.queue_export_build")
        public_request_submitted.connect(tasks.queue_public_request, dispatch_uid="privacy.queue_public_request")
        # The inbound archive (accounts) hands mail to the abuse address to the abuse desk.
        abuse_mail_received.connect(intake.on_abuse_mail, dispatch_uid="privacy.abuse.on_abuse_mail")
        hold_lifted.connect(tasks.queue_held_erasure_release, dispatch_uid="privacy.queue_held_erasure_release")
