from __future__ import annotations

from django.db import migrations
from django.utils import timezone

# The retention sweep (privacy) deletes expired invitations, as it does every declared
# record, and keeps those under a legal hold; accounts' own purge, which knew nothing of
# holds, is gone, and so is its schedule.
TASK = 'accounts.tasks.purge_expired_invitations'
NAME = 'Purge expired invitations'


def unschedule_invitation_purge(apps, schema_editor) -> None:
    deleted, _ = apps.get_model('django_celery_beat', 'PeriodicTask').objects.filter(task=TASK).delete()
    if deleted:
        # A running beat reloads its schedule when this changes (delete() here sends no signal).
        apps.get_model('django_celery_beat', 'PeriodicTasks').objects.update_or_create(
            ident=1, defaults={'last_update': timezone.now()}
        )


def schedule_invitation_purge_again(apps, schema_editor) -> None:
    """Back to before: the schedule as migration 0003 made it."""
    crontab, _ = apps.get_model('django_celery_beat', 'CrontabSchedule').objects.get_or_create(
        minute='15', hour='3', day_of_week='*', day_of_month='*', month_of_year='*', timezone='Europe/London'
    )
    apps.get_model('django_celery_beat', 'PeriodicTask').objects.get_or_create(
        name=NAME,
        defaults={
            'task': TASK,
            'enabled': True,
            'description': 'Deletes invitations 30 days after they expire (retention declared on Invitation).',
            'crontab': crontab,
        },
    )


class Migration(migrations.Migration):
    dependencies = [
        ('accounts', '0011_tasks_in_accounts_tasks'),
        ('django_celery_beat', '0019_alter_periodictasks_options'),
    ]

    operations = [migrations.RunPython(unschedule_invitation_purge, schedule_invitation_purge_again)]
