"""``manage.py restore FOLDER``: a backup into an empty database and file storage."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from portal.backups import BackupError, restore_backup, verify_files


class Command(BaseCommand):
    help = "Restore a backup made by `manage.py backup` into an empty database and empty file storage."

    def add_arguments(self, parser) -> None:
        parser.add_argument("folder", type=Path)

    def handle(self, *args, folder: Path, **options) -> None:
        try:
            restored = restore_backup(folder)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        problems = verify_files()
        for problem in problems:
            self.stderr.write(problem)
        if problems:
            raise CommandError(f"Restored, but {len(problems)} stored file(s) are missing or altered (listed above).")
        self.stdout.write(f"Restored the database and {restored} file(s); every stored file matches its record.")
