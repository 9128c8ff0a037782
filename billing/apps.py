from __future__ import annotations

from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from billing import checks  # noqa: F401  (registers the start-up checks)
        from billing.accounting.exports import accounting_export_requested
        from billing.issuing import document_issued
        from billing.tasks import queue_accounting_export, queue_document_delivery
        from billing.usage import models as usage_models  # noqa: F401  (the usage records are billing's)
        from billing.workflows.closure import end_billing
        from privacy.services.closure import on_end_relationship

        # Issuing announces; delivery (a layer above it) answers.
        document_issued.connect(queue_document_delivery, dispatch_uid="billing.queue_document_delivery")
        accounting_export_requested.connect(queue_accounting_export, dispatch_uid="billing.queue_accounting_export")
        # Erasing a whole customer first ends their subscriptions (privacy's hook).
        on_end_relationship("billing", end_billing)
