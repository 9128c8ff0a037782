"""A real SMTP server on loopback for delivery tests (aiosmtpd), with scripted failures:
replies to DATA (``fail_next``) and to RCPT for chosen addresses (``refuse``)."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller


@dataclass
class Recorder:
    received: list = field(default_factory=list)
    # Replies to give to the next DATA commands instead of accepting, e.g. "451 4.3.0 try later".
    scripted: list[str] = field(default_factory=list)
    # Replies to RCPT TO for an address, one per attempt; the last one stays for good.
    refusals: dict[str, list[str]] = field(default_factory=dict)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        replies = self.refusals.get(address.lower())
        if replies:
            reply = replies.pop(0) if len(replies) > 1 else replies[0]
            if reply is not None:
                return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.scripted:
            return self.scripted.pop(0)
        envelope.peer = session.peer  # which connection brought it
        self.received.append(envelope)
        return "250 2.0.0 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SMTPServer:
    def __init__(self) -> None:
        self.recorder = Recorder()
        self.port = free_port()
        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SMTPServer:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()

    @property
    def received(self) -> list:
        return self.recorder.received

    def fail_next(self, *replies: str) -> None:
        self.recorder.scripted.extend(replies)

    def refuse(self, address: str, *replies: str | None) -> None:
        """Answer RCPT TO:<address> with each reply in turn, then keep answering the last
        (``None`` accepts): ``refuse(a, "451 4.2.2 full", None)`` defers once, then accepts."""
        self.recorder.refusals[address.lower()] = list(replies)

    def delivered_to(self, address: str) -> int:
        """How many copies the server accepted for ``address``."""
        return sum(address.lower() in (r.lower() for r in envelope.rcpt_tos) for envelope in self.received)
