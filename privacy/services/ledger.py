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
is still a valid chain), nor an entry forged by someone who can write the database and
run this code. Two things kept outside the database close those gaps:

- a **key** (``PORTAL_LEDGER_KEYS``): each entry carries an HMAC of its hash under the
  current key, and the key's id, so entries cannot be forged without the key; keys
  rotate by adding a new one last and keeping the old ones to verify older entries;
- **checkpoints** of the head (``write_checkpoint``, ``manage.py checkpoint_ledger``,
  daily from beat) written to ``PORTAL_LEDGER_CHECKPOINT_DIR``, a place the database's
  users cannot rewrite: ``check_chain`` fails if an entry a checkpoint recorded is gone
  or differs, as it does for a head passed back with ``verify_ledger --expect``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.audit import Actor, person
from core.registry import Category
from privacy.models import DisclosureEntry, DisclosureRelease

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
    actor: Actor,
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
        actor=person(actor),
        # Whole seconds: every database stores them exactly, so the hash recomputes.
        created_at=timezone.now().replace(microsecond=0),
        withheld=withheld,
        withheld_until=withheld_until,
        withheld_reason=withheld_reason,
    )
    entry.entry_hash = entry.compute_hash()
    if settings.PORTAL_LEDGER_KEYS:
        entry.key_id, secret = settings.PORTAL_LEDGER_KEYS[-1]
        entry.signature = entry.compute_signature(secret)
    entry.save(force_insert=True)
    entry.customers.set(customers)
    return entry


@dataclass(frozen=True)
class ChainProblem:
    """The first entry at which the chain breaks, and what is wrong with it.

    ``sequence`` is 0 when the ledger could not be checked at all (an unreadable
    checkpoint)."""

    sequence: int
    problem: str

    def __str__(self) -> str:
        return f"Entry #{self.sequence}: {self.problem}"

    @property
    def message(self) -> str:
        if not self.sequence:
            return f"Ledger cannot be verified: {self.problem}."
        return f"Ledger broken at entry #{self.sequence}: {self.problem}."


