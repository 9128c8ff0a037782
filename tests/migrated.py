"""What the migrations alone leave in a database: run them on a fresh SQLite file.

The test database cannot say: a transactional test empties it when it ends, and the
fixtures in tests/conftest.py put the staff groups back from ``accounts.groups``. So this
migrates a new database in a separate process and reports what is in it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MIGRATE_AND_REPORT = """
import json, django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth.models import Group
from django_celery_beat.models import PeriodicTask
from portal.celery import app
app.loader.import_default_modules()
print(json.dumps({
    "scheduled": sorted(PeriodicTask.objects.values_list("task", flat=True)),
    "schedule_names": sorted(PeriodicTask.objects.values_list("name", flat=True)),
    "registered": sorted(app.tasks),
    "groups": {
        group.name: sorted(f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all())
        for group in Group.objects.prefetch_related("permissions__content_type")
    },
}))
"""


def migrate_fresh_database(folder: Path) -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "PORTAL_VAR_DIR": str(folder),
        "DATABASE_URL": f"sqlite:///{folder / 'migrated.sqlite3'}",
    }
    result = subprocess.run(
        [sys.executable, "-c", MIGRATE_AND_REPORT], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])
