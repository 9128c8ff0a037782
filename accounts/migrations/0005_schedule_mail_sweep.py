from __future__ import annotations

from django.db import migrations

TASK = 'accounts.tasks.requeue_due_messages'
NAME = 'Re-queue due and stuck emails'


def schedule_mail_sweep(apps, schema_editor) -> None:
    """Every minute: queue emails whose enqueue failed, retries that are due, stuck sends."""
    # Once, by name: running again, or after staff changed the interval in the admin, changes nothing.
    interval, _ = apps.get_model('django_celery_beat', 'IntervalSchedule').objects.get_or_create(
        every=1, period="minutes"
    )
    apps.get_model('django_celery_beat', 'PeriodicTask').objects.get_or_create(
        name=NAME,
        defaults={
            'task': TASK,
            'enabled': True,
            'description': "The mail gateway's safety net: no stored email is left unsent.",
            'interval': interval,
        },
    )


def unschedule_mail_sweep(apps, schema_editor) -> None:
    apps.get_model('django_celery_beat', 'PeriodicTask').objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [('accounts', '0004_correspondence'), ('django_celery_beat', '0019_alter_periodictasks_options')]

    operations = [migrations.RunPython(schedule_mail_sweep, unschedule_mail_sweep)]
