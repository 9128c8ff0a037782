from __future__ import annotations

from django.db import migrations
from django.utils import timezone

# Correspondence's tasks moved from accounts.correspondence.tasks to accounts.tasks, where
# autodiscovery finds them. Schedules name a task by its dotted name: rename them.
RENAMED = {
    'accounts.correspondence.tasks.requeue_due_messages': 'accounts.tasks.requeue_due_messages',
    'accounts.correspondence.tasks.deliver_message': 'accounts.tasks.deliver_message',
}


def rename_scheduled_tasks(apps, schema_editor, renamed=RENAMED) -> None:
    PeriodicTask = apps.get_model('django_celery_beat', 'PeriodicTask')
    changed = sum(PeriodicTask.objects.filter(task=old).update(task=new) for old, new in renamed.items())
    if changed:
        # A running beat reloads its schedule when this changes (update() sends no signal).
        apps.get_model('django_celery_beat', 'PeriodicTasks').objects.update_or_create(
            ident=1, defaults={'last_update': timezone.now()}
        )


def rename_back(apps, schema_editor) -> None:
    rename_scheduled_tasks(apps, schema_editor, {new: old for old, new in RENAMED.items()})


class Migration(migrations.Migration):
    dependencies = [
        ('accounts', '0010_provider_legal_form_and_billing_day_range'),
        ('django_celery_beat', '0019_alter_periodictasks_options'),
    ]

    operations = [migrations.RunPython(rename_scheduled_tasks, rename_back)]
