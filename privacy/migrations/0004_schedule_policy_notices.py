from __future__ import annotations

from django.db import migrations

from portal.schedules import ensure_schedule, remove_schedule

TASK = 'privacy.tasks.send_policy_change_notices'
NAME = 'Send notice of material policy changes'


def schedule_policy_notices(apps, schema_editor) -> None:
    """Every day at 07:00: email customers about material policy changes whose notice period began."""
    ensure_schedule(
        apps,
        name=NAME,
        task=TASK,
        daily_at=(7, 0),
        description='Tells every customer of a material change to a policy before it takes effect (PORTAL_POLICY_NOTICE_DAYS ahead).',
    )


def unschedule_policy_notices(apps, schema_editor) -> None:
    remove_schedule(apps, name=NAME)


class Migration(migrations.Migration):
    dependencies = [('privacy', '0003_schedule_request_reminders'), ('django_celery_beat', '0019_alter_periodictasks_options')]

    operations = [migrations.RunPython(schedule_policy_notices, unschedule_policy_notices)]
