"""An issued document's stored PDF, once set, is never replaced or cleared (PostgreSQL).

``Invoice.save`` refuses it, but a queryset update or SQL would not ask. The PDF that was
emailed is the file every later download returns, and its SHA-256 is how a swapped file
is caught: both are set once, from empty, by the conditional UPDATE that stores the PDF.
A trigger of its own, so the immutability trigger of migration 0006/0012 stays as it is.
"""

from __future__ import annotations

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION billing_invoice_pdf_once() RETURNS trigger AS $$
BEGIN
    IF OLD.pdf <> '' AND (NEW.pdf IS DISTINCT FROM OLD.pdf OR NEW.pdf_sha256 IS DISTINCT FROM OLD.pdf_sha256) THEN
        RAISE EXCEPTION
            'the stored PDF of % % is set once: it cannot be replaced or cleared', OLD.kind, OLD.number
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER billing_invoice_pdf_once
    BEFORE UPDATE OF pdf, pdf_sha256 ON billing_invoice
    FOR EACH ROW EXECUTE FUNCTION billing_invoice_pdf_once();
"""
DROP = """
DROP TRIGGER IF EXISTS billing_invoice_pdf_once ON billing_invoice;
DROP FUNCTION IF EXISTS billing_invoice_pdf_once();
"""


def create_trigger(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_trigger(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("billing", "0022_number_order_follows_date_order_and_billing_in_advance")]

    operations = [migrations.RunPython(create_trigger, drop_trigger)]
