from __future__ import annotations

from django.db import migrations

# What this migration gives each staff group, written out here rather than read from
# accounts.groups, so that it does the same whatever that module says later.
GRANTS = {
    'Support': [
        'privacy.view_storagegrant',
        'privacy.request_storage_access',
        'privacy.necessary_storage_access',
        'privacy.view_storageaccesssession',
        'privacy.add_storageaccesssession',
        'privacy.view_storageaccesscheck',
        'privacy.view_storageaccesstool',
    ],
    'Privacy officer': [
        'privacy.view_storagegrant',
        'privacy.view_storageaccesssession',
        'privacy.view_storageaccesscheck',
        'privacy.view_storageaccesstool',
        'privacy.add_storageaccesstool',
        'privacy.change_storageaccesstool',
        'privacy.view_lawfuldemand',
        'privacy.handle_lawful_demand',
        'privacy.view_lawfuldisclosure',
        'privacy.view_transparencyreport',
        'privacy.publish_transparency_report',
    ],
}

SCHEDULES = [
    (
        'Tell customers of lawful disclosures whose duty ended',
        'privacy.tasks.tell_customers_of_ended_duties',
        '30',
        'Emails the customers of each disclosure to an authority whose non-disclosure duty has ended (docs/lawful-access.md).',
    ),
    (
        'Remind staff of withheld lawful disclosures',
        'privacy.tasks.send_withheld_review_reminders',
        '0',
        'Emails the privacy address the disclosures still withheld from customers and not reviewed lately (docs/lawful-access.md).',
    ),
]


def grant(apps, schema_editor) -> None:
    """Create the groups if need be and add these permissions to them; nothing is taken away."""
    from django.contrib.auth.management import create_permissions

    # Permissions are made at the end of the whole run (post_migrate): make these apps' now.
    for label in sorted({perm.split('.')[0] for perms in GRANTS.values() for perm in perms}):
        app_config = apps.get_app_config(label)
        app_config.models_module = True  # create_permissions skips an app without it
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None
    Group = apps.get_model('auth', 'Group')
    Permission = apps.get_model('auth', 'Permission')
    for name, perms in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, codename in (perm.split('.') for perm in perms):
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def schedule(apps, schema_editor) -> None:
    """Daily, in the database where staff can see and change it; once, by name."""
    crontab_model = apps.get_model('django_celery_beat', 'CrontabSchedule')
    task_model = apps.get_model('django_celery_beat', 'PeriodicTask')
    for name, task, minute, description in SCHEDULES:
        crontab, _ = crontab_model.objects.get_or_create(
            minute=minute, hour='7', day_of_week='*', day_of_month='*', month_of_year='*', timezone='Europe/London'
        )
        task_model.objects.get_or_create(
            name=name, defaults={'task': task, 'enabled': True, 'description': description, 'crontab': crontab}
        )


def unschedule(apps, schema_editor) -> None:
    apps.get_model('django_celery_beat', 'PeriodicTask').objects.filter(name__in=[s[0] for s in SCHEDULES]).delete()


class Migration(migrations.Migration):
    """Support handles storage access; the privacy officer the lawful-access register and
    the tools' tokens. Two daily schedules keep customers informed and staff reminded."""

    dependencies = [
        ('privacy', '0014_storage_and_lawful_access'),
        ('django_celery_beat', '0019_alter_periodictasks_options'),
    ]

    operations = [
        migrations.RunPython(grant, migrations.RunPython.noop),
        migrations.RunPython(schedule, unschedule),
    ]
