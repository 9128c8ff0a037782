from __future__ import annotations

from django.db import migrations

from portal.schedules import ensure_schedule, remove_schedule

TASK = 'privacy.tasks.retention_sweep'
NAME = 'Retention sweep'


def schedule_retention_sweep(apps, schema_editor) -> None:
    """Every night at 02:30 (UK time): remove or anonymise what has passed its retention."""
    ensure_schedule(
        apps,
        name=NAME,
        task=TASK,
        daily_at=(2, 30),
        description='Deletes or anonymises personal data whose retention has ended, never anything under a legal hold (docs/privacy-retention.md).',
    )


def unschedule_retention_sweep(apps, schema_editor) -> None:
    remove_schedule(apps, name=NAME)


class Migration(migrations.Migration):
    dependencies = [('privacy', '0001_initial'), ('django_celery_beat', '0019_alter_periodictasks_options')]

    operations = [migrations.RunPython(schedule_retention_sweep, unschedule_retention_sweep)]
