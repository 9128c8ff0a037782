"""Staff confirm how far the Bank Rate table is complete (billing.collections.rates), and
the late-payment interest is worked out only for reference days up to the latest
confirmation.

Seeded with the check made when this was written, written out here (a migration imports
no application code): the Bank of England held Bank Rate at 3.75% at its 5 February 2026
and June 2026 meetings, so the rate in force on 31 December 2025 and on 30 June 2026 was
the 3.75% set on 18 December 2025, already in the table (migration 0029). Billing staff
get the permissions to add later checks.
"""

import datetime as dt

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


CHECKED_TO = dt.date(2026, 6, 30)
SOURCE = (
    "Bank of England, Bank Rate history: 3.75% since 18 December 2025, held at the 5 February 2026 (5-4) "
    "and June 2026 (7-2) meetings"
)
GRANTS = {"Billing": ["billing.add_referenceratecheck", "billing.view_referenceratecheck"]}


def seed(apps, schema_editor) -> None:
    apps.get_model("billing", "ReferenceRateCheck").objects.get_or_create(
        checked_to=CHECKED_TO, defaults={"source": SOURCE}
    )


def grant(apps, schema_editor) -> None:
    """Create the groups if need be and add these permissions to them; nothing is taken away."""
    from django.contrib.auth.management import create_permissions

    # Permissions are made at the end of the whole run (post_migrate): make billing's now.
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


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0031_labels_in_plain_words'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ReferenceRateCheck',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('checked_to', models.DateField(help_text='The table holds every Bank Rate change up to and including this day.', unique=True)),
                ('source', models.CharField(help_text='What it was checked against, and what it said.', max_length=300)),
                ('checked_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ('checked_by', models.ForeignKey(blank=True, editable=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'reference rate check',
                'ordering': ['-checked_to'],
            },
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
