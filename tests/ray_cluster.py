"""A real Ray cluster on loopback for tests: a head node and worker nodes, each started by `ray start`
as a process of its own (in the foreground, so a test can kill a node's whole process group)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mail_server import free_port

RAY = str(Path(sys.executable).with_name("ray"))


class RayCluster:
    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        # Ray's socket paths must stay short: a folder of its own straight under /tmp
        self.temp = Path(tempfile.mkdtemp(prefix="rayt", dir="/tmp"))
        self.env = {**env, "RAY_USAGE_STATS_ENABLED": "0"}
        self.nodes: list[subprocess.Popen[bytes]] = []

    def _start(self, *args: str) -> subprocess.Popen[bytes]:
        common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--block", "--disable-usage-stats"]
        node = subprocess.Popen(
            [RAY, "start", *args, *common], env=self.env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.nodes.append(node)
        return node

    def start(self, workers: int = 1) -> RayCluster:
        self._start("--head", f"--port={self.port}", "--include-dashboard=false", f"--temp-dir={self.temp}")
        self._wait_for(1)
        for _ in range(workers):
            self._start(f"--address={self.address}")
        self._wait_for(1 + workers)
        return self

    def alive(self) -> int:
        """How many nodes the head counts as alive (asked from a process of its own)."""
        probe = (
            f"import ray; ray.init(address={self.address!r}, logging_level='ERROR'); "
            "print(sum(n['Alive'] for n in ray.nodes()))"
        )
        result = subprocess.run(
            [sys.executable, "-c", probe], env=self.env, capture_output=True, text=True, timeout=120
        )
        return int(result.stdout.strip().splitlines()[-1]) if result.returncode == 0 else 0

    def _wait_for(self, nodes: int) -> None:
        deadline = time.monotonic() + 120
        while self.alive() < nodes:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Ray cluster at {self.address} did not reach {nodes} nodes")
            time.sleep(1)

    def kill(self, node: subprocess.Popen[bytes]) -> None:
        """SIGKILL a node and everything it started (its raylet, object store and workers)."""
        os.killpg(node.pid, signal.SIGKILL)
        node.wait(timeout=30)

    def stop(self) -> None:
        for node in reversed(self.nodes):
            if node.poll() is None:
                self.kill(node)
        shutil.rmtree(self.temp, ignore_errors=True)
