"""``manage.py backup FOLDER``: the database and every private file, with a manifest."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from portal.backups import BackupError, make_backup


class Command(BaseCommand):
    help = "Back up the database and every private file (with their SHA-256) into a new folder."

    def add_arguments(self, parser) -> None:
        parser.add_argument("folder", type=Path, help="A folder that does not exist yet, or is empty.")

    def handle(self, *args, folder: Path, **options) -> None:
        try:
            backup = make_backup(folder)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Backed up the database ({backup.database}) and {len(backup.files)} file(s) to {folder}.")
