from __future__ import annotations

from django.db import migrations

TASK = 'privacy.tasks.retention_sweep'
NAME = 'Retention sweep'


def schedule_retention_sweep(apps, schema_editor) -> None:
    """Every night at 02:30 (UK time): remove or anonymise what has passed its retention."""
    # Once, by name: running again, or after staff changed the time in the admin, changes nothing.
    crontab, _ = apps.get_model('django_celery_beat', 'CrontabSchedule').objects.get_or_create(
        minute='30', hour='2', day_of_week='*', day_of_month='*', month_of_year='*', timezone='Europe/London'
    )
    apps.get_model('django_celery_beat', 'PeriodicTask').objects.get_or_create(
        name=NAME,
        defaults={
            'task': TASK,
            'enabled': True,
            'description': 'Deletes or anonymises personal data whose retention has ended, never anything under a legal hold (docs/privacy-retention.md).',
            'crontab': crontab,
        },
    )


def unschedule_retention_sweep(apps, schema_editor) -> None:
    apps.get_model('django_celery_beat', 'PeriodicTask').objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [('privacy', '0001_initial'), ('django_celery_beat', '0019_alter_periodictasks_options')]

    operations = [migrations.RunPython(schedule_retention_sweep, unschedule_retention_sweep)]
