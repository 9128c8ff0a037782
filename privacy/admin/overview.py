"""Privacy's sections of the customer overview (accounts.overview): the customer's privacy
requests, and their legal holds for staff who may see holds (the customer never learns of
one, and neither does staff without the permission: the section is simply absent)."""

from __future__ import annotations

from django.db.models import F
from django.http import HttpRequest

from accounts import overview
from accounts.models import Customer
from privacy.admin.requests import days_left_text
from privacy.models import DataSubjectRequest, LegalHold


@overview.section(80)
def requests_section(request: HttpRequest, customer: Customer) -> overview.Section | None:
    if not request.user.has_perm("privacy.view_datasubjectrequest"):
        return None
    shown, total = overview.latest(DataSubjectRequest.objects.filter(customer=customer).order_by("-received_at", "-pk"))
    rows = [
        (
            overview.Link(
                f"{dsr.get_kind_display()} #{dsr.pk}", overview.admin_url("privacy_datasubjectrequest_change", dsr.pk)
            ),
            dsr.get_status_display(),
            overview.when(dsr.received_at),
            days_left_text(dsr)[0],
        )
        for dsr in shown
    ]
    actions = []
    if request.user.has_perm("privacy.add_datasubjectrequest"):
        url = overview.admin_url("privacy_datasubjectrequest_add", customer=customer.pk)
        actions.append(overview.Link("Start a privacy request", url))
    return overview.Section(
        "privacy-requests",
        "Privacy requests",
        ("Request", "Status", "Received", "Days left"),
        rows=rows,
        total=total,
        all_url=overview.admin_url("privacy_datasubjectrequest_changelist", customer=customer.pk),
        actions=actions,
        empty="No privacy requests.",
    )


@overview.section(90)
def holds_section(request: HttpRequest, customer: Customer) -> overview.Section | None:
    if not request.user.has_perm("privacy.view_legalhold"):
        return None
    holds = LegalHold.objects.filter(customer=customer).select_related("target_type", "placed_by", "customer")
    # Holds in force first, then the lifted ones, newest first.
    shown, total = overview.latest(holds.order_by(F("lifted_at").desc(nulls_first=True), "-placed_at", "-pk"))
    rows = [
        (
            overview.Link(
                f"{hold.target_type.model} {hold.target_id}" if hold.target_type_id else "All records",
                overview.admin_url("privacy_legalhold_change", hold.pk),
            ),
            hold.reason if len(hold.reason) <= 80 else hold.reason[:79] + "…",
            f"{overview.when(hold.placed_at)} by {hold.placed_by}",
            "In force" if hold.lifted_at is None else f"Lifted {overview.when(hold.lifted_at)}",
        )
        for hold in shown
    ]
    actions = []
    if request.user.has_perm("privacy.manage_legal_hold"):
        actions.append(overview.Link("Place a hold", overview.admin_url("privacy_legalhold_add", customer=customer.pk)))
    return overview.Section(
        "legal-holds",
        "Legal holds",
        ("Held", "Reason", "Placed", "State"),
        rows=rows,
        total=total,
        all_url=overview.admin_url("privacy_legalhold_changelist", customer=customer.pk),
        actions=actions,
        empty="No legal holds.",
    )
