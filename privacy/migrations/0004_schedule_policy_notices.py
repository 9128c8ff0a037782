from __future__ import annotations

from django.db import migrations

TASK = 'privacy.tasks.send_policy_change_notices'
NAME = 'Send notice of material policy changes'


def schedule_policy_notices(apps, schema_editor) -> None:
    """Every day at 07:00: email customers about material policy changes whose notice period began."""
    # Once, by name: running again, or after staff changed the time in the admin, changes nothing.
    crontab, _ = apps.get_model('django_celery_beat', 'CrontabSchedule').objects.get_or_create(
        minute='0', hour='7', day_of_week='*', day_of_month='*', month_of_year='*', timezone='Europe/London'
    )
    apps.get_model('django_celery_beat', 'PeriodicTask').objects.get_or_create(
        name=NAME,
        defaults={
            'task': TASK,
            'enabled': True,
            'description': 'Tells every customer of a material change to a policy before it takes effect (PORTAL_POLICY_NOTICE_DAYS ahead).',
            'crontab': crontab,
        },
    )


def unschedule_policy_notices(apps, schema_editor) -> None:
    apps.get_model('django_celery_beat', 'PeriodicTask').objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [('privacy', '0003_schedule_request_reminders'), ('django_celery_beat', '0019_alter_periodictasks_options')]

    operations = [migrations.RunPython(schedule_policy_notices, unschedule_policy_notices)]
