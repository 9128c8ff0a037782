"""Billing gets its own settings, and a VAT invoice names the payment request it settles.

- ``BillingSettings`` takes over the billing policy that sat on the provider's details
  (bank details, payment terms, billing day, pro-forma mode): copied here, then removed
  from ``accounts.ProviderDetails`` by accounts' next migration.
- ``Invoice.settles`` links the VAT invoice issued on payment of a payment request to that
  request. Existing VAT invoices are linked from their printed reference line ("Payment
  request PR-… paid on …"). On PostgreSQL issued invoices are immutable by trigger; the
  link is set with the trigger off for this one statement: it records a fact the document
  already prints, and changes nothing it shows.
- The daily billing run's task now lives in ``billing.tasks``: its schedule follows.
- Billing staff keep the billing settings. Everything this migration needs is written
  here, not imported, so it stays right whatever the application code becomes.
"""

import django.core.validators
import django.db.models.deletion
from django.db import migrations, models

BILLING_POLICY = (
    "bank_account_name",
    "bank_sort_code",
    "bank_account_number",
    "bank_iban",
    "bank_bic",
    "payment_terms_days",
    "pro_forma_mode",
    "billing_day",
)
REFERENCE_PREFIX = "Payment request "
REFERENCE_INFIX = " paid on "


def copy_billing_policy(apps, schema_editor) -> None:
    ProviderDetails = apps.get_model("accounts", "ProviderDetails")
    BillingSettings = apps.get_model("billing", "BillingSettings")
    provider = ProviderDetails.objects.filter(pk=1).first()
    if provider is not None:
        BillingSettings.objects.update_or_create(
            pk=1, defaults={name: getattr(provider, name) for name in BILLING_POLICY}
        )


def link_settled_requests(apps, schema_editor) -> None:
    Invoice = apps.get_model("billing", "Invoice")
    InvoiceLine = apps.get_model("billing", "InvoiceLine")
    links = {}
    references = InvoiceLine.objects.filter(
        invoice__kind="invoice", description__startswith=REFERENCE_PREFIX, description__contains=REFERENCE_INFIX
    ).values_list("invoice_id", "invoice__customer_id", "description")
    for invoice_id, customer_id, description in references:
        number = description.removeprefix(REFERENCE_PREFIX).split(REFERENCE_INFIX, 1)[0]
        request = Invoice.objects.filter(kind="pro_forma", number=number, customer_id=customer_id).first()
        if request is not None and request.pk not in links.values():
            links[invoice_id] = request.pk
    if not links:
        return
    postgres = schema_editor.connection.vendor == "postgresql"
    if postgres:
        schema_editor.execute("ALTER TABLE billing_invoice DISABLE TRIGGER billing_invoice_immutable")
    for invoice_id, request_id in links.items():
        Invoice.objects.filter(pk=invoice_id).update(settles_id=request_id)
    if postgres:
        schema_editor.execute("ALTER TABLE billing_invoice ENABLE TRIGGER billing_invoice_immutable")


# Schedules whose task moved: old dotted name → new.
RENAMED_TASKS = {"billing.run.billing_run_task": "billing.tasks.billing_run_task"}


def rename_scheduled_tasks(apps, schema_editor) -> None:
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for old, new in RENAMED_TASKS.items():
        PeriodicTask.objects.filter(task=old).update(task=new)


def rename_back(apps, schema_editor) -> None:
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for old, new in RENAMED_TASKS.items():
        PeriodicTask.objects.filter(task=new).update(task=old)


def billing_staff_keep_billing_settings(apps, schema_editor) -> None:
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ContentType = apps.get_model("contenttypes", "ContentType")
    content_type, _ = ContentType.objects.get_or_create(app_label="billing", model="billingsettings")
    group, _ = Group.objects.get_or_create(name="Billing")
    for action, label in (("view", "Can view"), ("add", "Can add"), ("change", "Can change")):
        permission, _ = Permission.objects.get_or_create(
            content_type=content_type,
            codename=f"{action}_billingsettings",
            defaults={"name": f"{label} billing settings"},
        )
        group.permissions.add(permission)


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0010_provider_legal_form_and_billing_day_range'),
        ('billing', '0020_line_trigger_plans_each_lookup'),
        ('django_celery_beat', '0019_alter_periodictasks_options'),
    ]

    operations = [
        migrations.AddField(
            model_name='invoice',
            name='settles',
            field=models.OneToOneField(blank=True, help_text='For the VAT invoice issued on payment of a payment request: that request.', limit_choices_to={'kind': 'pro_forma'}, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='settled_by', to='billing.invoice'),
        ),
        migrations.CreateModel(
            name='BillingSettings',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('bank_account_name', models.CharField(blank=True, max_length=200)),
                ('bank_sort_code', models.CharField(blank=True, max_length=8)),
                ('bank_account_number', models.CharField(blank=True, max_length=8)),
                ('bank_iban', models.CharField(blank=True, max_length=34, verbose_name='IBAN')),
                ('bank_bic', models.CharField(blank=True, max_length=11, verbose_name='BIC')),
                ('payment_terms_days', models.PositiveSmallIntegerField(default=30, help_text='Invoices fall due this many days after issue (Late Payment Act default: 30).')),
                ('pro_forma_mode', models.BooleanField(default=False, help_text="Send payment requests marked 'This is not a VAT invoice' and issue the VAT invoice on payment (continuous supply, VAT reg 90).")),
                ('billing_day', models.PositiveSmallIntegerField(default=1, help_text='Day of the month the billing run issues invoices (the last day in shorter months).', validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(31)])),
            ],
            options={
                'verbose_name': 'billing settings',
                'verbose_name_plural': 'billing settings',
                'constraints': [models.CheckConstraint(condition=models.Q(('pk', 1)), name='billing_settings_singleton')],
            },
        ),
        migrations.RunPython(copy_billing_policy, migrations.RunPython.noop),
        migrations.RunPython(link_settled_requests, migrations.RunPython.noop),
        migrations.RunPython(rename_scheduled_tasks, rename_back),
        migrations.RunPython(billing_staff_keep_billing_settings, migrations.RunPython.noop),
    ]
