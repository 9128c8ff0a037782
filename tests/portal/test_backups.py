"""Backups that restore, as an operator runs them: a populated portal is backed up with
`manage.py backup`, restored with `manage.py restore` into an empty database and empty
file storage, and everything is there: every file matches its hash, the ledger verifies,
each customer's invoices and correspondence are all present. On SQLite always; on
PostgreSQL too where the suite runs against it (CI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = ("PORTAL_", "DJANGO_", "EMAIL_", "CELERY_", "DATABASE_")

POPULATE = """
from accounts.models import Customer
from accounts.audit import System
from privacy.services.ledger import record_disclosure
customer = Customer.objects.order_by("pk").first()
record_disclosure(recipient_kind="accountant", recipient="Example Accountants LLP", purpose="Year-end accounts",
                  legal_basis="legal_obligation", categories=["financial"], customers=[customer],
                  actor=System("tests"))
"""
SUMMARY = """
import json
from accounts.correspondence.models import Message
from accounts.models import Customer
from billing.models import Invoice
print(json.dumps({
    c.registered_name: {
        "invoices": sorted(Invoice.objects.filter(customer=c).exclude(number=None).values_list("number", "pdf_sha256")),
        "messages": sorted(Message.objects.filter(customer=c).values_list("subject", flat=True)),
    }
    for c in Customer.objects.all()
}))
"""


def _manage(environ: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environ, capture_output=True, text=True, check=check
    )


def _environ(var: Path, database_url: str | None) -> dict[str, str]:
    environ = {name: value for name, value in os.environ.items() if not name.startswith(OURS)}
    environ["PORTAL_VAR_DIR"] = str(var)
    if database_url:
        environ["DATABASE_URL"] = database_url
    return environ


def _postgres_databases():
    """Two new, empty PostgreSQL databases beside the suite's, dropped afterwards."""
    import psycopg

    base = urlsplit(os.environ["DATABASE_URL"])
    names = [f"backup_test_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    admin = urlunsplit(base._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        for name in names:
            connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield [urlunsplit(base._replace(path=f"/{name}")) for name in names]
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            for name in names:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def databases(request):
    if request.param == "sqlite":
        yield [None, None]
        return
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        pytest.skip("needs PostgreSQL (DATABASE_URL=postgres://...)")
    yield from _postgres_databases()


def test_a_backup_restores_into_an_empty_portal_with_every_file_and_record(tmp_path, databases):
    live = _environ(tmp_path / "live", databases[0])
    _manage(live, "migrate", "--noinput")
    _manage(live, "load_demo")
    _manage(live, "shell", "-c", POPULATE)
    before = json.loads(_manage(live, "shell", "-c", SUMMARY).stdout.splitlines()[-1])
    assert any(customer["invoices"] for customer in before.values())

    backup = tmp_path / "backup"
    assert "Backed up the database" in _manage(live, "backup", str(backup)).stdout
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["files"] and all(len(digest) == 64 for digest in manifest["files"].values())

    fresh = _environ(tmp_path / "fresh", databases[1])
    restored = _manage(fresh, "restore", str(backup))
    assert "every stored file matches its record" in restored.stdout
    assert "Ledger intact: 1 entries" in _manage(fresh, "verify_ledger").stdout
    assert json.loads(_manage(fresh, "shell", "-c", SUMMARY).stdout.splitlines()[-1]) == before

    # Never over a live installation.
    again = _manage(fresh, "restore", str(backup), check=False)
    assert again.returncode != 0 and "not empty" in again.stderr


def test_a_damaged_backup_is_refused_before_anything_is_restored(tmp_path):
    live = _environ(tmp_path / "live", None)
    _manage(live, "migrate", "--noinput")
    _manage(live, "load_demo")
    backup = tmp_path / "backup"
    _manage(live, "backup", str(backup))
    some_file = next(path for path in (backup / "files").rglob("*") if path.is_file())
    some_file.write_bytes(b"tampered")

    fresh = _environ(tmp_path / "fresh", None)
    result = _manage(fresh, "restore", str(backup), check=False)
    assert result.returncode != 0 and "does not match the manifest" in result.stderr
    assert not (tmp_path / "fresh" / "portal.sqlite3").exists()  # nothing restored
    assert not (tmp_path / "fresh" / "private").exists()
    # And a backup folder is never written over.
    refused = _manage(live, "backup", str(backup), check=False)
    assert refused.returncode != 0 and "is not empty" in refused.stderr


def test_verify_files_names_a_stored_file_that_was_altered(tmp_path):
    live = _environ(tmp_path / "live", None)
    _manage(live, "migrate", "--noinput")
    _manage(live, "load_demo")
    assert "Every stored file is present" in _manage(live, "verify_files").stdout
    pdf = next((tmp_path / "live" / "private" / "billing").rglob("*.pdf"))
    pdf.write_bytes(b"%PDF-1.7 swapped")
    result = _manage(live, "verify_files", check=False)
    assert result.returncode != 0
    assert "billing.Invoice" in result.stderr and "does not match its recorded SHA-256" in result.stderr
