from __future__ import annotations

from django.db import migrations, models

TASK = 'privacy.tasks.checkpoint_ledger'
NAME = 'Disclosure ledger checkpoint'


def schedule_checkpoint(apps, schema_editor) -> None:
    """Every night at 03:15 (UK time): record the ledger's head outside the database."""
    # Once, by name: running again, or after staff changed the time in the admin, changes nothing.
    crontab, _ = apps.get_model('django_celery_beat', 'CrontabSchedule').objects.get_or_create(
        minute='15', hour='3', day_of_week='*', day_of_month='*', month_of_year='*', timezone='Europe/London'
    )
    apps.get_model('django_celery_beat', 'PeriodicTask').objects.get_or_create(
        name=NAME,
        defaults={
            'task': TASK,
            'enabled': True,
            'description': 'Writes the disclosure ledger head to PORTAL_LEDGER_CHECKPOINT_DIR, where verify_ledger checks it (docs/privacy-ledger.md).',
            'crontab': crontab,
        },
    )


def unschedule_checkpoint(apps, schema_editor) -> None:
    apps.get_model('django_celery_beat', 'PeriodicTask').objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ('privacy', '0011_tasks_in_privacy_tasks'),
        ('django_celery_beat', '0019_alter_periodictasks_options'),
    ]

    operations = [
        migrations.AddField(
            model_name='disclosureentry',
            name='key_id',
            field=models.CharField(blank=True, editable=False, max_length=32),
        ),
        migrations.AddField(
            model_name='disclosureentry',
            name='signature',
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.RunPython(schedule_checkpoint, unschedule_checkpoint),
    ]
