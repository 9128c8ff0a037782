from __future__ import annotations

from django.db import migrations

from accounts.groups import sync_groups


class Migration(migrations.Migration):
    """Give the staff groups their correspondence permissions (accounts.groups)."""

    dependencies = [("accounts", "0005_schedule_mail_sweep")]

    operations = [migrations.RunPython(sync_groups, migrations.RunPython.noop)]
