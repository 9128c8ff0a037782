from __future__ import annotations

from django.db import migrations

from accounts.groups import sync_groups


class Migration(migrations.Migration):
    """Give the staff groups their privacy permissions (accounts.groups): the privacy officer
    handles requests, holds and policies; support logs requests received by letter or phone."""

    dependencies = [
        ("privacy", "0004_schedule_policy_notices"),
        ("accounts", "0006_message_permissions_for_staff"),
    ]

    operations = [migrations.RunPython(sync_groups, migrations.RunPython.noop)]
