from __future__ import annotations

from django.db import migrations

NAME = "Send issued documents left without a PDF or email"


def schedule(apps, schema_editor) -> None:
    # Once, by name: running again, or after staff changed the interval in the admin, changes nothing.
    interval, _ = apps.get_model('django_celery_beat', 'IntervalSchedule').objects.get_or_create(
        every=15, period="minutes"
    )
    apps.get_model('django_celery_beat', 'PeriodicTask').objects.get_or_create(
        name=NAME,
        defaults={
            'task': "billing.tasks.send_unsent_documents",
            'enabled': True,
            'description': "Queues again documents of the last 7 days whose PDF or email task was lost "
            "(broker down, worker died); nothing is stored or sent twice.",
            'interval': interval,
        },
    )


def unschedule(apps, schema_editor) -> None:
    apps.get_model('django_celery_beat', 'PeriodicTask').objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("billing", "0016_billing_run_progressed_at"), ("django_celery_beat", "0019_alter_periodictasks_options")]

    operations = [migrations.RunPython(schedule, unschedule)]
