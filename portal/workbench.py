"""The staff workbench: the admin's home page as queues of what needs attention now.

Each queue is a short list, oldest or most urgent first, whose entries link to where the
work is done. Staff see only the queues their permissions let them work (a superuser
sees all). The portal builds it because only the top layer knows every app.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.contrib import admin
from django.db.models import Exists
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from accounts import roles
from accounts.correspondence.models import Conversation, Department, Message
from billing.models import BillingRun, Invoice, document_emails
from privacy.models import DataSubjectRequest
from privacy.services.requests import RUNNING_STATUSES

SHOWN = 8  # entries per queue; the heading links to the full list

# The desk whose conversations each staff group answers.
GROUP_DEPARTMENTS = {
    roles.SUPPORT_GROUP: {Department.SUPPORT},
    roles.BILLING_GROUP: {Department.BILLING},
    roles.ABUSE_GROUP: {Department.ABUSE},
    roles.PRIVACY_GROUP: {Department.PRIVACY},
}


@dataclass
class Entry:
    label: str
    detail: str
    url: str
    urgent: bool = False


@dataclass
class Queue:
    title: str
    url: str
    count: int
    entries: list[Entry] = field(default_factory=list)
    empty: str = "Nothing waiting."


def _days(days: int) -> str:
    return f"{days} day{'s' if days != 1 else ''}"


def _waited(since: dt.datetime) -> str:
    days = (timezone.now() - since).days
    return "since today" if days == 0 else _days(days)


def _age(when: dt.datetime) -> str:
    days = (timezone.now() - when).days
    return "today" if days == 0 else f"{_days(days)} ago"


def waiting_for_us(departments: set[str]):
    """Conversations waiting for our answer on these desks, the longest waiting first."""
    return (
        Conversation.objects.filter(status=Conversation.Status.WAITING_FOR_US, department__in=departments)
        .exclude(root__customer=None)
        .select_related("root__customer", "assignee")
        .order_by("status_since", "pk")
    )


def _message_queues(request: HttpRequest) -> list[Queue]:
    user = request.user
    if not user.has_perm("accounts.view_message"):
        return []
    if user.is_superuser:
        departments = set(Department.values)
    else:
        names = set(user.groups.values_list("name", flat=True))
        departments = set().union(*(GROUP_DEPARTMENTS.get(name, set()) for name in names))
    queues = []
    if departments:
        waiting = waiting_for_us(departments)
        changelist = reverse("admin:accounts_conversation_changelist") + "?status__exact=waiting_us"
        if len(departments) == 1:
            changelist += f"&department__exact={next(iter(departments))}"
        queues.append(
            Queue(
                "Customers waiting for an answer",
                changelist,
                waiting.count(),
                [
                    Entry(
                        f"{c.root.customer}: {c.root.subject or '(no subject)'}",
                        f"{c.get_department_display()}, "
                        f"{'assigned to ' + str(c.assignee) if c.assignee else 'not assigned'}, "
                        f"waiting {_waited(c.status_since)}",
                        reverse("admin:accounts_conversation_change", args=[c.pk]),
                        urgent=(timezone.now() - c.status_since).days >= 2,
                    )
                    for c in waiting[:SHOWN]
                ],
            )
        )
    if user.has_perm("accounts.change_message"):
        held = Message.objects.filter(status=Message.Status.QUARANTINED).order_by("created_at")
        queues.append(
            Queue(
                "Mail from unknown senders to assign or reject",
                reverse("admin:accounts_message_changelist") + "?status__exact=quarantined",
                held.count(),
                [
                    Entry(
                        f"{m.from_address}: {m.subject or '(no subject)'}",
                        f"received {_age(m.created_at)}",
                        reverse("admin:accounts_message_change", args=[m.pk]),
                    )
                    for m in held[:SHOWN]
                ],
            )
        )
    return queues


def _privacy_queue(request: HttpRequest) -> list[Queue]:
    if not request.user.has_perm("privacy.view_datasubjectrequest"):
        return []
    today = timezone.localdate()
    running = DataSubjectRequest.objects.filter(status__in=RUNNING_STATUSES).select_related("customer")
    ordered = running.order_by(Coalesce("due_on", dt.date.max), "received_at")
    entries = []
    for dsr in ordered[:SHOWN]:
        if dsr.due_on is None:
            left, urgent = "no deadline yet", False
        else:
            days = (dsr.due_on - today).days
            left = (
                f"{-days} day{'s' if days != -1 else ''} overdue"
                if days < 0
                else f"{days} day{'s' if days != 1 else ''} left"
            )
            urgent = days <= 7
        who = dsr.customer or dsr.requester_name or dsr.requester_email or "requester"
        entries.append(
            Entry(
                f"{dsr.get_kind_display()} — {who}",
                left,
                reverse("admin:privacy_datasubjectrequest_change", args=[dsr.pk]),
                urgent=urgent,
            )
        )
    return [
        Queue(
            "Privacy requests by days left",
            reverse("admin:privacy_datasubjectrequest_changelist") + "?due=open",
            running.count(),
            entries,
        )
    ]


def _billing_queues(request: HttpRequest) -> list[Queue]:
    user = request.user
    queues = []
    if user.has_perm("billing.view_invoice"):
        failed = (
            Invoice.objects.exclude(status=Invoice.Status.DRAFT)
            .filter(Exists(document_emails().filter(status=Message.Status.FAILED)))
            .select_related("customer")
            .order_by("issued_on", "pk")
        )
        changelist = reverse("admin:billing_invoice_changelist")
        queues.append(
            Queue(
                "Invoices whose email failed",
                changelist + "?emailed=failed",
                failed.count(),
                [
                    Entry(
                        f"{inv} — {inv.customer}",
                        f"issued {inv.issued_on:%-d %b %Y}",
                        reverse("admin:billing_invoice_change", args=[inv.pk]),
                        urgent=True,
                    )
                    for inv in failed[:SHOWN]
                ],
            )
        )
        overdue = Invoice.objects.overdue().select_related("customer").order_by("due_on", "pk")
        today = timezone.localdate()
        queues.append(
            Queue(
                "Overdue invoices",
                changelist + "?overdue=yes",
                overdue.count(),
                [
                    Entry(
                        f"{inv} — {inv.customer}",
                        f"{inv.total_gross} {inv.currency}, due {(today - inv.due_on).days} days ago",
                        reverse("admin:billing_invoice_change", args=[inv.pk]),
                    )
                    for inv in overdue[:SHOWN]
                ],
            )
        )
    if user.has_perm("billing.view_billingrun"):
        runs = BillingRun.objects.filter(
            status__in=(BillingRun.Status.QUEUED, BillingRun.Status.RUNNING, BillingRun.Status.FAILED)
        ).order_by("-pk")
        queues.append(
            Queue(
                "Billing runs in progress or failed",
                reverse("admin:billing_billingrun_changelist"),
                runs.count(),
                [
                    Entry(
                        f"Run for {run.period_start:%B %Y}" + (f" — {run.customer}" if run.customer_id else ""),
                        run.get_status_display(),
                        reverse("admin:billing_billingrun_change", args=[run.pk]),
                        urgent=run.status == BillingRun.Status.FAILED,
                    )
                    for run in runs[:SHOWN]
                ],
            )
        )
    return queues


def _retention_queue(request: HttpRequest) -> list[Queue]:
    if not request.user.has_perm("privacy.manage_legal_hold"):
        return []
    url = reverse("admin:privacy_legalhold_retention_report")
    return [
        Queue(
            "Retention sweep",
            url,
            1,
            [Entry("Review the dry run", "what the next sweep will delete or anonymise, and what holds keep", url)],
        )
    ]


def queues_for(request: HttpRequest) -> list[Queue]:
    return [
        *_message_queues(request),
        *_privacy_queue(request),
        *_billing_queues(request),
        *_retention_queue(request),
    ]


_site_index = admin.site.index


def workbench_index(request: HttpRequest, extra_context=None):
    return _site_index(request, {**(extra_context or {}), "queues": queues_for(request)})


admin.site.index = workbench_index
admin.site.index_template = "admin/workbench_index.html"
