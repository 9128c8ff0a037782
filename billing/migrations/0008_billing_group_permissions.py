from __future__ import annotations

from django.db import migrations

# What this migration gives each staff group, written out here rather than read from
# accounts.groups, so that it does the same whatever that module says later.
GRANTS = {
    'Billing': [
        'billing.add_billingrun',
        'billing.add_invoice',
        'billing.add_invoiceline',
        'billing.add_oneoffcharge',
        'billing.add_payment',
        'billing.add_plan',
        'billing.add_refund',
        'billing.add_subscription',
        'billing.change_invoice',
        'billing.change_invoiceline',
        'billing.change_oneoffcharge',
        'billing.change_plan',
        'billing.change_subscription',
        'billing.delete_invoice',
        'billing.delete_invoiceline',
        'billing.delete_oneoffcharge',
        'billing.view_billingrun',
        'billing.view_invoice',
        'billing.view_invoiceline',
        'billing.view_numberseries',
        'billing.view_oneoffcharge',
        'billing.view_payment',
        'billing.view_paymentallocation',
        'billing.view_plan',
        'billing.view_refund',
        'billing.view_subscription',
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
    """Billing staff work with the billing models in the admin."""

    dependencies = [
        ("accounts", "0002_staff_groups"),
        ("billing", "0007_credit_note_reason_line_vat_category_refunds"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