@dataclass(frozen=True)
class ChainReport:
    entries: int
    head_sequence: int
    head_hash: str
    problem: ChainProblem | None
    signed: int = 0  # entries whose signature was checked with a configured key
    checkpoints: int = 0  # checkpoints the chain was checked against
    warnings: tuple[str, ...] = ()  # what this check could not cover, for the operator

    @property
    def intact(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class Checkpoint:
    """A head of the chain (sequence and hash) recorded outside the database."""

    sequence: int
    entry_hash: str
    source: str  # where it was recorded: a file, or "--expect"
    written_at: str = ""


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read: the ledger cannot be verified against it."""


CHECKPOINT_NAME = re.compile(r"ledger-checkpoint-\d+-\d{8}T\d{6}Z?(?:-\d+)?\.txt")


def write_checkpoint(directory: str | os.PathLike | None = None) -> Path | None:
    """Record the chain's head in a new file in ``directory`` (``PORTAL_LEDGER_CHECKPOINT_DIR``).

    The chain is checked first, against the keys and earlier checkpoints: a broken chain
    is never checkpointed (``ValueError`` naming the problem). Each checkpoint is a new
    file, never overwritten. Returns its path, or None for an empty ledger.
    """
    directory = Path(directory or settings.PORTAL_LEDGER_CHECKPOINT_DIR or "")
    if not str(directory) or str(directory) == ".":
        raise ValueError("No checkpoint directory: set PORTAL_LEDGER_CHECKPOINT_DIR.")
    report = check_chain(checkpoint_dir=directory)
    if report.problem is not None:
        raise ValueError(f"Not checkpointed: {report.problem.message}")
    if not report.entries:
        return None
    written = timezone.now().replace(microsecond=0)
    content = f"sequence: {report.head_sequence}\nhash: {report.head_hash}\nwritten: {written.isoformat()}\n"
    stem = f"ledger-checkpoint-{report.head_sequence:012d}-{written:%Y%m%dT%H%M%SZ}"
    for attempt in range(100):
        path = directory / (f"{stem}.txt" if not attempt else f"{stem}-{attempt}.txt")
        try:
            with open(path, "x", encoding="ascii") as handle:  # never overwrites a checkpoint
                handle.write(content)
        except FileExistsError:
            continue
        return path
    raise ValueError(f"Could not name a new checkpoint file in {directory}.")


def read_checkpoints(directory: str | os.PathLike | None = None) -> list[Checkpoint]:
    """Every checkpoint in ``directory`` (default ``PORTAL_LEDGER_CHECKPOINT_DIR``; none if unset)."""
    directory = directory or settings.PORTAL_LEDGER_CHECKPOINT_DIR
    if not directory:
        return []
    folder = Path(directory)
    try:
        names = sorted(p for p in folder.iterdir() if p.name.startswith("ledger-checkpoint-"))
    except OSError as exc:
        raise CheckpointError(f"the checkpoint directory {str(folder)!r} cannot be read ({exc.strerror})") from exc
    checkpoints = []
    for path in names:
        try:
            fields = dict(line.split(": ", 1) for line in path.read_text(encoding="ascii").splitlines() if line.strip())
            sequence, entry_hash = int(fields["sequence"]), fields["hash"]
            if sequence < 1 or not re.fullmatch(r"[0-9a-f]{64}", entry_hash):
                raise ValueError("not a sequence number and a SHA-256")
        except (OSError, ValueError, KeyError) as exc:
            raise CheckpointError(f"the checkpoint {path.name} cannot be read ({exc})") from exc
        checkpoints.append(Checkpoint(sequence, entry_hash, path.name, fields.get("written", "")))
    return checkpoints


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


def check_chain(
    *,
    expect_head: tuple[int, str] | None = None,
    batch_size: int = 2000,
    keys: Sequence[tuple[str, str]] | None = None,
    signed_from: int | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
) -> ChainReport:
    """Walk the whole chain in sequence order and report the first broken link.

    Detects an altered entry (its hash no longer matches its content, or a value in it is
    malformed), an inserted or deleted entry (sequence gap or previous-hash mismatch), and
    altered customer links. With keys (default ``PORTAL_LEDGER_KEYS``) it also checks each
    entry's signature, so an entry written by anyone without the key fails, and entries
    from ``signed_from`` (``PORTAL_LEDGER_SIGNED_FROM``) on must be signed. Each checkpoint
    (in ``checkpoint_dir``, default ``PORTAL_LEDGER_CHECKPOINT_DIR``) and ``expect_head``, a
    (sequence, hash) pair recorded earlier, must still be in the chain, unchanged: that
    is how a deleted tail, or a chain rewritten since, shows.
    """
    keys = dict(settings.PORTAL_LEDGER_KEYS if keys is None else keys)
    signed_from = settings.PORTAL_LEDGER_SIGNED_FROM if signed_from is None else signed_from
    expected_previous, expected_sequence = DisclosureEntry.GENESIS, 1
    count = signed = unverified = 0
    head_sequence, head_hash = 0, DisclosureEntry.GENESIS
    warnings: list[str] = []
    try:
        recorded = read_checkpoints(checkpoint_dir)
    except CheckpointError as exc:
        return ChainReport(0, 0, DisclosureEntry.GENESIS, ChainProblem(0, str(exc)))
    if expect_head is not None:
        recorded.append(Checkpoint(expect_head[0], expect_head[1], "--expect"))
    heads: dict[int, list[Checkpoint]] = {}
    for checkpoint in recorded:
        heads.setdefault(checkpoint.sequence, []).append(checkpoint)

    def report(problem: ChainProblem | None) -> ChainReport:
        return ChainReport(count, head_sequence, head_hash, problem, signed, len(recorded), tuple(warnings))

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
        unsigned = _signature_problem(entry, keys, signed_from)
        if unsigned is None:
            unverified += bool(entry.signature)
        elif unsigned:
            return report(ChainProblem(entry.sequence, unsigned))
        else:
            signed += bool(entry.signature)
        for checkpoint in heads.pop(entry.sequence, []):
            if entry.entry_hash != checkpoint.entry_hash:
                differs = f"its hash differs from the one recorded earlier ({checkpoint.source})"
                return report(ChainProblem(entry.sequence, differs))
        count += 1
        head_sequence, head_hash = entry.sequence, entry.entry_hash
        expected_previous, expected_sequence = entry.entry_hash, entry.sequence + 1
    if heads:
        sequence = min(heads)
        return report(
            ChainProblem(
                sequence,
                f"entry #{sequence} recorded earlier ({heads[sequence][0].source}) is gone (the ledger was cut short)",
            )
        )
    if not keys:
        warnings.append(
            "PORTAL_LEDGER_KEYS is not set: entries are not signed, so an entry forged with this code would pass"
            + (f" ({unverified} signed entries were not checked)" if unverified else "")
        )
    if not settings.PORTAL_LEDGER_CHECKPOINT_DIR and checkpoint_dir is None:
        warnings.append("PORTAL_LEDGER_CHECKPOINT_DIR is not set: the head is checked against no checkpoint")
    return report(None)


def _signature_problem(entry: DisclosureEntry, keys: dict[str, str], signed_from: int) -> str | None:
    """What is wrong with ``entry``'s signature: "" when it checks out (or need not be
    signed), None when no key is configured to check it with."""
    if not keys:
        return None
    if not entry.signature and not entry.key_id:
        if entry.sequence >= signed_from:
            return (
                "it is not signed with the ledger key (forged; or recorded before PORTAL_LEDGER_KEYS was set, "
                "in which case set PORTAL_LEDGER_SIGNED_FROM to the first signed entry's number)"
            )
        return ""
    secret = keys.get(entry.key_id)
    if secret is None:
        return f"it is signed with the key {entry.key_id!r}, which PORTAL_LEDGER_KEYS does not hold"
    if not hmac.compare_digest(entry.compute_signature(secret), entry.signature):
        return "its signature does not match: it was not recorded with the ledger key"
    return ""


def verify_chain(*, batch_size: int = 2000) -> ChainProblem | None:
    """The first broken link of the chain, or None when every entry checks out."""
    return check_chain(batch_size=batch_size).problem


@transaction.atomic
def release_withheld(entry: DisclosureEntry, *, ends_on: dt.date, reason: str, actor):
    """Record that the non-disclosure duty on ``entry`` ends on ``ends_on`` (once, never changed)."""
    if not entry.withheld:
        raise ValueError(f"Disclosure #{entry.sequence} was never withheld from the customer.")
    if entry.withheld_until is not None:
        raise ValueError(f"Disclosure #{entry.sequence} already ends its duty on {entry.withheld_until}.")
    if not reason.strip():
        raise ValueError("Say why the duty has ended (e.g. the authority's letter).")
    if DisclosureRelease.objects.filter(entry=entry).exists():
        raise ValueError(f"The end of the duty on disclosure #{entry.sequence} is already recorded.")
    return DisclosureRelease.objects.create(entry=entry, ends_on=ends_on, reason=reason.strip(), decided_by=actor)
