"""Storage backends for tests that need the file store to misbehave."""

from __future__ import annotations

import errno

from django.core.files.storage import FileSystemStorage


class FullDiskStorage(FileSystemStorage):
    """Reads what is there; refuses every write as a full disk does."""

    def save(self, name, content, max_length=None):
        raise OSError(errno.ENOSPC, "disk full")
