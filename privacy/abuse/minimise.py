"""What each party is shown of a case: the minimum it needs (docs/abuse.md).

- The **customer** learns what was reported, when, from which of their services and what
  they must do. A reporter who is a person is not named unless they agreed; an
  organisation is. Email addresses in the reporter's words are removed, unless the
  reporter may be named. Evidence goes only as far as staff marked it as needed.
- An **affected operator** learns the addresses, ports, times and type: never the
  customer's name or anything else about them.
- A **complainant** learns what was done; the customer is not named.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from privacy.abuse.models import AbuseCase, AbuseReport

_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
WITHHELD = "A member of the public (their details are withheld)"


def reporter_shown(report: AbuseReport) -> str:
    if report.reporter_is_organisation or report.reporter_may_be_named:
        return report.reporter_org or report.reporter_contact or "Not given"
    return WITHHELD


def scrub(text: str, report: AbuseReport) -> str:
    """The reporter's words without email addresses, unless the reporter may be named."""
    if report.reporter_may_be_named:
        return text
    return _EMAIL.sub("[address removed]", text)


@dataclass(frozen=True)
class ReportForCustomer:
    received_at: object
    event_time: object
    source_ip: str
    source_port: int | None
    category: str
    type: str
    reporter: str
    summary: str


def report_for_customer(report: AbuseReport) -> ReportForCustomer:
    return ReportForCustomer(
        received_at=report.received_at,
        event_time=report.event_time,
        source_ip=report.source_ip or "",
        source_port=report.source_port,
        category=report.get_category_display() if report.category else "",
        type=report.get_type_display() if report.type else "",
        reporter=reporter_shown(report),
        summary=scrub(report.summary, report),
    )


def reports_for_customer(case: AbuseCase, *, limit: int = 50) -> list[ReportForCustomer]:
    reports = case.reports.exclude(status=AbuseReport.Status.DUPLICATE).order_by("event_time", "pk")[:limit]
    return [report_for_customer(r) for r in reports]


@dataclass(frozen=True)
class EventForOperator:
    source_ip: str
    source_port: int | None
    event_time: object
    type: str


def events_for_operator(case: AbuseCase, *, limit: int = 200) -> list[EventForOperator]:
    """Addresses, ports, times and the type: nothing about the customer."""
    reports = case.reports.exclude(status=AbuseReport.Status.DUPLICATE).order_by("event_time", "pk")[:limit]
    return [EventForOperator(r.source_ip or "", r.source_port, r.event_time, case.get_type_display()) for r in reports]


def names_the_customer(text: str, case: AbuseCase) -> list[str]:
    """What in ``text`` identifies the customer (their names, their contacts' addresses)."""
    customer = case.customer
    found = []
    lowered = text.lower()
    for name in {customer.registered_name, customer.trading_name}:
        if name and name.lower() in lowered:
            found.append(name)
    for address in customer.memberships.values_list("user__email", flat=True):
        if address and address.lower() in lowered:
            found.append(address)
    return found
