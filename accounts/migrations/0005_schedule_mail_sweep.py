from __future__ import annotations

from django.db import migrations

from portal.schedules import ensure_schedule, remove_schedule

TASK = 'accounts.tasks.requeue_due_messages'
NAME = 'Re-queue due and stuck emails'


def schedule_mail_sweep(apps, schema_editor) -> None:
    """Every minute: queue emails whose enqueue failed, retries that are due, stuck sends."""
    ensure_schedule(
        apps,
        name=NAME,
        task=TASK,
        every=(1, "minutes"),
        description="The mail gateway's safety net: no stored email is left unsent.",
    )


def unschedule_mail_sweep(apps, schema_editor) -> None:
    remove_schedule(apps, name=NAME)


class Migration(migrations.Migration):
    dependencies = [('accounts', '0004_correspondence'), ('django_celery_beat', '0019_alter_periodictasks_options')]

    operations = [migrations.RunPython(schedule_mail_sweep, unschedule_mail_sweep)]
