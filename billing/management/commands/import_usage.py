"""``manage.py import_usage FILE|-``: store bandwidth samples from a CSV (docs/usage.md)."""

from __future__ import annotations

import io
import sys

from django.core.management.base import BaseCommand, CommandError

from accounts.audit import command_actor
from billing.usage.ingest import BATCH_SIZE, ingest


class Command(BaseCommand):
    help = (
        "Import 5-minute usage samples from a CSV file (or - for standard input): service number or IP "
        "address, interval start in UTC, bytes in, bytes out. Rejected rows are listed with their line "
        "numbers; the exit status is 1 when any row was rejected, 0 when all were stored or already stored."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", help="The CSV file, or - to read standard input.")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Replace samples already stored with other counts (corrections). Without it they are rejected.",
        )
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="Rows per transaction.")
        parser.add_argument(
            "--operator",
            default="",
            help="The email of the staff login importing the file, for the audit trail. Without it the import "
            "is recorded as done by this command and the operating-system account that ran it.",
        )

    def handle(self, *args, file: str, replace: bool, batch_size: int, operator: str, **options) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            actor = command_actor(f"import_usage {file}", operator)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if file == "-":
            stream = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline="")
        else:
            try:
                stream = open(file, encoding="utf-8-sig", newline="")  # noqa: SIM115 (closed below)
            except OSError as exc:
                raise CommandError(f"Cannot read {file}: {exc.strerror}.") from None
        try:
            report = ingest(stream, actor=actor, replace=replace, batch_size=batch_size)
        except UnicodeDecodeError as exc:
            raise CommandError(
                f"{file} is not UTF-8 text ({exc}): batches written before that point are kept, the rest was not "
                "read. Fix the file and import it again (what is stored already is recognised)."
            ) from None
        finally:
            if file != "-":
                stream.close()
        for rejected in report.rejected:
            self.stderr.write(f"{file}: {rejected}")
        self.stdout.write(report.summary())
        if not report.ok:
            sys.exit(1)
