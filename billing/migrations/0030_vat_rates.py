"""VAT rates become one dated table staff keep in the admin (billing.models.VatRate).

Seeded with the rates in force when this was written, written out here (a migration
imports no application code): the UK's with their history since 1991, so documents with
older tax points still find theirs, and the EU member states' standard rates for
consumers under the One Stop Shop, from 1 July 2021 (when it began) with the changes
since. Staff check them, and add each later change from the date it applies, in
Billing → VAT rates. Billing staff get the permissions to do so.
"""

import datetime as dt
from decimal import Decimal

import django.core.validators
from django.db import migrations, models


UK = "gov.uk VAT rates; HMRC VAT rate history"
EU = "European Commission, VAT rates applied in the Member States"
RATES = [
    # country, category, from, percent, source
    ("GB", "standard", dt.date(1991, 4, 1), "17.5", UK),
    ("GB", "standard", dt.date(2008, 12, 1), "15", UK),
    ("GB", "standard", dt.date(2010, 1, 1), "17.5", UK),
    ("GB", "standard", dt.date(2011, 1, 4), "20", UK),
    ("GB", "reduced", dt.date(1997, 9, 1), "5", UK),
    ("GB", "zero", dt.date(1973, 4, 1), "0", UK),
    ("GB", "exempt", dt.date(1973, 4, 1), "0", UK),
    *[
        (country, "standard", dt.date(2021, 7, 1), rate, EU)
        for country, rate in [
            ("AT", "20"), ("BE", "21"), ("BG", "20"), ("CY", "19"), ("CZ", "21"), ("DE", "19"), ("DK", "25"),
            ("EE", "20"), ("ES", "21"), ("FI", "24"), ("FR", "20"), ("GR", "24"), ("HR", "25"), ("HU", "27"),
            ("IE", "23"), ("IT", "22"), ("LT", "21"), ("LU", "17"), ("LV", "21"), ("MT", "18"), ("NL", "21"),
            ("PL", "23"), ("PT", "23"), ("RO", "19"), ("SE", "25"), ("SI", "22"), ("SK", "20"),
        ]
    ],
    ("LU", "standard", dt.date(2023, 1, 1), "16", EU),
    ("LU", "standard", dt.date(2024, 1, 1), "17", EU),
    ("EE", "standard", dt.date(2024, 1, 1), "22", EU),
    ("FI", "standard", dt.date(2024, 9, 1), "25.5", EU),
    ("SK", "standard", dt.date(2025, 1, 1), "23", EU),
    ("EE", "standard", dt.date(2025, 7, 1), "24", EU),
    ("RO", "standard", dt.date(2025, 8, 1), "21", EU),
]  # fmt: skip

# Delete: a rate not yet in force may be withdrawn (the admin and the model refuse it for one in force).
GRANTS = {
    "Billing": ["billing.add_vatrate", "billing.change_vatrate", "billing.delete_vatrate", "billing.view_vatrate"]
}


def seed(apps, schema_editor) -> None:
    """Add the rates above that are not there yet; nothing is changed or taken away."""
    VatRate = apps.get_model("billing", "VatRate")
    for country, category, valid_from, rate, source in RATES:
        VatRate.objects.get_or_create(
            country=country,
            category=category,
            valid_from=valid_from,
            defaults={"rate": Decimal(rate), "source": source},
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
        ('billing', '0029_collections_schedule_rates_and_permissions'),
    ]

    operations = [
        migrations.CreateModel(
            name='VatRate',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('country', models.CharField(help_text='ISO country code; GB for the UK VAT area (the Isle of Man included).', max_length=2)),
                ('category', models.CharField(choices=[('standard', 'Standard rate'), ('reduced', 'Reduced rate'), ('zero', 'Zero rate'), ('exempt', 'Exempt')], default='standard', max_length=10)),
                ('valid_from', models.DateField(help_text='The first tax point the rate applies to; it applies until a later rate.')),
                ('rate', models.DecimalField(decimal_places=2, max_digits=5, validators=[django.core.validators.MinValueValidator(Decimal('0')), django.core.validators.MaxValueValidator(Decimal('100'))], verbose_name='rate (%)')),
                ('source', models.CharField(help_text="Where the rate comes from, e.g. gov.uk 'VAT rates'.", max_length=200)),
            ],
            options={
                'verbose_name': 'VAT rate',
                'ordering': ['country', 'category', '-valid_from'],
                'constraints': [models.UniqueConstraint(fields=('country', 'category', 'valid_from'), name='one_vat_rate_per_day'), models.CheckConstraint(condition=models.Q(('rate__gte', 0), ('rate__lte', 100)), name='vat_rates_are_percentages')],
            },
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
