from __future__ import annotations

from django.db import migrations

TASK = 'privacy.tasks.send_deadline_reminders'
NAME = 'Privacy request deadline reminders'


def schedule_request_reminders(apps, schema_editor) -> None:
    """Create the daily reminder in the database, where staff can see and change it."""
    # Once, by name: running again, or after staff changed the time in the admin, changes nothing.
    crontab, _ = apps.get_model('django_celery_beat', 'CrontabSchedule').objects.get_or_create(
        minute='0', hour='8', day_of_week='*', day_of_month='*', month_of_year='*', timezone='Europe/London'
    )
    apps.get_model('django_celery_beat', 'PeriodicTask').objects.get_or_create(
        name=NAME,
        defaults={
            'task': TASK,
            'enabled': True,
            'description': 'Emails each assignee (or the privacy address) the data-subject requests due within 7 days or overdue (docs/privacy-requests.md).',
            'crontab': crontab,
        },
    )


def unschedule_request_reminders(apps, schema_editor) -> None:
    apps.get_model('django_celery_beat', 'PeriodicTask').objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [('privacy', '0002_schedule_retention_sweep'), ('django_celery_beat', '0019_alter_periodictasks_options')]

    operations = [migrations.RunPython(schedule_request_reminders, unschedule_request_reminders)]
