from __future__ import annotations

from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        # Collections' models (billing.collections.models) belong to this app but live in
        # their own module, so billing.models never imports the layer that uses them.
        from django.db.models.signals import post_save

        from billing import checks  # noqa: F401  (registers the start-up checks)
        from billing.accounting.exports import accounting_export_requested
        from billing.accounting.reports import register_balance_exclusion
        from billing.collections import models as collections_models  # noqa: F401
        from billing.collections.handoff import written_off_amounts
        from billing.issuing import document_issued
        from billing.models import PaymentAllocation
        from billing.tasks import queue_accounting_export, queue_document_delivery, queue_restore_after_payment
        from billing.usage import models as usage_models  # noqa: F401  (the usage records are billing's)
        from billing.workflows.closure import end_billing
        from privacy.services.closure import on_end_relationship

        # Issuing announces; delivery (a layer above it) answers.
        document_issued.connect(queue_document_delivery, dispatch_uid="billing.queue_document_delivery")
        accounting_export_requested.connect(queue_accounting_export, dispatch_uid="billing.queue_accounting_export")
        # A payment may settle what a suspension for non-payment was about.
        post_save.connect(
            queue_restore_after_payment, sender=PaymentAllocation, dispatch_uid="billing.queue_restore_after_payment"
        )
        # The aged debtors leave out what collections wrote off.
        register_balance_exclusion(written_off_amounts)
        # Erasing a whole customer first ends their subscriptions (privacy's hook).
        on_end_relationship("billing", end_billing)
