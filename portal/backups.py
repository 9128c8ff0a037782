"""Backups that restore: the database and every private file, with a manifest of hashes.

A backup is a folder:

- ``database.sqlite3`` (SQLite's online backup: a consistent copy while the portal runs)
  or ``database.pgdump`` (``pg_dump --format=custom``: one snapshot of the whole
  database);
- ``files/<name>``: each private file, under its storage name, copied *after* the
  database, so every file the dump refers to is there (files are written once, under
  names that include their hash, and never changed);
- ``manifest.json``: when, which database, and the SHA-256 of the dump and of every file.

``restore`` puts a backup into an **empty** database and storage (it refuses anything
else, so it can never overwrite a live installation), checking each file against the
manifest as it goes, then checks every file a row refers to (``verify_files``). The
portal's own processes need not stop while a backup is taken; a restore is done before
they start. docs/operations.md says when and how.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from django.apps import apps
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import FileField

MANIFEST = "manifest.json"
FORMAT = 1
CHUNK = 1024 * 1024


class BackupError(Exception):
    """The backup or restore cannot go ahead; the message says why and what to do."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def stored_files(folder: str = "") -> list[str]:
    """Every file in private storage, by storage name (works for a folder or a bucket)."""
    try:
        folders, files = default_storage.listdir(folder)
    except FileNotFoundError:  # a folder storage not yet made: nothing stored
        return []
    names = [f"{folder}/{name}" if folder else name for name in files]
    for sub in folders:
        names.extend(stored_files(f"{folder}/{sub}" if folder else sub))
    return sorted(names)


def _pg_environ(settings_dict: dict) -> tuple[list[str], dict[str, str]]:
    """Connection arguments for pg_dump/pg_restore, the password in the environment."""
    args = []
    for option, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if settings_dict.get(key):
            args += [option, str(settings_dict[key])]
    environ = dict(os.environ)
    if settings_dict.get("PASSWORD"):
        environ["PGPASSWORD"] = settings_dict["PASSWORD"]
    return args, environ


def _run(command: list[str], environ: dict[str, str]) -> None:
    try:
        subprocess.run(command, env=environ, check=True, capture_output=True, text=True)  # noqa: S603
    except FileNotFoundError:
        raise BackupError(f"{command[0]} is not installed: it comes with PostgreSQL's client tools.") from None
    except subprocess.CalledProcessError as exc:
        raise BackupError(f"{command[0]} failed: {exc.stderr.strip() or exc.returncode}") from None


def _dump_database(target: Path) -> str:
    connection = connections[DEFAULT_DB_ALIAS]
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        path = target / "database.sqlite3"
        connection.ensure_connection()
        destination = sqlite3.connect(path)
        try:
            connection.connection.backup(destination)
        finally:
            destination.close()
        return path.name
    if connection.vendor == "postgresql":
        path = target / "database.pgdump"
        args, environ = _pg_environ(settings_dict)
        _run(["pg_dump", "--format=custom", "--no-owner", "--file", str(path), *args, settings_dict["NAME"]], environ)
        return path.name
    raise BackupError(f"Backups of a {connection.vendor} database are not supported: use PostgreSQL or SQLite.")


@dataclass
class Backup:
    path: Path
    database: str
    files: dict[str, str] = field(default_factory=dict)


def make_backup(target: Path) -> Backup:
    """Write a backup into ``target``, a folder that must not exist yet or be empty."""
    if target.exists() and any(target.iterdir()):
        raise BackupError(f"{target} is not empty: give a new folder for each backup.")
    (target / "files").mkdir(parents=True, exist_ok=True)
    database = _dump_database(target)
    files = {}
    for name in stored_files():  # after the database: see the module docstring
        destination = target / "files" / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        with default_storage.open(name, "rb") as source, destination.open("wb") as copy:
            shutil.copyfileobj(source, copy, CHUNK)
        files[name] = _sha256(destination)
    manifest = {
        "format": FORMAT,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "database": {"vendor": connections[DEFAULT_DB_ALIAS].vendor, "file": database},
        "database_sha256": _sha256(target / database),
        "files": files,
    }
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return Backup(target, database, files)


