"""A storage grant names a virtual service: the database refuses any other.

The service function and the admin refuse a grant on a physical server, but a queryset
update or SQL would not ask them, and a CHECK constraint cannot look at another table:
a trigger on each database we run on does.
"""

from __future__ import annotations

from django.db import migrations

POSTGRESQL = """
CREATE OR REPLACE FUNCTION privacy_storagegrant_virtual_only() RETURNS trigger AS $$
BEGIN
    IF (SELECT platform FROM accounts_service WHERE id = NEW.service_id) IS DISTINCT FROM 'virtual' THEN
        RAISE EXCEPTION
            'service % is not on the virtual platform: the storage of physical servers is never accessed',
            NEW.service_id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER privacy_storagegrant_virtual_only
    BEFORE INSERT OR UPDATE OF service_id ON privacy_storagegrant
    FOR EACH ROW EXECUTE FUNCTION privacy_storagegrant_virtual_only();
"""
POSTGRESQL_DROP = """
DROP TRIGGER IF EXISTS privacy_storagegrant_virtual_only ON privacy_storagegrant;
DROP FUNCTION IF EXISTS privacy_storagegrant_virtual_only();
"""
SQLITE = [
    f"""
CREATE TRIGGER privacy_storagegrant_virtual_only_{event.split()[0].lower()}
    BEFORE {event} ON privacy_storagegrant
    FOR EACH ROW
    WHEN (SELECT platform FROM accounts_service WHERE id = NEW.service_id) IS NOT 'virtual'
    BEGIN
        SELECT RAISE(ABORT, 'the storage of physical servers is never accessed: a grant needs a virtual service');
    END;
"""
    for event in ("INSERT", "UPDATE OF service_id")
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS privacy_storagegrant_virtual_only_insert;",
    "DROP TRIGGER IF EXISTS privacy_storagegrant_virtual_only_update;",
]


def create_trigger(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRESQL, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE:
            schema_editor.execute(statement, params=None)


def drop_trigger(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_DROP, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_DROP:
            schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("privacy", "0014_storage_access")]

    operations = [migrations.RunPython(create_trigger, drop_trigger)]
