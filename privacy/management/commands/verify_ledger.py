"""Check the disclosure ledger's hash chain from the first entry to the last, its
signatures against the keys in PORTAL_LEDGER_KEYS, and its head against the checkpoints
in PORTAL_LEDGER_CHECKPOINT_DIR (docs/privacy-ledger.md)."""

from __future__ import annotations

import re

from django.core.management.base import BaseCommand, CommandError, CommandParser

from privacy.services.ledger import check_chain


def _head(value: str) -> tuple[int, str]:
    match = re.fullmatch(r"#?(\d+):([0-9a-f]{64})", value.strip().lower())
    if not match:
        raise CommandError(f"--expect takes SEQUENCE:SHA256 as printed by an earlier run, not {value!r}.")
    return int(match[1]), match[2]


class Command(BaseCommand):
    help = (
        "Verify the disclosure ledger: prints 'Ledger intact: N entries.' and exits 0, or names the "
        "first broken entry and exits 1."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--expect",
            metavar="SEQUENCE:SHA256",
            help="A head printed by an earlier run: also fail if that entry is gone or changed (a cut-short ledger).",
        )

    def handle(self, *args, expect: str | None = None, **options) -> None:
        report = check_chain(expect_head=_head(expect) if expect else None)
        if report.problem is not None:
            raise CommandError(report.problem.message)
        self.stdout.write(f"Ledger intact: {report.entries} entries.")
        if report.entries:
            self.stdout.write(f"Head: {report.head_sequence}:{report.head_hash}")
        if report.signed:
            self.stdout.write(f"Signatures checked: {report.signed}.")
        if report.checkpoints:
            self.stdout.write(f"Checkpoints checked: {report.checkpoints}.")
        for warning in report.warnings:
            self.stderr.write(f"Warning: {warning}.")
