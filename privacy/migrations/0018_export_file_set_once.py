"""A data export's stored archive and SHA-256 are set once (PostgreSQL and SQLite).

``DataExport.save`` refuses a change, but a queryset update or SQL would not ask. Once the
hash is recorded (the export is ready) it never changes, and the file reference changes
only by being cleared in the same update that marks the export expired
(``privacy.services.export.expire_exports``), so a download can trust the hash it checks.
"""

from __future__ import annotations

from django.db import migrations

MESSAGE = "the stored file and SHA-256 of a data export are set once: they cannot change"  # no quotes: SQL text

POSTGRESQL = f"""
CREATE OR REPLACE FUNCTION privacy_export_file_once() RETURNS trigger AS $$
BEGIN
    IF OLD.sha256 <> '' AND (
        NEW.sha256 IS DISTINCT FROM OLD.sha256
        OR (NEW.file IS DISTINCT FROM OLD.file AND NOT (NEW.file = '' AND NEW.status = 'expired'))
    ) THEN
        RAISE EXCEPTION '{MESSAGE} (export %)', OLD.id USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER privacy_export_file_once
    BEFORE UPDATE OF file, sha256 ON privacy_dataexport
    FOR EACH ROW EXECUTE FUNCTION privacy_export_file_once();
"""
SQLITE = f"""
CREATE TRIGGER privacy_export_file_once
    BEFORE UPDATE OF file, sha256 ON privacy_dataexport
    WHEN OLD.sha256 <> '' AND (
        NEW.sha256 IS NOT OLD.sha256
        OR (NEW.file IS NOT OLD.file AND NOT (NEW.file = '' AND NEW.status = 'expired'))
    )
BEGIN
    SELECT RAISE(ABORT, '{MESSAGE}');
END;
"""
DROP = {
    "postgresql": "DROP TRIGGER IF EXISTS privacy_export_file_once ON privacy_dataexport; "
    "DROP FUNCTION IF EXISTS privacy_export_file_once();",
    "sqlite": "DROP TRIGGER IF EXISTS privacy_export_file_once;",
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
    dependencies = [("privacy", "0017_abuse_desk_permissions")]

    operations = [migrations.RunPython(create_trigger, drop_trigger)]
