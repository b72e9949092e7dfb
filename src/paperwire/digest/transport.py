"""Handing emails over: to an SMTP server (STARTTLS, SSL or plain), or to .eml files for a trial run.

A transport either accepts a message or raises DeliveryError, saying whether trying again later can
help (the server is down, busy or answered 4xx) or not (5xx: the address or message is refused).
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from paperwire.config import Settings

DEFAULT_PORTS = {"ssl": 465, "starttls": 587, "plain": 25}


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply


def _what_to_fix(exc: Exception) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"the SMTP server's certificate is not trusted ({exc.verify_message}); set smtp_ca_file "
            "to the PEM file of the authority that signed it, or fix smtp_host to the name it has"
        )
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"SMTP login failed: {exc.smtp_code}; check smtp_username/smtp_password"
    assert isinstance(exc, smtplib.SMTPSenderRefused)  # about the sender or the session
    return (
        f"the SMTP server refuses to send from {exc.sender}: {exc.smtp_code} {_text(exc.smtp_error)}; "
        "check mail_from, smtp_security and the login settings"
    )


class DeliveryError(Exception):
    def __init__(self, message: str, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class Transport(Protocol):
    def send(self, message: EmailMessage) -> None: ...

    def close(self) -> None: ...


class SmtpTransport:
    """One connection, opened on the first message and reused; reopened after a failure."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        host, port = s.smtp_host or "localhost", s.smtp_port or DEFAULT_PORTS[s.smtp_security]
        try:
            context = ssl.create_default_context(cafile=s.smtp_ca_file)
        except OSError as exc:  # ssl.SSLError included
            raise DeliveryError(
                f"smtp_ca_file {s.smtp_ca_file} cannot be read as PEM certificates: {exc}; fix the path",
                permanent=False,
            ) from exc
        smtp: smtplib.SMTP
        if s.smtp_security == "ssl":
            smtp = smtplib.SMTP_SSL(host, port, timeout=s.smtp_timeout, context=context)
        else:
            smtp = smtplib.SMTP(host, port, timeout=s.smtp_timeout)
        try:
            if s.smtp_security == "starttls":
                smtp.starttls(context=context)
            if s.smtp_username:
                password = s.smtp_password.get_secret_value() if s.smtp_password else ""
                smtp.login(s.smtp_username, password)
        except smtplib.SMTPNotSupportedError as exc:  # the settings are wrong, not the address
            smtp.close()
            raise DeliveryError(
                f"{exc}; check smtp_security (the server's port may want 'ssl', 'starttls' or 'plain') "
                "and whether it needs smtp_username",
                permanent=False,
            ) from exc
        return smtp

    def send(self, message: EmailMessage) -> None:
        try:
            if self._smtp is None:
                self._smtp = self._connect()
            self._smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            raise DeliveryError(f"recipient refused: {code} {_text(reply)}", code >= 500) from exc
        except smtplib.SMTPDataError as exc:
            self._reset()
            raise DeliveryError(
                f"refused: {exc.smtp_code} {_text(exc.smtp_error)}", exc.smtp_code >= 500
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:  # e.g. an address that needs SMTPUTF8
            raise DeliveryError(f"the SMTP server cannot take this message: {exc}", permanent=True) from exc
        except (
            smtplib.SMTPSenderRefused,
            smtplib.SMTPAuthenticationError,
            ssl.SSLCertVerificationError,
        ) as exc:
            self._reset()  # the settings are wrong, not the address: sent once they are fixed
            raise DeliveryError(_what_to_fix(exc), permanent=False) from exc
        except (smtplib.SMTPException, OSError) as exc:
            self._reset()
            raise DeliveryError(f"SMTP server unavailable: {exc}", permanent=False) from exc

    def _reset(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            with contextlib.suppress(OSError):
                smtp.close()

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._smtp.quit()
        self._reset()


class DirectoryTransport:
    """Writes each message to <directory>/<Message-ID>.eml, for trying paperwire without a server."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, message: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = str(message["Message-ID"]).strip("<>").split("@")[0]
        target = self.directory / f"{name}.eml"
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(bytes(message))
        tmp.replace(target)

    def close(self) -> None:
        pass


def transport_for(settings: Settings) -> Transport:
    if settings.smtp_host:
        return SmtpTransport(settings)
    return DirectoryTransport(settings.data_dir / "mail")
