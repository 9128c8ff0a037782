"""Write a checkpoint of the disclosure ledger's head to PORTAL_LEDGER_CHECKPOINT_DIR.

Run it from cron (or let beat run privacy.tasks.checkpoint_ledger daily) with the
directory on storage the database's users cannot rewrite; verify_ledger then checks the
chain against every checkpoint there (docs/privacy-ledger.md).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from privacy.services.ledger import write_checkpoint


class Command(BaseCommand):
    help = "Verify the disclosure ledger and record its head in a new checkpoint file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dir", help="Where to write it (default: PORTAL_LEDGER_CHECKPOINT_DIR).")

    def handle(self, *args, dir: str | None = None, **options) -> None:
        try:
            path = write_checkpoint(dir)
        except (ValueError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        if path is None:
            self.stdout.write("The ledger is empty: nothing to checkpoint.")
        else:
            self.stdout.write(f"Checkpoint written: {path}")
