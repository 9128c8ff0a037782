from __future__ import annotations

from django.db import migrations

TASK = "privacy.services.policies.send_policy_change_notices_task"
NAME = "Send notice of material policy changes"


def schedule_policy_notices(apps, schema_editor) -> None:
    """Every day at 07:00: email customers about material policy changes whose notice period began.

    Kept in the database (django-celery-beat) so staff can see and change it. The task is
    safe to run twice: each version's notice is sent once.
    """
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    daily, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="7", day_of_week="*", day_of_month="*", month_of_year="*", timezone="Europe/London"
    )
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": TASK,
            "crontab": daily,
            "enabled": True,
            "description": "Tells every customer of a material change to a policy before it takes effect "
            "(PORTAL_POLICY_NOTICE_DAYS ahead).",
        },
    )


def unschedule_policy_notices(apps, schema_editor) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("privacy", "0003_schedule_request_reminders"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule_policy_notices, unschedule_policy_notices)]