def _read_manifest(source: Path) -> dict:
    try:
        manifest = json.loads((source / MANIFEST).read_text())
    except FileNotFoundError:
        raise BackupError(f"{source} holds no {MANIFEST}: it is not a backup made by `manage.py backup`.") from None
    except json.JSONDecodeError as exc:
        raise BackupError(f"{source / MANIFEST} is damaged: {exc}.") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{source} is a backup of format {manifest.get('format')!r}; this portal reads {FORMAT}.")
    dump = source / manifest["database"]["file"]
    if not dump.is_file() or _sha256(dump) != manifest["database_sha256"]:
        raise BackupError(f"{dump} is missing or does not match the manifest: the backup is damaged.")
    return manifest


def _restore_database(source: Path, manifest: dict) -> None:
    connection = connections[DEFAULT_DB_ALIAS]
    vendor = manifest["database"]["vendor"]
    if vendor != connection.vendor:
        raise BackupError(f"The backup is of a {vendor} database; this portal is set up for {connection.vendor}.")
    if connection.introspection.table_names():
        raise BackupError(
            "The database is not empty: restore into a new, empty database (and empty file storage), "
            "so that nothing live is overwritten."
        )
    dump = source / manifest["database"]["file"]
    if vendor == "sqlite":
        connection.ensure_connection()
        backup = sqlite3.connect(dump)
        try:
            backup.backup(connection.connection)
        finally:
            backup.close()
        return
    args, environ = _pg_environ(connection.settings_dict)
    connection.close()
    _run(
        ["pg_restore", "--no-owner", "--exit-on-error", *args, "--dbname", connection.settings_dict["NAME"], str(dump)],
        environ,
    )


def restore_backup(source: Path) -> int:
    """Restore the backup in ``source`` into the empty database and storage; returns the
    number of files restored. Raises BackupError, changing nothing, when it cannot."""
    manifest = _read_manifest(source)
    if stored_files():
        raise BackupError("File storage is not empty: restore into empty storage, so nothing live is overwritten.")
    for name, digest in manifest["files"].items():
        copy = source / "files" / name
        if not copy.is_file() or _sha256(copy) != digest:
            raise BackupError(f"{copy} is missing or does not match the manifest: the backup is damaged.")
    _restore_database(source, manifest)
    for name in manifest["files"]:
        with (source / "files" / name).open("rb") as handle:
            saved = default_storage.save(name, File(handle))
        if saved != name:
            raise BackupError(f"{name} was stored as {saved}: file storage was not empty.")
    return len(manifest["files"])


def _hash_field(model, field_name: str) -> str | None:
    """The field beside a file field that keeps its SHA-256, if the model has one."""
    names = {f.name for f in model._meta.get_fields()}
    for candidate in (f"{field_name}_sha256", "sha256" if field_name == "file" else ""):
        if candidate in names:
            return candidate
    return None


def verify_files() -> list[str]:
    """Every file a row refers to: present in storage, and matching its stored SHA-256
    where the row keeps one. Returns the problems found, one line each."""
    problems = []
    for model in apps.get_models():
        for model_field in model._meta.get_fields():
            if not isinstance(model_field, FileField):
                continue
            digest_field = _hash_field(model, model_field.name)
            wanted = ["pk", model_field.name] + ([digest_field] if digest_field else [])
            rows = model._default_manager.exclude(**{model_field.name: ""}).values_list(*wanted)
            for pk, name, *digest in rows.iterator():
                label = f"{model._meta.label} {pk} {model_field.name}"
                if not default_storage.exists(name):
                    problems.append(f"{label}: {name} is missing from file storage.")
                    continue
                if digest and digest[0]:
                    actual = hashlib.sha256()
                    with default_storage.open(name, "rb") as handle:
                        while chunk := handle.read(CHUNK):
                            actual.update(chunk)
                    if actual.hexdigest() != digest[0]:
                        problems.append(f"{label}: {name} does not match its recorded SHA-256.")
    return problems
