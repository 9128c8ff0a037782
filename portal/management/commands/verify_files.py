"""``manage.py verify_files``: every file a row refers to is there and unaltered."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from portal.backups import verify_files


class Command(BaseCommand):
    help = "Check that every private file a record refers to exists and matches its recorded SHA-256."

    def handle(self, *args, **options) -> None:
        problems = verify_files()
        for problem in problems:
            self.stderr.write(problem)
        if problems:
            raise CommandError(f"{len(problems)} stored file(s) are missing or altered.")
        self.stdout.write("Every stored file is present and matches its record.")
