"""A loopback HTTP server that replays canned responses, for testing remote sources offline.

Routes match a path and a subset of query parameters ("/oai?verb=ListRecords&set=cs") or any
predicate on the request; each route answers with its replies in order, one per request. Every
request is recorded. A reply may be delayed to provoke a client timeout.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class Reply:
    """One canned response."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering

    @classmethod
    def file(cls, path: Path, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
        """A reply whose body is a file's bytes."""
        return cls(status, path.read_bytes(), {"Content-Type": "text/xml; charset=utf-8", **(headers or {})})


@dataclass(frozen=True)
class Request:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass(frozen=True)
class Recording:
    """A recorded response ({url, status_code, body} JSON): its query and the reply to replay."""

    path: str
    query: dict[str, str]
    reply: Reply


def load_recording(path: Path) -> Recording:
    """Read a {url, status_code, body} recording."""
    data = json.loads(path.read_text(encoding="utf-8"))
    url = urlsplit(data["url"])
    body = data["body"].encode("utf-8")
    reply = Reply(int(data["status_code"]), body, {"Content-Type": "application/atom+xml"})
    return Recording(url.path, dict(parse_qsl(url.query, keep_blank_values=True)), reply)


Matcher = Callable[[Request], bool]


def matches(pattern: str) -> Matcher:
    """A matcher for a path plus the query parameters that must be present with these values."""
    parts = urlsplit(pattern)
    wanted = dict(parse_qsl(parts.query, keep_blank_values=True))

    def match(request: Request) -> bool:
        return request.path == parts.path and all(request.query.get(k) == v for k, v in wanted.items())

    return match


class ReplayServer:
    """Serve canned replies on 127.0.0.1 from a background thread; use as a context manager."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.unmatched: list[Request] = []
        self._routes: list[tuple[Matcher, list[Reply]]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._server.block_on_close = False  # a delayed reply must not hold up shutdown
        # A short poll interval keeps shutdown (each test's teardown) fast.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def route(self, match: str | Matcher, *replies: Reply) -> None:
        """Answer requests that match with these replies, in order; earlier routes win."""
        matcher = matches(match) if isinstance(match, str) else match
        with self._lock:
            self._routes.append((matcher, list(replies)))

    def url(self, path: str = "/") -> str:
        """The absolute URL of a path on this server."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def __enter__(self) -> ReplayServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _next_reply(self, request: Request) -> Reply | None:
        with self._lock:
            self.requests.append(request)
            for matcher, replies in self._routes:
                if replies and matcher(request):
                    return replies.pop(0)
            self.unmatched.append(request)
            return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                request = Request(
                    "GET",
                    parts.path,
                    dict(parse_qsl(parts.query, keep_blank_values=True)),
                    {k.lower(): v for k, v in self.headers.items()},
                )
                reply = server._next_reply(request) or Reply(
                    404, f"replay server: no reply left for {self.path}".encode()
                )
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout test)

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep test output quiet

        return Handler
