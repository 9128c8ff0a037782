from __future__ import annotations

from django.db import migrations

TASK = 'privacy.tasks.expire_exports'
NAME = 'Expire data-subject exports'


def schedule(apps, schema_editor) -> None:
    """Hourly: delete the files of expired exports and re-queue exports the broker dropped."""
    # Once, by name: running again, or after staff changed the interval in the admin, changes nothing.
    interval, _ = apps.get_model('django_celery_beat', 'IntervalSchedule').objects.get_or_create(
        every=1, period="hours"
    )
    apps.get_model('django_celery_beat', 'PeriodicTask').objects.get_or_create(
        name=NAME,
        defaults={
            'task': TASK,
            'enabled': True,
            'description': 'Exports are downloadable for 7 days; then their files are deleted.',
            'interval': interval,
        },
    )


def unschedule(apps, schema_editor) -> None:
    apps.get_model('django_celery_beat', 'PeriodicTask').objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [('privacy', '0005_privacy_group_permissions'), ('django_celery_beat', '0019_alter_periodictasks_options')]

    operations = [migrations.RunPython(schedule, unschedule)]
