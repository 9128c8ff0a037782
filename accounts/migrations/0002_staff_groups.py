from __future__ import annotations

from django.db import migrations

from accounts.groups import sync_groups


class Migration(migrations.Migration):
    """Create the staff groups (support, billing, abuse desk, privacy officer, accountant)."""

    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(sync_groups, migrations.RunPython.noop)]
