"""Data-subject export of a customer with ten years of history: seconds and peak memory.

Ten years of a busy customer: 3,000 emails each way (bulk-inserted, ~1.5 KB of text
each, in varied words), 20 services with 3 IP assignments each, 5 contacts, and 120 monthly accountant
disclosures in the ledger. Invoices do not exist yet (billing is a later issue); when
they are declared in the registry the export picks them up and this benchmark with them.

Run through `make bench` (bench/run.py), which prepares a scratch database.
"""

from __future__ import annotations

import datetime as dt
import random
import resource
import sys
import time
import tracemalloc

N_MESSAGES = 6000
N_SERVICES = 20
IPS_PER_SERVICE = 3
N_CONTACTS = 5
N_MONTHS = 120


def _maxrss_mib() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024  # bytes on macOS, KiB on Linux


def _history(customer, contacts) -> None:
    from django.utils import timezone

    from accounts.correspondence.models import MailKind, Message
    from core.registry import Category
    from privacy.services.ledger import record_disclosure
    from tests.accounts.factories import IPAssignmentFactory, ServiceFactory

    start = timezone.now() - dt.timedelta(days=3650)
    # Varied text, so that the ZIP compresses like real mail rather than one repeated line.
    words = [
        "server", "reboot", "invoice", "backup", "disk", "network", "traffic", "address", "renewal", "payment",
        "kernel", "upgrade", "ticket", "thanks", "please", "regards", "outage", "maintenance", "window", "monitor",
    ]  # fmt: skip
    rng = random.Random(2016)
    messages = []
    for i in range(N_MESSAGES):
        outbound = i % 2 == 0
        contact = contacts[i % len(contacts)]
        messages.append(
            Message(
                customer=customer,
                direction=Message.Direction.OUTBOUND if outbound else Message.Direction.INBOUND,
                kind=MailKind.BILLING if i % 3 == 0 else MailKind.SERVICE,
                status=Message.Status.SENT if outbound else Message.Status.RECEIVED,
                message_id=f"bench-{i}@bench.example",
                from_address="support@hosting.example" if outbound else contact.email,
                to_addresses=[contact.email] if outbound else ["support@hosting.example"],
                subject=f"Message {i} about service web-{i % N_SERVICES:02d}",
                body_text=" ".join(rng.choice(words) for _ in range(220)),
                headers={"X-Bench": str(i)},
                created_at=start + dt.timedelta(minutes=876 * i),
            )
        )
    # Message.save refuses rewrites of stored mail; inserting history in bulk is fine.
    Message.objects.bulk_create(messages, batch_size=500)
    for s in range(N_SERVICES):
        service = ServiceFactory(customer=customer, name=f"web-{s:02d}")
        for a in range(IPS_PER_SERVICE):
            IPAssignmentFactory(service=service, network=f"10.{s}.{a}.0/29")
    for month in range(N_MONTHS):
        record_disclosure(
            recipient_kind="accountant",
            recipient="Example Accountants LLP",
            purpose=f"Monthly bookkeeping, month {month + 1}",
            legal_basis="legal_obligation",
            categories=[Category.FINANCIAL, Category.IDENTITY],
            customers=[customer],
        )


def run() -> dict:
    from django.core.files.storage import default_storage

    from accounts import roles
    from privacy.models import DataExport
    from privacy.services import export as export_service
    from privacy.services import what_we_hold
    from tests.accounts.factories import CustomerFactory, MembershipFactory, ProviderDetailsFactory

    ProviderDetailsFactory()
    customer = CustomerFactory()
    contacts = [
        MembershipFactory(customer=customer, role=roles.Role.OWNER if i == 0 else roles.Role.TECHNICAL).user
        for i in range(N_CONTACTS)
    ]
    _history(customer, contacts)
    owner = contacts[0]
    rss_before = _maxrss_mib()

    # Timed without tracemalloc (it slows allocation-heavy code several-fold).
    export = DataExport.objects.create(requested_by=owner, customer=customer)
    started = time.perf_counter()
    export = export_service.build_export(export.pk)
    seconds = time.perf_counter() - started
    assert export.status == DataExport.Status.READY, export.error
    size_mib = default_storage.size(export.file.name) / (1024 * 1024)
    rss_after = _maxrss_mib()

    # The same export again, to measure the peak of Python allocations during the build.
    second = DataExport.objects.create(requested_by=owner, customer=customer)
    tracemalloc.start()
    export_service.build_export(second.pk)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rows = sum(section.total for section in what_we_hold.what_we_hold(customer))
    conditions = f"{N_MESSAGES:,} emails, {N_SERVICES} services × {IPS_PER_SERVICE} IPs, {N_CONTACTS} contacts"
    return {
        "title": "Data-subject export (ten years of history)",
        "rows": [
            (
                "Export built (walk registry, ZIP, hash, store, ledger)",
                f"{seconds:.2f} s",
                f"{conditions}; ~{rows:,} rows",
            ),
            ("ZIP size", f"{size_mib:.1f} MiB", "JSON + CSV per model, deflated"),
            ("Peak Python memory during the build (tracemalloc)", f"{peak / (1024 * 1024):.1f} MiB", "rows streamed"),
            (
                "Process peak RSS (getrusage maxrss)",
                f"{rss_after:.0f} MiB",
                f"{rss_before:.0f} MiB before the first export (Django, data set-up)",
            ),
        ],
    }
