"""A real SMTP server on loopback for tests (aiosmtpd), keeping every message it accepts; plain,
STARTTLS or TLS from the start, with a login if asked."""

from __future__ import annotations

import email
import socket
import ssl
import time
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Mailbox:
    """The aiosmtpd handler: accepted messages in order; refuses the addresses in `refuse` with 550."""

    raw: list[bytes] = field(default_factory=list)
    sessions: list[tuple[bool, str | None]] = field(default_factory=list)  # (over TLS, login) per message
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
        login = session.auth_data.login.decode() if session.authenticated else None
        tls = session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None
        self.sessions.append((tls, login))
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list[EmailMessage]:
        return [email.message_from_bytes(raw, policy=policy.default) for raw in self.raw]  # type: ignore[misc]

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


class MailServer:
    """Start, stop and start again on the same port (a server that goes down mid-run).

    With a certificate context: `security` "starttls" (TLS required before MAIL) or "ssl" (TLS from
    the first byte); with `login` (user, password), messages are taken only after that login, over TLS.
    """

    def __init__(
        self,
        mailbox: Mailbox | None = None,
        port: int | None = None,
        tls: ssl.SSLContext | None = None,
        security: str = "plain",
        login: tuple[str, str] | None = None,
    ) -> None:
        self.mailbox = mailbox or Mailbox()
        self.port = port or free_port()
        self.tls, self.security, self.login = tls, security, login
        self._controller: Controller | None = None

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        good = isinstance(data, LoginPassword) and self.login == (data.login.decode(), data.password.decode())
        return AuthResult(success=good, handled=False, auth_data=data if good else None)

    def start(self) -> MailServer:
        options: dict[str, Any] = {}
        if self.security == "starttls":
            options.update(tls_context=self.tls, require_starttls=True)
        elif self.security == "ssl":
            options.update(ssl_context=self.tls)
        if self.login:
            # over "ssl" the whole session is TLS, which aiosmtpd's auth_require_tls does not see
            options.update(
                authenticator=self._authenticate,
                auth_required=True,
                auth_require_tls=self.security == "starttls",
            )
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port, **options)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def settings(self) -> dict[str, Any]:
        """The paperwire settings that send to this server (a certificate must name 127.0.0.1)."""
        settings: dict[str, Any] = {
            "smtp_host": "127.0.0.1",
            "smtp_port": self.port,
            "smtp_security": self.security,
        }
        if self.login:
            settings.update(smtp_username=self.login[0], smtp_password=self.login[1])
        return settings
