"""fetch() and download(): retries, Retry-After, errors, against a loopback replay server."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paperwire.errors import InputError, RemoteError
from paperwire.sources.http import (
    HttpOptions,
    HttpStatusError,
    backoff,
    display_url,
    download,
    fetch,
    retry_after_seconds,
)
from replay_server import ReplayServer, Reply

# the HTTP client against a local server: no store is opened, so the SQLite pass alone runs it (conftest.py)
pytestmark = pytest.mark.no_store

OPTIONS = HttpOptions(timeout=5.0, retries=3, max_wait=60.0, user_agent="paperwire-test/1")


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with ReplayServer() as replay:
        yield replay


class Sleeps(list[float]):
    """An injected sleep that records how long it was asked to wait and returns at once."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def test_fetch_returns_the_body_and_sends_user_agent_and_params(server: ReplayServer) -> None:
    server.route("/data?q=x", Reply(body=b"hello"))
    sleeps = Sleeps()
    assert fetch(server.url("/data"), OPTIONS, params={"q": "x"}, sleep=sleeps) == b"hello"
    (request,) = server.requests
    assert request.headers["user-agent"] == "paperwire-test/1"
    assert request.query == {"q": "x"}
    assert sleeps == []


def test_503_with_retry_after_seconds_is_honoured(server: ReplayServer) -> None:
    server.route("/p", Reply(503, headers={"Retry-After": "7"}), Reply(body=b"ok"))
    sleeps = Sleeps()
    assert fetch(server.url("/p"), OPTIONS, sleep=sleeps) == b"ok"
    assert sleeps == [7.0]
    assert len(server.requests) == 2


def test_retry_after_http_date_is_honoured(server: ReplayServer) -> None:
    past = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    server.route("/p", Reply(503, headers={"Retry-After": past}), Reply(body=b"ok"))
    sleeps = Sleeps()
    assert fetch(server.url("/p"), OPTIONS, sleep=sleeps) == b"ok"
    assert sleeps == [0.0]


def test_retry_after_longer_than_max_wait_fails_at_once(server: ReplayServer) -> None:
    server.route("/p", Reply(503, headers={"Retry-After": "3600"}), Reply(body=b"ok"))
    sleeps = Sleeps()
    with pytest.raises(RemoteError, match="3600 s") as caught:
        fetch(server.url("/p"), OPTIONS, sleep=sleeps)
    assert "PAPERWIRE_HTTP_MAX_WAIT" in str(caught.value)
    assert sleeps == []
    assert len(server.requests) == 1


def test_5xx_repeated_past_the_retry_limit_raises_remote_error(server: ReplayServer) -> None:
    server.route("/p", *[Reply(500)] * 10)
    sleeps = Sleeps()
    url = server.url("/p")
    with pytest.raises(RemoteError) as caught:
        fetch(url, OPTIONS, sleep=sleeps)
    message = str(caught.value)
    assert url in message
    assert "HTTP 500" in message
    assert "4 attempts" in message
    assert "try again later, or raise PAPERWIRE_HTTP_RETRIES" in message
    assert sleeps == [1.0, 2.0, 4.0]  # exponential backoff between the 4 attempts
    assert len(server.requests) == 4


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retried_statuses(server: ReplayServer, status: int) -> None:
    server.route("/p", Reply(status), Reply(body=b"ok"))
    sleeps = Sleeps()
    assert fetch(server.url("/p"), OPTIONS, sleep=sleeps) == b"ok"
    assert sleeps == [1.0]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410])
def test_other_4xx_fail_at_once(server: ReplayServer, status: int) -> None:
    server.route("/p", Reply(status, b"no such thing"), Reply(body=b"ok"))
    with pytest.raises(HttpStatusError) as caught:
        fetch(server.url("/p"), OPTIONS, sleep=Sleeps())
    assert caught.value.status_code == status
    assert caught.value.body == b"no such thing"
    assert f"HTTP {status}" in str(caught.value)
    assert len(server.requests) == 1


