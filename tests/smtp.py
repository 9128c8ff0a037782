"""A real SMTP server on loopback for delivery tests (aiosmtpd), with scripted failures."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller


@dataclass
class Recorder:
    received: list = field(default_factory=list)
    # Replies to give to the next DATA commands instead of accepting, e.g. "451 4.3.0 try later".
    scripted: list[str] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):
        if self.scripted:
            return self.scripted.pop(0)
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
