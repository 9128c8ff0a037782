from __future__ import annotations

from django.db import migrations

# Staff see the audit trail and the history of services' states of the customers they
# work with; support and the abuse desk, who may change a service, also record its
# suspension and restoration. Written out here, not read from accounts.groups.
GRANTS = {
    'Support': [
        'accounts.view_auditevent',
        'accounts.add_servicestatuschange',
        'accounts.view_servicestatuschange',
    ],
    'Billing': [
        'accounts.view_auditevent',
        'accounts.view_servicestatuschange',
    ],
    'Abuse desk': [
        'accounts.view_auditevent',
        'accounts.add_servicestatuschange',
        'accounts.view_servicestatuschange',
    ],
    'Privacy officer': [
        'accounts.view_auditevent',
        'accounts.view_servicestatuschange',
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
    dependencies = [("accounts", "0018_audit_trail_and_service_history")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
