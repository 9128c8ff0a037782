from __future__ import annotations

from django.db import migrations

TASK = 'billing.tasks.billing_run_task'
NAME = 'Billing run on the billing day'


def schedule_billing_run(apps, schema_editor) -> None:
    """Daily: the task itself checks whether today is the provider's billing day."""
    # Once, by name: running again, or after staff changed the time in the admin, changes nothing.
    crontab, _ = apps.get_model('django_celery_beat', 'CrontabSchedule').objects.get_or_create(
        minute='30', hour='6', day_of_week='*', day_of_month='*', month_of_year='*', timezone='Europe/London'
    )
    apps.get_model('django_celery_beat', 'PeriodicTask').objects.get_or_create(
        name=NAME,
        defaults={
            'task': TASK,
            'enabled': True,
            'description': 'Issues every due invoice on the billing day (billing settings); nothing on other days.',
            'crontab': crontab,
        },
    )


def unschedule_billing_run(apps, schema_editor) -> None:
    apps.get_model('django_celery_beat', 'PeriodicTask').objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [('billing', '0002_documents_and_payments'), ('django_celery_beat', '0019_alter_periodictasks_options')]

    operations = [migrations.RunPython(schedule_billing_run, unschedule_billing_run)]
