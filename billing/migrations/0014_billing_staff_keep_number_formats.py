from __future__ import annotations

from django.db import migrations

from accounts.groups import sync_groups


class Migration(migrations.Migration):
    """Billing staff set the format of document numbers (and a new series' first number)."""

    dependencies = [("billing", "0013_cancelled_payment_requests")]

    operations = [migrations.RunPython(sync_groups, migrations.RunPython.noop)]
