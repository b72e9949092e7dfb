"""Structured access logs: one JSON line per request on the `paperwire.access` logger."""

from __future__ import annotations

import logging
import re
import sys
import time
from datetime import UTC, datetime

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("paperwire.access")
# The signed links in emails (unsubscribe, feeds) are credentials: kept out of the logs.
_TOKEN = re.compile(r"(^|&)(token=)[^&]*")


class AccessLog:
    """Logs method, path, query (link tokens redacted), status, bytes sent, duration and client of every
    HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status, sent = 500, 0  # what is logged when the app raises before it answers

        async def counting_send(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            client = scope.get("client")
            entry = {
                "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "method": scope["method"],
                "path": scope["path"],
                "query": _TOKEN.sub(r"\1\2redacted", scope.get("query_string", b"").decode("latin-1")),
                "status": status,
                "bytes": sent,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "client": client[0] if client else None,
            }
            log.info(orjson.dumps(entry).decode())


def configure_access_log() -> None:
    """Send access log lines, as they are, to stderr (called by `paperwire serve`)."""
    if any(getattr(h, "paperwire_access", False) for h in log.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.paperwire_access = True  # type: ignore[attr-defined]
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
