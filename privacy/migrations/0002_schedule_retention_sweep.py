from __future__ import annotations

from django.db import migrations

TASK = "privacy.services.retention.retention_sweep_task"
NAME = "Retention sweep"


def schedule_retention_sweep(apps, schema_editor) -> None:
    """Every night at 02:30 (UK time): remove or anonymise what has passed its retention.

    Kept in the database (django-celery-beat) so staff can see, change or pause it. The
    task is safe to run twice: a second run finds nothing due. What the next run will do
    is in the admin: Legal holds → Retention report.
    """
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    nightly, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="2", day_of_week="*", day_of_month="*", month_of_year="*", timezone="Europe/London"
    )
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": TASK,
            "crontab": nightly,
            "enabled": True,
            "description": "Deletes or anonymises personal data whose retention has ended, never anything "
            "under a legal hold (docs/privacy-retention.md).",
        },
    )


def unschedule_retention_sweep(apps, schema_editor) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("privacy", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule_retention_sweep, unschedule_retention_sweep)]
