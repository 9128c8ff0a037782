from __future__ import annotations

from django.db import migrations

from accounts.groups import sync_groups


class Migration(migrations.Migration):
    """Billing staff keep the products of the catalogue, as they keep its plans."""

    dependencies = [("billing", "0018_products")]

    operations = [migrations.RunPython(sync_groups, migrations.RunPython.noop)]
