"""A real SMTP server on loopback for tests (aiosmtpd), keeping every message it accepts."""

from __future__ import annotations

import email
import socket
import time
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Mailbox:
    """The aiosmtpd handler: accepted messages in order; refuses the addresses in `refuse` with 550."""

    raw: list[bytes] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    delay: float = 0.0  # seconds spent on each message, to widen the window a test aims at

    async def handle_RCPT(  # noqa: N802 (the aiosmtpd hook's name)
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.lower() in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.delay:
            time.sleep(self.delay)
        self.raw.append(bytes(envelope.content))
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list[EmailMessage]:
        return [email.message_from_bytes(raw, policy=policy.default) for raw in self.raw]  # type: ignore[misc]

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


class MailServer:
    """Start, stop and start again on the same port (a server that goes down mid-run)."""

    def __init__(self, mailbox: Mailbox | None = None, port: int | None = None) -> None:
        self.mailbox = mailbox or Mailbox()
        self.port = port or free_port()
        self._controller: Controller | None = None

    def start(self) -> MailServer:
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def settings(self) -> dict[str, Any]:
        """The paperwire settings that send to this server."""
        return {"smtp_host": "127.0.0.1", "smtp_port": self.port, "smtp_security": "plain"}
