from __future__ import annotations

from django.db import migrations

from accounts.groups import sync_groups


class Migration(migrations.Migration):
    """Billing staff work with the billing models in the admin (accounts.groups)."""

    dependencies = [
        ("accounts", "0002_staff_groups"),
        ("billing", "0007_credit_note_reason_line_vat_category_refunds"),
    ]

    operations = [migrations.RunPython(sync_groups, migrations.RunPython.noop)]
