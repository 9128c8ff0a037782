"""An email attachment's stored file and SHA-256 are set once (PostgreSQL and SQLite).

``MessageAttachment.save`` refuses a change, but a queryset update or SQL would not ask.
Every download checks the bytes against the recorded hash, which only means something if
neither the reference nor the hash can be rewritten to match a swapped file. Attachments
are stored with both at once and never updated; erasure and retention delete the row.
"""

from __future__ import annotations

from django.db import migrations

MESSAGE = "the stored file and SHA-256 of an email attachment are set once: they cannot change"  # no quotes: SQL text

POSTGRESQL = f"""
CREATE OR REPLACE FUNCTION accounts_attachment_file_once() RETURNS trigger AS $$
BEGIN
    IF NEW.file IS DISTINCT FROM OLD.file OR NEW.sha256 IS DISTINCT FROM OLD.sha256 THEN
        RAISE EXCEPTION '{MESSAGE} (attachment %)', OLD.id USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER accounts_attachment_file_once
    BEFORE UPDATE OF file, sha256 ON accounts_messageattachment
    FOR EACH ROW EXECUTE FUNCTION accounts_attachment_file_once();
"""
SQLITE = f"""
CREATE TRIGGER accounts_attachment_file_once
    BEFORE UPDATE OF file, sha256 ON accounts_messageattachment
    WHEN NEW.file IS NOT OLD.file OR NEW.sha256 IS NOT OLD.sha256
BEGIN
    SELECT RAISE(ABORT, '{MESSAGE}');
END;
"""
DROP = {
    "postgresql": "DROP TRIGGER IF EXISTS accounts_attachment_file_once ON accounts_messageattachment; "
    "DROP FUNCTION IF EXISTS accounts_attachment_file_once();",
    "sqlite": "DROP TRIGGER IF EXISTS accounts_attachment_file_once;",
}


def create_trigger(apps, schema_editor) -> None:
    sql = {"postgresql": POSTGRESQL, "sqlite": SQLITE}.get(schema_editor.connection.vendor)
    if sql:
        schema_editor.execute(sql, params=None)


def drop_trigger(apps, schema_editor) -> None:
    sql = DROP.get(schema_editor.connection.vendor)
    if sql:
        schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0021_provider_security_txt")]

    operations = [migrations.RunPython(create_trigger, drop_trigger)]
