"""Collect email from a Maildir into the inbound archive.

Each message is stored (or recognised as already stored) before it is removed from
the Maildir, so a crash mid-run loses nothing and a rerun stores nothing twice.
IMAP is not supported: fetch from IMAP into a Maildir with fetchmail or mbsync.
"""

from __future__ import annotations

import mailbox

from django.core.management.base import BaseCommand, CommandError

from accounts.correspondence.inbound import receive


class Command(BaseCommand):
    help = "Store every message in a Maildir in the inbound archive, then remove it (or --keep it)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("maildir", help="Path of the Maildir (with new/, cur/ and tmp/).")
        parser.add_argument("--keep", action="store_true", help="Mark messages as seen instead of removing them.")

    def handle(self, *args, maildir: str, keep: bool, **options) -> None:
        try:
            box = mailbox.Maildir(maildir, factory=None, create=False)
            keys = list(box.iterkeys())
        except (OSError, mailbox.Error) as exc:
            raise CommandError(f"Cannot read the Maildir {maildir!r}: {exc}") from exc
        stored = failed = 0
        for key in keys:
            try:
                raw = box.get_bytes(key)
                receive(raw, source=f"maildir:{maildir}")
            except KeyError:
                continue  # removed by a concurrent run
            except Exception as exc:  # keep it in the Maildir for the next run
                failed += 1
                self.stderr.write(f"Message {key}: not stored ({exc}); left in the Maildir.")
                continue
            stored += 1
            if keep:
                msg = box.get_message(key)
                msg.set_subdir("cur")
                msg.add_flag("S")
                box[key] = msg
            else:
                box.discard(key)
        self.stdout.write(f"Stored {stored} message(s); {failed} left for the next run.")
        if failed:
            raise CommandError(f"{failed} message(s) could not be stored.")
