from __future__ import annotations

from django.db import migrations

from portal.schedules import ensure_schedule, remove_schedule

NAME = "Send issued documents left without a PDF or email"


def schedule(apps, schema_editor) -> None:
    ensure_schedule(
        apps,
        name=NAME,
        task="billing.tasks.send_unsent_documents",
        every=(15, "minutes"),
        description="Queues again documents of the last 7 days whose PDF or email task was lost "
        "(broker down, worker died); nothing is stored or sent twice.",
    )


def unschedule(apps, schema_editor) -> None:
    remove_schedule(apps, name=NAME)


class Migration(migrations.Migration):
    dependencies = [("billing", "0016_billing_run_progressed_at"), ("django_celery_beat", "0019_alter_periodictasks_options")]

    operations = [migrations.RunPython(schedule, unschedule)]
