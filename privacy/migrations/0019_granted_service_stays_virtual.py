"""A service that has had a storage grant stays on the virtual platform.

Grants refuse a physical service (0014); this closes the other way round: switching a
service that has grants to the physical platform would make its grants, sessions and
checks refer to a physical server. The platform of such a service is fixed; a server
moved to physical hardware is a new service. A trigger on each database we run on.
"""

from __future__ import annotations

from django.db import migrations

POSTGRESQL = """
CREATE OR REPLACE FUNCTION accounts_service_granted_stays_virtual() RETURNS trigger AS $$
BEGIN
    IF NEW.platform IS DISTINCT FROM 'virtual'
       AND EXISTS (SELECT 1 FROM privacy_storagegrant WHERE service_id = NEW.id) THEN
        RAISE EXCEPTION 'service has storage-access grants: it stays on the virtual platform'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER accounts_service_granted_stays_virtual
    BEFORE UPDATE OF platform ON accounts_service
    FOR EACH ROW EXECUTE FUNCTION accounts_service_granted_stays_virtual();
"""
POSTGRESQL_DROP = """
DROP TRIGGER IF EXISTS accounts_service_granted_stays_virtual ON accounts_service;
DROP FUNCTION IF EXISTS accounts_service_granted_stays_virtual();
"""
SQLITE = """
CREATE TRIGGER accounts_service_granted_stays_virtual
    BEFORE UPDATE OF platform ON accounts_service
    FOR EACH ROW
    WHEN NEW.platform IS NOT 'virtual' AND EXISTS (SELECT 1 FROM privacy_storagegrant WHERE service_id = NEW.id)
    BEGIN
        SELECT RAISE(ABORT, 'service has storage-access grants: it stays on the virtual platform');
    END;
"""
SQLITE_DROP = "DROP TRIGGER IF EXISTS accounts_service_granted_stays_virtual;"


def create_trigger(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRESQL, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE, params=None)


def drop_trigger(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_DROP, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("privacy", "0018_export_file_set_once")]

    operations = [migrations.RunPython(create_trigger, drop_trigger)]
