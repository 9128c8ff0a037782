from __future__ import annotations

from django.db import migrations

TASK = 'accounts.tasks.purge_expired_invitations'
NAME = 'Purge expired invitations'


def schedule_invitation_purge(apps, schema_editor) -> None:
    """Create the daily purge in the database, where staff can see and change it."""
    # Once, by name: running again, or after staff changed the time in the admin, changes nothing.
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


def unschedule_invitation_purge(apps, schema_editor) -> None:
    apps.get_model('django_celery_beat', 'PeriodicTask').objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [('accounts', '0002_staff_groups'), ('django_celery_beat', '0019_alter_periodictasks_options')]

    operations = [migrations.RunPython(schedule_invitation_purge, unschedule_invitation_purge)]
