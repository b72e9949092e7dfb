"""Web security: response headers, request size limit, CSRF tokens, rate limits, admin token, redirects."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from paperwire.config import Settings
from paperwire.trending import actor_id
from paperwire.web.errors import error_response

# No inline script or style anywhere: every script and stylesheet is a file under /static.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    b"content-security-policy": CONTENT_SECURITY_POLICY.encode(),
    b"x-content-type-options": b"nosniff",
    b"referrer-policy": b"same-origin",
    b"x-frame-options": b"DENY",
    b"cross-origin-opener-policy": b"same-origin",
    b"permissions-policy": b"camera=(), microphone=(), geolocation=(), interest-cohort=()",
}
CSRF_COOKIE = "paperwire_csrf"
CSRF_FIELD = "csrf_token"


class SecurityHeaders:
    """Adds the security headers to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS.items() if k not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit:,} bytes; send less at once")


class BodyLimit:
    """Refuses request bodies over a size: by Content-Length at once, or while a body streams in."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                exc = BodyTooLarge(self.max_bytes)
                await error_response(exc.status_code, "too_large", exc.detail)(scope, receive, send)
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, limited_receive, send)


class DropNul:
    """Drops NUL characters from the path and the query before routing: no id, name or query has
    one, and a database may not take one (PostgreSQL cannot), so every page answers as without it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (b"%00" in scope.get("query_string", b"") or "\x00" in scope["path"]):
            scope = {
                **scope,
                "query_string": scope.get("query_string", b"").replace(b"%00", b""),
                "path": scope["path"].replace("\x00", ""),
                "raw_path": (scope.get("raw_path") or b"").replace(b"%00", b"") or None,
            }
        await self.app(scope, receive, send)


# -- CSRF: signed double-submit tokens --------------------------------------------------------------


class Csrf:
    """A token is `nonce.signature`; the form carries the same token as the cookie and both must match.

    The signature stops a cookie planted by a sibling subdomain from being accepted, the cookie
    (SameSite=Strict, HttpOnly) stops another site from submitting a form with a token of its own.
    """

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def _sign(self, nonce: str) -> str:
        digest = hmac.new(self.secret, nonce.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def valid(self, token: str | None) -> bool:
        if not token or token.count(".") != 1:
            return False
        nonce, signature = token.split(".")
        return hmac.compare_digest(self._sign(nonce), signature)

    def token_for(self, request: Request) -> str:
        """The request's cookie token when it is valid, else a new one."""
        current = request.cookies.get(CSRF_COOKIE)
        if self.valid(current):
            return str(current)
        nonce = secrets.token_urlsafe(18)
        return f"{nonce}.{self._sign(nonce)}"

    def set_cookie(self, response: Response, token: str, request: Request) -> None:
        response.set_cookie(
            CSRF_COOKIE, token, httponly=True, samesite="strict", path="/",
            secure=request.url.scheme == "https",
        )  # fmt: skip

    def check(self, request: Request, submitted: str | None) -> bool:
        """Whether the submitted form token is valid and equals the cookie's."""
        cookie = request.cookies.get(CSRF_COOKIE)
        return self.valid(cookie) and submitted is not None and hmac.compare_digest(str(cookie), submitted)


# -- rate limits ------------------------------------------------------------------------------------


class RateLimiter:
    """Token buckets per client key: `burst` at once, refilled at `rate` per second.

    Kept in this process's memory: with several workers each has its own buckets, so a client gets
    up to workers × the rate. The oldest buckets are dropped beyond `max_clients`.
    """

    def __init__(
        self, rate: float, burst: int, max_clients: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate, self.burst, self.max_clients, self.clock = rate, burst, max_clients, clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Take one token; 0.0 when allowed, else the seconds to wait before the next one."""
        with self._lock:
            now = self.clock()
            tokens, last = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
            return wait


def client_key(request: Request) -> str:
    """Who the rate limit counts: the client address (set from X-Forwarded-For by uvicorn's
    --proxy-headers for trusted proxies only)."""
    return request.client.host if request.client else "unknown"


def voter(request: Request) -> str:
    """Who a vote counts for: the client address, hashed (the store keeps no address in clear)."""
    return actor_id("ip", client_key(request))


# -- admin token -------------------------------------------------------------------------------------


def admin_token_matches(settings: Settings, authorization: str | None) -> bool | None:
    """None when admin endpoints are off (no token set); else whether the bearer token matches."""
    if settings.admin_token is None:
        return None
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), settings.admin_token.get_secret_value().encode())


# -- redirects -------------------------------------------------------------------------------------


def local_path(target: str | None, default: str = "/") -> str:
    """The target when it is a path on this site, else the default: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(ch in target for ch in "\\\r\n\t") or any(ord(ch) < 32 for ch in target):
        return default
    return target
