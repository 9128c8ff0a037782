from __future__ import annotations

from django.db import migrations

# What this migration gives each staff group, written out here rather than read from
# accounts.groups, so that it does the same whatever that module says later.
GRANTS = {
    'Support': [
        'privacy.add_datasubjectrequest',
        'privacy.view_datasubjectrequest',
    ],
    'Privacy officer': [
        'privacy.add_datasubjectrequest',
        'privacy.add_legalhold',
        'privacy.add_policyversion',
        'privacy.add_processingrestriction',
        'privacy.add_recipientnotification',
        'privacy.change_datasubjectrequest',
        'privacy.change_legalhold',
        'privacy.change_policyversion',
        'privacy.change_processingrestriction',
        'privacy.fulfil_request',
        'privacy.manage_legal_hold',
        'privacy.view_consentrecord',
        'privacy.view_dataexport',
        'privacy.view_datasubjectrequest',
        'privacy.view_disclosureentry',
        'privacy.view_erasurerun',
        'privacy.view_legalhold',
        'privacy.view_policyacknowledgement',
        'privacy.view_policyversion',
        'privacy.view_postmorteminstruction',
        'privacy.view_processingrestriction',
        'privacy.view_recipientnotification',
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
    """Give the staff groups their privacy permissions: the privacy officer
    handles requests, holds and policies; support logs requests received by letter or phone."""

    dependencies = [
        ("privacy", "0004_schedule_policy_notices"),
        ("accounts", "0006_message_permissions_for_staff"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
