from __future__ import annotations

from django.db import migrations

from accounts.groups import sync_groups


class Migration(migrations.Migration):
    """The privacy officer records the end of non-disclosure duties (accounts.groups)."""

    dependencies = [("privacy", "0007_disclosure_release")]

    operations = [migrations.RunPython(sync_groups, migrations.RunPython.noop)]
