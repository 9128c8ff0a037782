from __future__ import annotations

from django.db import migrations

from portal.schedules import ensure_schedule, remove_schedule

TASK = 'privacy.tasks.expire_exports'
NAME = 'Expire data-subject exports'


def schedule(apps, schema_editor) -> None:
    """Hourly: delete the files of expired exports and re-queue exports the broker dropped."""
    ensure_schedule(
        apps,
        name=NAME,
        task=TASK,
        every=(1, "hours"),
        description='Exports are downloadable for 7 days; then their files are deleted.',
    )


def unschedule(apps, schema_editor) -> None:
    remove_schedule(apps, name=NAME)


class Migration(migrations.Migration):
    dependencies = [('privacy', '0005_privacy_group_permissions'), ('django_celery_beat', '0019_alter_periodictasks_options')]

    operations = [migrations.RunPython(schedule, unschedule)]
