from __future__ import annotations

from django.db import migrations

from accounts.groups import sync_groups


class Migration(migrations.Migration):
    """Billing staff keep the exchange rates (accounts.groups)."""

    dependencies = [("billing", "0009_exchange_rates")]

    operations = [migrations.RunPython(sync_groups, migrations.RunPython.noop)]
