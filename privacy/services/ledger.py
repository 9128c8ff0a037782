"""The disclosure ledger's one write path (docs/privacy-ledger.md).

``record_disclosure`` appends an entry whose hash covers its content and the previous
entry's hash, so altering, inserting or deleting a row breaks the chain, and
``check_chain`` (``manage.py verify_ledger``, the admin's "Verify the chain") finds the
first broken entry.

Appends are serialised so that two concurrent disclosures never share a sequence number
or a previous hash. On PostgreSQL a transaction-scoped advisory lock does it: locking the
chain's last row with ``SELECT ... FOR UPDATE`` is not enough, because a waiter that gets
the lock after the holder commits still sees the *old* last row (READ COMMITTED
re-checks the locked row, not the ``ORDER BY ... LIMIT 1``), and an empty ledger has no
row to lock at all. SQLite's IMMEDIATE transactions (portal.settings) serialise writers
anyway. The advisory lock is released at commit or rollback, so a disclosure recorded
inside a caller's transaction holds it until that transaction ends: keep such
transactions short.

What the chain cannot see on its own is the loss of the newest entries (a truncated tail
is still a valid chain). ``check_chain`` reports the head's sequence and hash; an operator
who keeps them elsewhere can pass them back (``verify_ledger --expect``) to detect that.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from core.registry import Category
from privacy.models import DisclosureEntry

# pg_advisory_xact_lock takes a bigint; this one is ours alone ("ledger" in ASCII).
_LEDGER_LOCK_KEY = 0x6C6564676572


def artefact_hash(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _lock_the_chain() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LEDGER_LOCK_KEY])


@transaction.atomic
def record_disclosure(
    *,
    recipient_kind: str,
    recipient: str,
    purpose: str,
    legal_basis: str,
    categories: Iterable[str],
    customers: Iterable = (),
    summary: str = "",
    artefact_sha256: str = "",
    recipient_address: str = "",
    actor=None,
    withheld: bool = False,
    withheld_until: dt.date | None = None,
    withheld_reason: str = "",
) -> DisclosureEntry:
    """Append one disclosure to the ledger and return it.

    ``categories`` are ``core.registry.Category`` values (customers see their
    descriptions); ``legal_basis`` is a ``LawfulBasis`` value or the text of the law relied
    on (e.g. "Investigatory Powers Act 2016 s.61"). A ``withheld`` entry is one we may not
    tell the customer about (a lawful non-disclosure duty): it stays off their page until
    ``withheld_until``, or for good while that date is unknown.
    """
    if recipient_kind not in DisclosureEntry.Recipient.values:
        raise ValueError(f"Unknown recipient kind {recipient_kind!r}.")
    if not recipient.strip() or not purpose.strip() or not legal_basis.strip():
        raise ValueError("A disclosure needs a recipient, a purpose and a legal basis.")
    categories = sorted(set(categories))
    unknown = [c for c in categories if c not in {known.value for known in Category}]
    if unknown:
        raise ValueError(f"Unknown data categories {unknown}; use core.registry.Category.")
    if withheld and not withheld_reason:
        raise ValueError("A withheld disclosure needs the legal reason the customer may not be told.")
    if not withheld and (withheld_until or withheld_reason):
        raise ValueError("Only a withheld disclosure has a non-disclosure end date or reason.")
    customers = list(customers)

    _lock_the_chain()
    last = DisclosureEntry.objects.select_for_update().order_by("-sequence").only("sequence", "entry_hash").first()
    entry = DisclosureEntry(
        sequence=(last.sequence + 1) if last else 1,
        previous_hash=last.entry_hash if last else DisclosureEntry.GENESIS,
        recipient_kind=recipient_kind,
        recipient=recipient,
        recipient_address=recipient_address,
        purpose=purpose,
        legal_basis=legal_basis,
        categories=categories,
        customer_ids=sorted({c.pk for c in customers}),
        summary=summary,
        artefact_sha256=artefact_sha256,
        actor=actor,
        # Whole seconds: every database stores them exactly, so the hash recomputes.
        created_at=timezone.now().replace(microsecond=0),
        withheld=withheld,
        withheld_until=withheld_until,
        withheld_reason=withheld_reason,
    )
    entry.entry_hash = entry.compute_hash()
    entry.save(force_insert=True)
    entry.customers.set(customers)
    return entry


@dataclass(frozen=True)
class ChainProblem:
    """The first entry at which the chain breaks, and what is wrong with it."""

    sequence: int
    problem: str

    def __str__(self) -> str:
        return f"Entry #{self.sequence}: {self.problem}"


@dataclass(frozen=True)
class ChainReport:
    entries: int
    head_sequence: int
    head_hash: str
    problem: ChainProblem | None

    @property
    def intact(self) -> bool:
        return self.problem is None


def _malformed(entry: DisclosureEntry) -> str:
    """What makes ``entry`` unreadable as a ledger entry (a value no code of ours writes),
    or an empty string. A row altered to hold such a value is reported, not crashed on."""
    if not isinstance(entry.categories, list) or not all(isinstance(c, str) for c in entry.categories):
        return f"its content is malformed: categories is {entry.categories!r}, not a list of category names"
    ids = entry.customer_ids
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        return f"its content is malformed: customer_ids is {ids!r}, not a list of customer numbers"
    if entry.created_at is None:
        return "its content is malformed: it has no date"
    try:
        entry.compute_hash()
    except (TypeError, ValueError, AttributeError) as exc:
        return f"its content is malformed: {exc}"
    return ""


def check_chain(*, expect_head: tuple[int, str] | None = None, batch_size: int = 2000) -> ChainReport:
    """Walk the whole chain in sequence order and report the first broken link.

    Detects an altered entry (its hash no longer matches its content, or a value in it is
    malformed), an inserted or deleted entry (sequence gap or previous-hash mismatch), and
    altered customer links.
    ``expect_head`` is a (sequence, hash) pair recorded earlier: the check also fails if
    that entry is gone or differs, which is how a deleted tail shows.
    """
    expected_previous, expected_sequence = DisclosureEntry.GENESIS, 1
    count, head_sequence, head_hash = 0, 0, DisclosureEntry.GENESIS
    expected_head_seen = expect_head is None

    def report(problem: ChainProblem | None) -> ChainReport:
        return ChainReport(count, head_sequence, head_hash, problem)

    entries = DisclosureEntry.objects.order_by("sequence").prefetch_related("customers")
    for entry in entries.iterator(chunk_size=batch_size):
        if entry.sequence > expected_sequence:
            return report(
                ChainProblem(expected_sequence, f"entry #{expected_sequence} is missing (next is #{entry.sequence})")
            )
        if entry.sequence < expected_sequence:
            return report(ChainProblem(entry.sequence, "is out of place: it was inserted before the first entry"))
        if entry.previous_hash != expected_previous:
            return report(ChainProblem(entry.sequence, "does not follow the entry before it (inserted or reordered)"))
        malformed = _malformed(entry)
        if malformed:
            return report(ChainProblem(entry.sequence, malformed))
        if entry.compute_hash() != entry.entry_hash:
            return report(ChainProblem(entry.sequence, "its content was altered after it was recorded"))
        if sorted(c.pk for c in entry.customers.all()) != sorted(entry.customer_ids):
            return report(ChainProblem(entry.sequence, "the customers it is linked to were altered"))
        if expect_head is not None and entry.sequence == expect_head[0]:
            if entry.entry_hash != expect_head[1]:
                return report(ChainProblem(entry.sequence, "its hash differs from the one recorded earlier"))
            expected_head_seen = True
        count += 1
        head_sequence, head_hash = entry.sequence, entry.entry_hash
        expected_previous, expected_sequence = entry.entry_hash, entry.sequence + 1
    if not expected_head_seen:
        return report(
            ChainProblem(expect_head[0], f"entry #{expect_head[0]} recorded earlier is gone (the ledger was cut short)")
        )
    return report(None)


def verify_chain(*, batch_size: int = 2000) -> ChainProblem | None:
    """The first broken link of the chain, or None when every entry checks out."""
    return check_chain(batch_size=batch_size).problem


@transaction.atomic
def release_withheld(entry: DisclosureEntry, *, ends_on: dt.date, reason: str, actor):
    """Record that the non-disclosure duty on ``entry`` ends on ``ends_on`` (once, never changed)."""
    from privacy.models import DisclosureRelease

    if not entry.withheld:
        raise ValueError(f"Disclosure #{entry.sequence} was never withheld from the customer.")
    if entry.withheld_until is not None:
        raise ValueError(f"Disclosure #{entry.sequence} already ends its duty on {entry.withheld_until}.")
    if not reason.strip():
        raise ValueError("Say why the duty has ended (e.g. the authority's letter).")
    if DisclosureRelease.objects.filter(entry=entry).exists():
        raise ValueError(f"The end of the duty on disclosure #{entry.sequence} is already recorded.")
    return DisclosureRelease.objects.create(entry=entry, ends_on=ends_on, reason=reason.strip(), decided_by=actor)
