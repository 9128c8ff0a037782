from __future__ import annotations

from django.db import migrations

from portal.schedules import ensure_schedule, remove_schedule

TASK = 'accounts.tasks.purge_expired_invitations'
NAME = 'Purge expired invitations'


def schedule_invitation_purge(apps, schema_editor) -> None:
    """Create the daily purge in the database, where staff can see and change it."""
    ensure_schedule(
        apps,
        name=NAME,
        task=TASK,
        daily_at=(3, 15),
        description='Deletes invitations 30 days after they expire (retention declared on Invitation).',
    )


def unschedule_invitation_purge(apps, schema_editor) -> None:
    remove_schedule(apps, name=NAME)


class Migration(migrations.Migration):
    dependencies = [('accounts', '0002_staff_groups'), ('django_celery_beat', '0019_alter_periodictasks_options')]

    operations = [migrations.RunPython(schedule_invitation_purge, unschedule_invitation_purge)]
