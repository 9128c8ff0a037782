"""Issued invoices and credit notes are immutable in the database too (PostgreSQL only).

``Invoice.save``/``delete`` and ``InvoiceLine.save`` already refuse changes to issued
documents, but raw SQL, ``QuerySet.update()`` and bulk deletes bypass them. On PostgreSQL
triggers refuse, for ``billing_invoice`` rows that are no longer drafts:

- an UPDATE that changes any column other than those in ``Invoice.MUTABLE_AFTER_ISSUE``
  (status, pdf, pdf_sha256), or that puts the document back to draft;
- a DELETE;

and any INSERT, UPDATE or DELETE of a ``billing_invoiceline`` row whose invoice is not a draft.

The UPDATE check compares the whole row as JSON less the mutable columns, so a column
added later is immutable after issue unless it is added to the list here too.
SQLite (the embedded trial database) gets nothing: the model checks are all it has.
"""

from __future__ import annotations

from django.db import migrations

# The mutable columns are Invoice.MUTABLE_AFTER_ISSUE, frozen at this migration.
CREATE = """
CREATE OR REPLACE FUNCTION billing_invoice_immutable() RETURNS trigger AS $$
BEGIN
    IF OLD.status = 'draft' THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION
            'issued documents are immutable: issue a credit note (% % cannot be deleted)', OLD.kind, OLD.number
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.status = 'draft' THEN
        RAISE EXCEPTION
            'issued documents are immutable: issue a credit note (% % cannot go back to draft)', OLD.kind, OLD.number
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF (to_jsonb(OLD) - 'status' - 'pdf' - 'pdf_sha256')
       IS DISTINCT FROM (to_jsonb(NEW) - 'status' - 'pdf' - 'pdf_sha256') THEN
        RAISE EXCEPTION
            'issued documents are immutable: issue a credit note (% % may only change status, pdf, pdf_sha256)',
            OLD.kind, OLD.number
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER billing_invoice_immutable
    BEFORE UPDATE OR DELETE ON billing_invoice
    FOR EACH ROW EXECUTE FUNCTION billing_invoice_immutable();

CREATE OR REPLACE FUNCTION billing_invoiceline_immutable() RETURNS trigger AS $$
DECLARE
    invoice_ids bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        invoice_ids := ARRAY[NEW.invoice_id];
    ELSIF TG_OP = 'UPDATE' THEN
        invoice_ids := ARRAY[OLD.invoice_id, NEW.invoice_id];
    ELSE
        invoice_ids := ARRAY[OLD.invoice_id];
    END IF;
    IF EXISTS (SELECT 1 FROM billing_invoice WHERE id = ANY(invoice_ids) AND status <> 'draft') THEN
        RAISE EXCEPTION
            'issued documents are immutable: issue a credit note (the lines of an issued document cannot be changed)'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER billing_invoiceline_immutable
    BEFORE INSERT OR UPDATE OR DELETE ON billing_invoiceline
    FOR EACH ROW EXECUTE FUNCTION billing_invoiceline_immutable();
"""

DROP = """
DROP TRIGGER IF EXISTS billing_invoiceline_immutable ON billing_invoiceline;
DROP FUNCTION IF EXISTS billing_invoiceline_immutable();
DROP TRIGGER IF EXISTS billing_invoice_immutable ON billing_invoice;
DROP FUNCTION IF EXISTS billing_invoice_immutable();
"""


def create_triggers(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_triggers(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("billing", "0005_schedule_billing_run")]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