def test_a_timeout_is_retried(server: ReplayServer) -> None:
    server.route("/slow", Reply(body=b"late", delay=1.0), Reply(body=b"ok"))
    sleeps = Sleeps()
    options = HttpOptions(timeout=0.2, retries=2, max_wait=60.0, user_agent="t")
    assert fetch(server.url("/slow"), options, sleep=sleeps) == b"ok"
    assert sleeps == [1.0]


def test_timeouts_past_the_retry_limit_say_so(server: ReplayServer) -> None:
    server.route("/slow", Reply(delay=1.0), Reply(delay=1.0))
    options = HttpOptions(timeout=0.1, retries=1, max_wait=60.0, user_agent="t")
    with pytest.raises(RemoteError, match=r"timed out after 0\.1 s.*2 attempts|2 attempts.*timed out"):
        fetch(server.url("/slow"), options, sleep=Sleeps())


def test_connection_refused_is_retried_then_reported() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleeps = Sleeps()
    options = HttpOptions(timeout=1.0, retries=2, max_wait=60.0, user_agent="t")
    with pytest.raises(RemoteError, match="3 attempts: ConnectError"):
        fetch(f"http://127.0.0.1:{port}/x", options, sleep=sleeps)
    assert sleeps == [1.0, 2.0]


def test_zero_retries_means_one_attempt(server: ReplayServer) -> None:
    server.route("/p", Reply(503), Reply(body=b"ok"))
    options = HttpOptions(timeout=1.0, retries=0, max_wait=60.0, user_agent="t")
    with pytest.raises(RemoteError, match="after 1 attempt: HTTP 503"):
        fetch(server.url("/p"), options, sleep=Sleeps())


def test_a_url_without_http_scheme_is_an_input_error() -> None:
    with pytest.raises(InputError, match="http"):
        fetch("ftp://example.org/file", OPTIONS, sleep=Sleeps())


def test_download_streams_to_the_file_after_a_retry(server: ReplayServer, tmp_path: Path) -> None:
    body = b"x" * 200_000
    server.route("/big", Reply(503, headers={"Retry-After": "2"}), Reply(body=body))
    sleeps = Sleeps()
    dest = tmp_path / "big.bin"
    assert download(server.url("/big"), OPTIONS, dest, sleep=sleeps) == dest
    assert dest.read_bytes() == body
    assert sleeps == [2.0]
    assert list(tmp_path.iterdir()) == [dest]


def test_a_failed_download_leaves_no_file(server: ReplayServer, tmp_path: Path) -> None:
    server.route("/big", *[Reply(502)] * 5)
    dest = tmp_path / "big.bin"
    with pytest.raises(RemoteError, match="HTTP 502"):
        download(server.url("/big"), OPTIONS, dest, sleep=Sleeps())
    assert list(tmp_path.iterdir()) == []


def test_download_into_a_missing_directory_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a directory"):
        download("http://127.0.0.1:9/x", OPTIONS, tmp_path / "nope" / "f", sleep=Sleeps())


def test_retry_after_parsing() -> None:
    now = datetime(2024, 5, 2, 10, 0, tzinfo=UTC)
    assert retry_after_seconds("5") == 5.0
    assert retry_after_seconds(" 2.5 ") == 2.5
    assert retry_after_seconds("-3") == 0.0
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert retry_after_seconds(later, now=now.timestamp()) == pytest.approx(90.0)
    assert retry_after_seconds("Thu, 02 May 2024 10:00:00", now=now.timestamp()) is None  # no zone
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("") is None


@given(st.text(max_size=60))
def test_retry_after_never_raises(value: str) -> None:
    result = retry_after_seconds(value)
    assert result is None or result >= 0


def test_backoff_doubles_up_to_a_minute() -> None:
    assert [backoff(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]


def test_display_url_shows_params() -> None:
    assert display_url("http://h/oai", {"verb": "ListRecords", "set": "cs"}) == (
        "http://h/oai?verb=ListRecords&set=cs"
    )
    assert display_url("http://h/oai") == "http://h/oai"
