from __future__ import annotations

from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        # Collections' models (billing.collections.models) belong to this app but live in
        # their own module, so billing.models never imports the layer that uses them.
        from billing import checks  # noqa: F401  (registers the start-up checks)
        from billing.collections import models as collections_models  # noqa: F401
        from billing.issuing import document_issued
        from billing.tasks import queue_document_delivery
        from billing.workflows.closure import end_billing
        from privacy.services.closure import on_end_relationship

        # Issuing announces; delivery (a layer above it) answers.
        document_issued.connect(queue_document_delivery, dispatch_uid="billing.queue_document_delivery")
        # Erasing a whole customer first ends their subscriptions (privacy's hook).
        on_end_relationship("billing", end_billing)
