"""The local outbox of the embedded default: mail written to files instead of sent.

Django's file backend writes with the process's umask (0644 files in 0755 folders): a
message can hold a one-time link (an invitation, an email confirmation) that anyone with
an account on the machine could then read and use. These files and their folder are
readable by the portal's own user only.
"""

from __future__ import annotations

import os

from django.core.mail.backends import filebased


class PrivateOutboxBackend(filebased.EmailBackend):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        os.chmod(self.file_path, 0o700)

    def open(self) -> bool:
        opened = super().open()
        if opened:
            os.chmod(self._fname, 0o600)
        return opened
