from __future__ import annotations

from django.db import migrations

# What this migration gives each staff group, written out here rather than read from
# accounts.groups, so that it does the same whatever that module says later.
GRANTS = {
    'Support': [
        'accounts.add_invitation',
        'accounts.add_ipassignment',
        'accounts.add_membership',
        'accounts.add_service',
        'accounts.change_customer',
        'accounts.change_ipassignment',
        'accounts.change_membership',
        'accounts.change_service',
        'accounts.view_customer',
        'accounts.view_invitation',
        'accounts.view_ipassignment',
        'accounts.view_membership',
        'accounts.view_service',
        'accounts.view_user',
    ],
    'Billing': [
        'accounts.change_customer',
        'accounts.view_customer',
        'accounts.view_membership',
        'accounts.view_service',
        'accounts.view_user',
    ],
    'Abuse desk': [
        'accounts.change_service',
        'accounts.view_customer',
        'accounts.view_ipassignment',
        'accounts.view_service',
    ],
    'Privacy officer': [
        'accounts.change_customer',
        'accounts.change_user',
        'accounts.view_customer',
        'accounts.view_invitation',
        'accounts.view_ipassignment',
        'accounts.view_membership',
        'accounts.view_service',
        'accounts.view_user',
    ],
    'Accountant': [],
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
    """Create the staff groups (support, billing, abuse desk, privacy officer, accountant)."""

    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
