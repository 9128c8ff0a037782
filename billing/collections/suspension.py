"""Suspending services for non-payment, after notice, and restoring them on payment
(docs/collections.md).

Staff give notice on chosen overdue documents: the customer's billing contacts are
emailed the day their services will be suspended (the notice period in Collections
settings) unless the documents are paid. The daily run suspends the customer's active
services on that day through ``accounts.services.suspend_service`` (source
"non_payment": the service's history records it and the customer is told), or cancels
the notice if the documents were paid or credited meanwhile. Once they are, the services
suspended for non-payment are restored (``restore_service``), when the payment is
recorded (billing's tasks answer it) and in the daily run.
"""

from __future__ import annotations

import contextlib
import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts import audit
from accounts.audit import Actor
from accounts.correspondence.gateway import NoRecipients, send_mail
from accounts.correspondence.models import MailKind
from accounts.models import Service, ServiceStatusChange
from accounts.services import restore_service, suspend_service
from billing.collections.models import CollectionsSettings, SuspensionNotice
from billing.collections.state import collectable
from billing.documents.locking import lock_customer
from billing.models import Invoice
from billing.money import format_money

SOURCE = ServiceStatusChange.Source.NON_PAYMENT


def _unpaid(notice: SuspensionNotice):
    return Invoice.objects.filter(pk__in=notice.invoices.values("pk")).open().with_balance().filter(balance__gt=0)


def give_notice(customer, *, invoices, actor, today: dt.date | None = None) -> SuspensionNotice:
    today = today or timezone.localdate()
    invoices = list(invoices)
    if not invoices:
        raise ValidationError("Choose the overdue documents the notice is about.")
    with transaction.atomic():
        lock_customer(customer)
        overdue = {
            inv.pk: inv for inv in collectable(Invoice.objects.filter(customer=customer)).filter(due_on__lt=today)
        }
        problems = [f"{inv} is not overdue, open and undisputed" for inv in invoices if inv.pk not in overdue]
        if problems:
            raise ValidationError(f"No notice was given: {'; '.join(problems)}.")
        if SuspensionNotice.objects.filter(
            customer=customer, suspended_at__isnull=True, cancelled_at__isnull=True
        ).exists():
            raise ValidationError(f"{customer} already has a notice of suspension running.")
        if not customer.services.filter(status=Service.Status.ACTIVE).exists():
            raise ValidationError(f"{customer} has no active service to suspend.")
        days = CollectionsSettings.current().suspension_notice_days
        notice = SuspensionNotice.objects.create(
            customer=customer, suspend_on=today + dt.timedelta(days=days), created_by=actor
        )
        notice.invoices.set(invoices)
        total = sum((overdue[inv.pk].balance for inv in invoices), start=0)
        with contextlib.suppress(NoRecipients):  # staff see the notice; the services are listed in the portal
            send_mail(
                kind=MailKind.BILLING,
                template="collections_suspension_notice",
                customer=customer,
                context={
                    "notice": notice,
                    "documents": [overdue[inv.pk] for inv in invoices],
                    "total": format_money(total, customer.currency),
                    "services": list(customer.services.filter(status=Service.Status.ACTIVE)),
                },
                idempotency_key=f"collections-suspension-notice:{notice.pk}",
                related=notice,
            )
        audit.record(
            "collections.suspension_notice",
            actor=actor,
            target=notice,
            customer=customer,
            summary=f"Notice that services are suspended on {notice.suspend_on:%-d %B %Y} unless "
            f"{', '.join(inv.number for inv in invoices)} are paid",
        )
    return notice


def suspend_due(today: dt.date | None = None, *, actor: Actor) -> int:
    """Carry out the notices whose day has come; returns how many services were suspended."""
    today = today or timezone.localdate()
    suspended = 0
    due = SuspensionNotice.objects.filter(
        suspend_on__lte=today, suspended_at__isnull=True, cancelled_at__isnull=True
    ).select_related("customer")
    for notice in due:
        with transaction.atomic():
            notice = SuspensionNotice.objects.select_for_update().get(pk=notice.pk)
            if notice.suspended_at or notice.cancelled_at:
                continue
            unpaid = list(_unpaid(notice))
            if not unpaid:
                notice.cancelled_at = timezone.now()
                notice.save(update_fields=["cancelled_at"])
                audit.record("collections.suspension_cancelled", actor=actor, target=notice, summary="Paid in time")
                continue
            reason = (
                f"Non-payment of {', '.join(inv.number for inv in unpaid)}, after our notice of "
                f"{timezone.localdate(notice.noticed_at):%-d %B %Y}. Services are restored once it is paid."
            )
            for service in notice.customer.services.filter(status=Service.Status.ACTIVE):
                suspend_service(service, actor=actor, reason=reason, source=SOURCE)
                suspended += 1
            notice.suspended_at = timezone.now()
            notice.save(update_fields=["suspended_at"])
    return suspended


def restore_paid(customer=None, *, actor: Actor) -> int:
    """Restore the services of customers whose suspension notice's documents are now paid
    or credited; returns how many services came back."""
    restored = 0
    notices = SuspensionNotice.objects.filter(suspended_at__isnull=False, restored_at__isnull=True)
    if customer is not None:
        notices = notices.filter(customer=customer)
    for notice in notices.select_related("customer"):
        with transaction.atomic():
            notice = SuspensionNotice.objects.select_for_update().get(pk=notice.pk)
            if notice.restored_at or _unpaid(notice).exists():
                continue
            for service in notice.customer.services.filter(status=Service.Status.SUSPENDED):
                last = service.status_changes.first()
                if last is not None and last.source == SOURCE:  # never lift an abuse suspension
                    restore_service(service, actor=actor, reason="The overdue balance has been paid.", source=SOURCE)
                    restored += 1
            notice.restored_at = timezone.now()
            notice.save(update_fields=["restored_at"])
    return restored
