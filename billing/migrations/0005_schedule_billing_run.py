from __future__ import annotations

from django.db import migrations

from portal.schedules import ensure_schedule, remove_schedule

TASK = 'billing.run.billing_run_task'
NAME = 'Billing run on the billing day'


def schedule_billing_run(apps, schema_editor) -> None:
    """Daily: the task itself checks whether today is the provider's billing day."""
    ensure_schedule(
        apps,
        name=NAME,
        task=TASK,
        daily_at=(6, 30),
        description='Issues every due invoice on ProviderDetails.billing_day; does nothing on other days.',
    )


def unschedule_billing_run(apps, schema_editor) -> None:
    remove_schedule(apps, name=NAME)


class Migration(migrations.Migration):
    dependencies = [('billing', '0002_documents_and_payments'), ('django_celery_beat', '0019_alter_periodictasks_options')]

    operations = [migrations.RunPython(schedule_billing_run, unschedule_billing_run)]
