"""`paperwire serve` as the README starts it: an empty data directory gets the demo corpus, then answers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest

from paperwire.config import load_settings
from paperwire.web.serve import settings_environment, tcp_listener


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_with_two_workers_on_an_empty_data_directory(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PAPERWIRE_EMBEDDINGS": "false"}
    command = [sys.executable, "-m", "paperwire", "--data-dir", str(tmp_path / "data"), "serve",
               "--port", str(port), "--workers", "2"]  # fmt: skip
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # a bound for a hung server, not a speed requirement
        while time.monotonic() < deadline and server.poll() is None:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        assert server.poll() is None, server.communicate()[1][-2000:]
        results = httpx.get(f"{base}/api/v1/search", params={"q": "Xception"}, timeout=30).json()
        assert "Xception" in results["hits"][0]["title"]
        for _ in range(4):  # both workers answer pages
            assert httpx.get(f"{base}/search", params={"q": "Xception"}, timeout=30).status_code == 200
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=60)
    logged = [orjson.loads(line) for line in stderr.splitlines() if line.startswith('{"time"')]
    assert {"/healthz", "/api/v1/search", "/search"} <= {entry["path"] for entry in logged}


def test_workers_rebuild_the_same_settings_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(data_dir=tmp_path, embeddings=False, admin_token="x" * 20, search_burst=7)
    variables = settings_environment(settings)
    assert variables["PAPERWIRE_EMBEDDINGS"] == "false" and variables["PAPERWIRE_ADMIN_TOKEN"] == "x" * 20
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert load_settings() == settings


def test_the_workers_listener_is_marked_tcp_so_replies_skip_nagle() -> None:
    plain = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # proto 0, as uvicorn's bind_socket makes it
    plain.bind(("127.0.0.1", 0))
    port = plain.getsockname()[1]
    listener = tcp_listener(plain)
    try:
        assert listener.proto == socket.IPPROTO_TCP and listener.getsockname()[1] == port
        assert listener.get_inheritable()  # the worker processes receive it
    finally:
        listener.close()
