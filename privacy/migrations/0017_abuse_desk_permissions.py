from __future__ import annotations

from django.db import migrations

# What this migration gives each staff group, written out here rather than read from
# accounts.groups, so that it does the same whatever that module says later.
GRANTS = {
    'Abuse desk': [
        'privacy.view_abusereport',
        'privacy.add_abusereport',
        'privacy.change_abusereport',
        'privacy.view_abuseevidence',
        'privacy.change_abuseevidence',
        'privacy.view_abusecase',
        'privacy.change_abusecase',
        'privacy.contain_service',
        'privacy.view_caseentry',
        'privacy.view_caseentryfile',
    ],
}


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


class Migration(migrations.Migration):
    """The abuse desk works abuse reports and cases."""

    dependencies = [("privacy", "0016_abuse_desk")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
