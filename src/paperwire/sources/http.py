"""HTTP GET for remote sources: bounded retries, Retry-After honoured, clear errors.

One retry loop serves both ``fetch`` (body in memory, for one page) and ``download`` (body
streamed to a file). Retried: timeouts, connection errors, HTTP 429/500/502/503/504. Waits follow
``Retry-After`` when the server sends it (never longer than ``max_wait``), else 1, 2, 4, ... s.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TypeVar

import httpx

from paperwire.errors import InputError, RemoteError

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_BACKOFF = 60.0
RETRY_HINT = "try again later, or raise PAPERWIRE_HTTP_RETRIES"
BODY_EXCERPT = 300  # characters of an error body quoted in messages

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class HttpOptions:
    """How remote requests are made; built from Settings by the caller."""

    timeout: float = 30.0
    retries: int = 5
    max_wait: float = 600.0
    user_agent: str = "paperwire/0.1"


class HttpStatusError(RemoteError):
    """A request answered with an HTTP status that is not retried (4xx other than 429)."""

    def __init__(self, url: str, status_code: int, body: bytes) -> None:
        excerpt = body[:BODY_EXCERPT].decode("utf-8", "replace").strip()
        super().__init__(
            f"GET {url} failed with HTTP {status_code}" + (f": {excerpt}" if excerpt else ""),
            hint="check the URL and the query parameters",
        )
        self.url = url
        self.status_code = status_code
        self.body = body


class _RetryableError(Exception):
    """One attempt failed in a way worth retrying."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def fetch(
    url: str,
    options: HttpOptions,
    *,
    params: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    client: httpx.Client | None = None,
) -> bytes:
    """GET a URL and return its body, retrying transient failures; raises RemoteError."""

    def attempt(http: httpx.Client) -> bytes:
        response = http.get(url, params=params, headers=_headers(options), timeout=options.timeout)
        _check(response, shown)
        return response.content

    shown = display_url(url, params)
    return _with_retries(shown, options, attempt, sleep=sleep, client=client)


def download(
    url: str,
    options: HttpOptions,
    dest: Path,
    *,
    params: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    client: httpx.Client | None = None,
) -> Path:
    """GET a URL into a file, streaming (memory stays flat); the file appears only when complete."""
    if not dest.parent.is_dir():
        raise InputError(f"cannot download to {dest}: {dest.parent} is not a directory")
    partial = dest.with_name(dest.name + ".part")
    shown = display_url(url, params)

    def attempt(http: httpx.Client) -> Path:
        with http.stream(
            "GET", url, params=params, headers=_headers(options), timeout=options.timeout
        ) as response:
            if response.status_code >= 400:
                response.read()
            _check(response, shown)
            with partial.open("wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
        partial.replace(dest)
        return dest

    try:
        return _with_retries(shown, options, attempt, sleep=sleep, client=client)
    finally:
        partial.unlink(missing_ok=True)


def display_url(url: str, params: Mapping[str, str] | None = None) -> str:
    """The URL with its query parameters, as shown in messages and locations."""
    if not params:
        return url
    try:
        return str(httpx.URL(url).copy_merge_params(dict(params)))
    except (httpx.InvalidURL, TypeError, ValueError):
        return url


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds asked for by a Retry-After header (delta-seconds or HTTP-date); None if unreadable."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # HTTP-dates are GMT by definition
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff(attempt: int) -> float:
    """Seconds to wait after the n-th failed attempt (from 1) when the server names no time."""
    return min(MAX_BACKOFF, 2.0 ** (attempt - 1))


def _headers(options: HttpOptions) -> dict[str, str]:
    return {"User-Agent": options.user_agent}


def _check(response: httpx.Response, url: str) -> None:
    """Raise _RetryableError for transient statuses, HttpStatusError for the other failures."""
    status = response.status_code
    if status in RETRY_STATUSES:
        reason = f"HTTP {status} {response.reason_phrase}".strip()
        raise _RetryableError(reason, retry_after_seconds(response.headers.get("Retry-After")))
    if status >= 400:
        raise HttpStatusError(url, status, response.content)


def _with_retries(
    url: str,
    options: HttpOptions,
    attempt: Callable[[httpx.Client], T],
    *,
    sleep: Callable[[float], None],
    client: httpx.Client | None,
) -> T:
    """Run attempt() until it succeeds, at most 1 + options.retries times."""
    http = client or httpx.Client(follow_redirects=True)
    attempts = 1 + max(0, options.retries)
    reason = "no attempt made"
    try:
        for number in range(1, attempts + 1):
            try:
                return attempt(http)
            except _RetryableError as exc:
                reason = exc.reason
                wait = exc.retry_after
            except httpx.UnsupportedProtocol as exc:
                raise InputError(f"cannot GET {url}: {exc}", hint="use an http:// or https:// URL") from exc
            except httpx.TimeoutException as exc:
                reason, wait = f"timed out after {options.timeout:g} s ({type(exc).__name__})", None
            except (httpx.TransportError, httpx.DecodingError) as exc:
                reason, wait = f"{type(exc).__name__}: {exc}", None
            except httpx.TooManyRedirects as exc:
                raise RemoteError(f"GET {url} failed: {exc}", hint="check the URL") from exc
            if wait is not None and wait > options.max_wait:
                raise RemoteError(
                    f"GET {url} got {reason} asking to retry after {wait:.0f} s, "
                    f"longer than the {options.max_wait:g} s allowed",
                    hint="try again later, or raise PAPERWIRE_HTTP_MAX_WAIT",
                )
            if number < attempts:
                sleep(backoff(number) if wait is None else wait)
    except httpx.InvalidURL as exc:
        raise InputError(f"invalid URL {url!r}: {exc}", hint="check the URL") from exc
    finally:
        if client is None:
            http.close()
    plural = "attempt" if attempts == 1 else "attempts"
    raise RemoteError(f"GET {url} failed after {attempts} {plural}: {reason}", hint=RETRY_HINT)
