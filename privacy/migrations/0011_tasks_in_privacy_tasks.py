from __future__ import annotations

from django.db import migrations
from django.utils import timezone

# Privacy's tasks moved from its service modules to privacy.tasks, where autodiscovery
# finds them. Schedules name a task by its dotted name: rename them.
RENAMED = {
    'privacy.services.retention.retention_sweep_task': 'privacy.tasks.retention_sweep',
    'privacy.services.requests.send_deadline_reminders_task': 'privacy.tasks.send_deadline_reminders',
    'privacy.services.policies.send_policy_change_notices_task': 'privacy.tasks.send_policy_change_notices',
    'privacy.services.export.expire_exports_task': 'privacy.tasks.expire_exports',
    'privacy.services.export.build_export_task': 'privacy.tasks.build_export',
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
        ('privacy', '0010_public_request_submission'),
        ('django_celery_beat', '0019_alter_periodictasks_options'),
    ]

    operations = [migrations.RunPython(rename_scheduled_tasks, rename_back)]
