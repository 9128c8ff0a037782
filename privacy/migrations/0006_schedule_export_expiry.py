from __future__ import annotations

from django.db import migrations

TASK = "privacy.services.export.expire_exports_task"
NAME = "Expire data-subject exports"


def schedule(apps, schema_editor) -> None:
    """Hourly: delete the files of expired exports and re-queue exports the broker dropped."""
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    hourly, _ = IntervalSchedule.objects.get_or_create(every=1, period="hours")
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={"task": TASK, "interval": hourly, "enabled": True,
                  "description": "Exports are downloadable for 7 days; then their files are deleted."},
    )


def unschedule(apps, schema_editor) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("privacy", "0005_privacy_group_permissions"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
