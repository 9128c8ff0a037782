from __future__ import annotations

from django.db import migrations

TASK = "privacy.services.requests.send_deadline_reminders_task"
NAME = "Privacy request deadline reminders"


def schedule_request_reminders(apps, schema_editor) -> None:
    """Create the daily reminder in the database, where staff can see and change it.

    get_or_create on the name: running again, or after staff moved the time, changes nothing.
    """
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    morning, _ = CrontabSchedule.objects.get_or_create(
        minute="0",
        hour="8",
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone="Europe/London",
    )
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": TASK,
            "crontab": morning,
            "enabled": True,
            "description": "Emails each assignee (or the privacy address) the data-subject requests due "
            "within 7 days or overdue (docs/privacy-requests.md).",
        },
    )


def unschedule_request_reminders(apps, schema_editor) -> None:
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=NAME, task=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("privacy", "0002_schedule_retention_sweep"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule_request_reminders, unschedule_request_reminders)]
