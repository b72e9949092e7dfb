"""Sending over STARTTLS and TLS from the first byte, with a login, to a real SMTP server on loopback
whose certificate a test authority (trustme) signed; and what a wrong setting does: nothing lost,
nothing counted against the address, a message that says what to fix."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import trustme

from mail_server import MailServer
from paperwire.config import load_settings
from paperwire.digest.outbox import DeliveryReport
from paperwire.digest.service import Digests
from paperwire.digest.subscribers import Preferences
from paperwire.library import Library
from paperwire.store import schema

LOGIN = ("digest", "correct horse battery staple")
# aiosmtpd warns of AUTH without auth_require_tls, which over "ssl" (TLS from the first byte) is moot
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, Path]:
    """The server's TLS context (a certificate for 127.0.0.1) and the PEM file of the authority."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    pem = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    return server, pem


@pytest.fixture(params=["starttls", "ssl"])
def server(request: pytest.FixtureRequest, authority: tuple[ssl.SSLContext, Path]) -> Iterator[MailServer]:
    server = MailServer(tls=authority[0], security=request.param, login=LOGIN).start()
    yield server
    server.stop()


def confirmation(
    data_dir: Path, server: MailServer, **overrides: Any
) -> tuple[DeliveryReport, dict[str, Any]]:
    """Subscribe an address and send what the outbox holds: the delivery and the stored subscriber."""
    settings = load_settings(
        data_dir=data_dir, demo_corpus=False, secret_key="test-secret-key-0123456789", smtp_retries=0,
        smtp_backoff=0, **{**server.settings(), **overrides},
    )  # fmt: skip
    with Library(settings) as library:
        digests = Digests(library)
        digests.subscribe("ada@example.org", Preferences(topics=["graph neural networks"]))
        report = digests.deliver()
        with library.engine.connect() as conn:
            s = schema.subscribers
            stored = conn.execute(sa.select(s.c.status, s.c.failures)).one()._asdict()
    return report, stored


def test_tls_and_login(tmp_path: Path, server: MailServer, authority: tuple[ssl.SSLContext, Path]) -> None:
    report, _ = confirmation(tmp_path / "data", server, smtp_ca_file=authority[1])
    assert (report.sent, report.deferred) == (1, 0)
    assert server.mailbox.sessions == [(True, LOGIN[0])]  # over TLS, logged in
    assert server.mailbox.to("ada@example.org")[0]["Subject"] == "Confirm your paperwire digest"


def test_an_untrusted_certificate_waits_for_the_setting(
    tmp_path: Path, server: MailServer, authority: tuple[ssl.SSLContext, Path]
) -> None:
    report, stored = confirmation(tmp_path / "data", server)  # the system's authorities only
    assert (report.sent, report.deferred, report.failed) == (0, 1, 0)
    assert "certificate is not trusted" in report.error and "smtp_ca_file" in report.error
    assert stored == {"status": "pending", "failures": 0}  # nothing counted against the address
    assert server.mailbox.raw == []
    report, _ = confirmation(tmp_path / "data", server, smtp_ca_file=authority[1])  # fixed: it goes
    assert report.sent == 2 and len(server.mailbox.to("ada@example.org")) == 2


def test_wrong_security_or_login_waits_with_what_to_fix(
    tmp_path: Path, server: MailServer, authority: tuple[ssl.SSLContext, Path]
) -> None:
    report, stored = confirmation(tmp_path / "data", server, smtp_ca_file=authority[1], smtp_password="wrong")
    assert report.deferred == 1 and "check smtp_username/smtp_password" in report.error
    if server.security == "starttls":  # a plain session: the server wants STARTTLS before MAIL
        report, stored = confirmation(tmp_path / "data", server, smtp_security="plain", smtp_username=None)
        assert report.deferred == 2 and "530 Must issue a STARTTLS command first" in report.error
    assert stored == {"status": "pending", "failures": 0}
    assert server.mailbox.raw == []
    report, _ = confirmation(tmp_path / "data", server, smtp_ca_file=tmp_path / "missing.pem")
    assert (
        report.deferred == 2 + (server.security == "starttls")
        and "smtp_ca_file" in report.error
        and "missing.pem" in report.error
    )
