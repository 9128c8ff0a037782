"""Stored files read back only if they are still the bytes that were stored.

A private file (an issued invoice's PDF, an email attachment, a data export) is stored
with its SHA-256 on the row that refers to it. Whoever can write to the file storage
could otherwise swap the file under the row, and every download would serve the swap.
``read_verified`` refuses, and logs an error for staff (monitoring and error reporting
pick it up), when the bytes no longer match.

This module imports no app (see ``core``).
"""

from __future__ import annotations

import hashlib
import logging

from django.core.files.storage import default_storage

logger = logging.getLogger(__name__)
CHUNK = 1024 * 1024


class StoredFileAltered(Exception):
    """The stored file no longer matches the SHA-256 recorded when it was stored."""


def read_verified(name: str, sha256: str) -> bytes:
    """The file's bytes, after checking them against ``sha256`` (when one was recorded)."""
    with default_storage.open(name, "rb") as handle:
        content = handle.read()
    _compare(name, hashlib.sha256(content).hexdigest(), sha256)
    return content


def check_verified(name: str, sha256: str) -> None:
    """As ``read_verified``, reading in chunks, for files served as a stream (exports)."""
    digest = hashlib.sha256()
    with default_storage.open(name, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    _compare(name, digest.hexdigest(), sha256)


def _compare(name: str, actual: str, recorded: str) -> None:
    if recorded and actual != recorded:
        logger.error("Stored file %s does not match its recorded SHA-256: refused; restore it from a backup.", name)
        raise StoredFileAltered(f"{name} has been altered since it was stored.")
