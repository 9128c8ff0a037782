from __future__ import annotations

from django.db import migrations

TASK = "accounts.tasks.purge_expired_invitations"
NAME = "Purge expired invitations"


def schedule_invitation_purge(apps, schema_editor) -> None:
    """Create the daily purge in the database, where staff can see and change it.

    get_or_create on the name: running again, or after staff moved the time, changes nothing.
    """
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    daily, _ = CrontabSchedule.objects.get_or_create(
        minute="15",
        hour="3",
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone="Europe/London",
    )
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": TASK,
            "crontab": daily,
            "enabled": True,
            "description": "Deletes invitations 30 days after they expire (retention declared on Invitation).",
        },
    )


def unschedule_invitation_purge(apps, schema_editor) -> None:
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=NAME, task=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_staff_groups"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule_invitation_purge, unschedule_invitation_purge)]
