from __future__ import annotations

from django.db import migrations

from portal.schedules import ensure_schedule, remove_schedule

TASK = 'privacy.tasks.send_deadline_reminders'
NAME = 'Privacy request deadline reminders'


def schedule_request_reminders(apps, schema_editor) -> None:
    """Create the daily reminder in the database, where staff can see and change it."""
    ensure_schedule(
        apps,
        name=NAME,
        task=TASK,
        daily_at=(8, 0),
        description='Emails each assignee (or the privacy address) the data-subject requests due within 7 days or overdue (docs/privacy-requests.md).',
    )


def unschedule_request_reminders(apps, schema_editor) -> None:
    remove_schedule(apps, name=NAME)


class Migration(migrations.Migration):
    dependencies = [('privacy', '0002_schedule_retention_sweep'), ('django_celery_beat', '0019_alter_periodictasks_options')]

    operations = [migrations.RunPython(schedule_request_reminders, unschedule_request_reminders)]
