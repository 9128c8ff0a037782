"""The invoice-line trigger plans its look-up of the invoice on every call.

PL/pgSQL caches the plan of the trigger's ``SELECT … FROM billing_invoice WHERE id =
ANY(…)`` for the session. A session that starts while the invoice table is small (a billing run
that issues the first invoices of a new installation, or runs while statistics are stale)
caches a sequential scan, and keeps it while the table grows: in a 10,000-customer run
each insert of a line read every invoice so far, 75 ms per group of 50 by the end. Planned
per call, the look-up is an index scan on the primary key whatever the table's size then.
A later ``CREATE OR REPLACE FUNCTION`` of it must say ``SET plan_cache_mode =
force_custom_plan`` again: replacing a function drops its settings (a test checks).
"""

from django.db import migrations

FUNCTION = "billing_invoiceline_immutable()"


def plan_per_call(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER FUNCTION {FUNCTION} SET plan_cache_mode = force_custom_plan")


def cache_plans(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER FUNCTION {FUNCTION} RESET plan_cache_mode")


class Migration(migrations.Migration):
    dependencies = [("billing", "0019_billing_staff_keep_products")]

    operations = [migrations.RunPython(plan_per_call, cache_plans)]
