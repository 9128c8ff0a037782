from __future__ import annotations

from django.db import migrations

# Written out here, not read from the code, so that this migration does the same whatever
# the code says later. Xero UK's built-in rate names and Sage 50's standard UK tax codes;
# another country's VAT (One Stop Shop) has neither until staff map it.
TAX_CODES = {
    "S": ("20% (VAT on Income)", "T1"),
    "R": ("5% (VAT on Income)", "T5"),
    "Z": ("Zero Rated Income", "T0"),
    "E": ("Exempt Income", "T2"),
    "RC": ("No VAT", "T9"),
    "OS": ("No VAT", "T9"),
    "OSS": ("", ""),
}
GRANTS = {
    "Billing": [
        "billing.view_accountingfirm",
        "billing.add_accountingfirm",
        "billing.change_accountingfirm",
        "billing.view_accountant",
        "billing.add_accountant",
        "billing.change_accountant",
        "billing.delete_accountant",
        "billing.view_accountingsettings",
        "billing.add_accountingsettings",
        "billing.change_accountingsettings",
        "billing.view_accountingtaxcode",
        "billing.change_accountingtaxcode",
        "billing.view_customeraccountreference",
        "billing.add_customeraccountreference",
        "billing.change_customeraccountreference",
        "billing.view_accountingexport",
        "billing.produce_accountingexport",
    ],
}
SCHEDULE = "Expire accounting exports"


def forwards(apps, schema_editor) -> None:
    from django.contrib.auth.management import create_permissions

    for code, (xero, sage) in TAX_CODES.items():
        apps.get_model("billing", "AccountingTaxCode").objects.get_or_create(
            vat_code=code, defaults={"xero_tax_type": xero, "sage_tax_code": sage}
        )
    app_config = apps.get_app_config("billing")
    app_config.models_module = True  # create_permissions skips an app without it
    create_permissions(app_config, verbosity=0, apps=apps)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, perms in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, codename in (perm.split(".") for perm in perms):
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    interval, _ = apps.get_model("django_celery_beat", "IntervalSchedule").objects.get_or_create(
        every=1, period="hours"
    )
    apps.get_model("django_celery_beat", "PeriodicTask").objects.get_or_create(
        name=SCHEDULE,
        defaults={
            "task": "billing.tasks.expire_accounting_exports",
            "enabled": True,
            "description": "Deletes accounting export files past their time and queues again exports "
            "left queued while the broker was down.",
            "interval": interval,
        },
    )


def backwards(apps, schema_editor) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=SCHEDULE).delete()


class Migration(migrations.Migration):
    """UK default tax codes, billing staff keep the accountants' settings, hourly expiry."""

    dependencies = [
        ("billing", "0024_accountants"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
