"""Running the web service with uvicorn: one process, or several workers sharing the data directory."""

from __future__ import annotations

import contextlib
import os
import socket

import uvicorn
from pydantic import SecretStr
from uvicorn.supervisors import Multiprocess

from paperwire.config import Settings
from paperwire.web.access_log import configure_access_log
from paperwire.web.app import PREPARED_VARIABLE, create_app, settle_collector


def settings_environment(settings: Settings) -> dict[str, str]:
    """The settings as PAPERWIRE_* variables, so worker processes rebuild exactly these settings."""
    variables = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        variables[f"PAPERWIRE_{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
    return variables


def serve(settings: Settings, host: str, port: int, workers: int) -> None:
    """Serve until interrupted; the data directory must be prepared (demo corpus, indexes) already."""
    configure_access_log()
    if workers == 1:
        app = create_app(settings, prepared=True)
        settle_collector()
        uvicorn.run(app, host=host, port=port, access_log=False, proxy_headers=True)
        return
    os.environ.update(settings_environment(settings))
    os.environ[PREPARED_VARIABLE] = "1"
    config = uvicorn.Config(
        "paperwire.web.app:app_from_environment", factory=True, host=host, port=port, workers=workers,
        access_log=False, proxy_headers=True,
    )  # fmt: skip
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C stops the workers, then this
        Multiprocess(config, sockets=[tcp_listener(config.bind_socket())]).run()


def tcp_listener(sock: socket.socket) -> socket.socket:
    """The listening socket marked as TCP, so asyncio turns Nagle off on every connection it accepts.

    uvicorn's `bind_socket` leaves `proto` 0 and asyncio sets TCP_NODELAY only where it is TCP: with
    several workers each keep-alive answer waited ~40 ms for the client's delayed ACK
    (https://github.com/Kludex/uvicorn/issues/3149; bench/WEB.md).
    """
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.proto == socket.IPPROTO_TCP:
        return sock
    tcp = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
    tcp.set_inheritable(True)
    return tcp
