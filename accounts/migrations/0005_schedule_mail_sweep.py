from __future__ import annotations

from django.db import migrations

TASK = "accounts.correspondence.tasks.requeue_due_messages"
NAME = "Re-queue due and stuck emails"


def schedule_mail_sweep(apps, schema_editor) -> None:
    """Every minute: queue emails whose enqueue failed, retries that are due, stuck sends.

    Kept in the database (django-celery-beat) so staff can see and change it.
    """
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": TASK,
            "interval": every_minute,
            "enabled": True,
            "description": "The mail gateway's safety net: no stored email is left unsent.",
        },
    )


def unschedule_mail_sweep(apps, schema_editor) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_correspondence"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule_mail_sweep, unschedule_mail_sweep)]
