from __future__ import annotations

from django.core.management import call_command
from django.db import migrations


def create_page_cache_table(apps, schema_editor) -> None:
    """Customer pages once rendered (core.pagecache) live in a table of their own when
    PORTAL_CACHE_URL is db; createcachetable makes only the tables still missing."""
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("portal", "0001_cache_table")]
    operations = [migrations.RunPython(create_page_cache_table, migrations.RunPython.noop)]
