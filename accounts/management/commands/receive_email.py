"""Store one raw email from standard input: for an MTA pipe (Postfix `pipe`, Exim `pipe`).

    | /path/to/.venv/bin/python /path/to/manage.py receive_email

Exits 0 once the message is stored (matched or quarantined), so the MTA never bounces
a customer's email because we could not read it; exits 75 (EX_TEMPFAIL) if it could
not be stored at all, so the MTA keeps it and tries again.
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand

from accounts.correspondence.inbound import receive

EX_TEMPFAIL = 75


class Command(BaseCommand):
    help = "Store one raw RFC 5322 message read from standard input."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--source", default="pipe", help="Recorded with the message (default: pipe).")

    def handle(self, *args, source: str, **options) -> None:
        raw = sys.stdin.buffer.read()
        try:
            message = receive(raw, source=source)
        except Exception as exc:  # the MTA retries a temporary failure; nothing is lost
            self.stderr.write(f"Could not store the message: {exc}")
            sys.exit(EX_TEMPFAIL)
        where = message.customer or "quarantine"
        self.stdout.write(f"Stored message {message.pk} ({message.get_status_display()}) for {where}.")
