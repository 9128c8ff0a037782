"""An email backend for benchmarks: each message is turned into the bytes SMTP would
send, counted and dropped: a portal email's ``smtp_bytes()``, what the portal's delivery
hands the SMTP server, and any other email's ``message().as_bytes()``, as Django's SMTP
backend does (attachments encoded either way).

Django's locmem backend keeps a deep copy of every message in ``mail.outbox``: at 10,000
invoices with a PDF each, a heap that grows all run long and slows everything else in the
process (the garbage collector walks it), which no real mail server connection does.
"""

from __future__ import annotations

from django.core.mail.backends.base import BaseEmailBackend


class CountingBackend(BaseEmailBackend):
    sent = 0  # messages accepted since the counter was last reset
    sent_bytes = 0

    def send_messages(self, email_messages) -> int:
        for message in email_messages:
            smtp_bytes = getattr(message, "smtp_bytes", None)
            CountingBackend.sent_bytes += len(smtp_bytes() if smtp_bytes else message.message().as_bytes())
        CountingBackend.sent += len(email_messages)
        return len(email_messages)
