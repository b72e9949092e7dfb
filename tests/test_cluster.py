"""Ingest and embedding on a real Ray cluster (a head and a second node on loopback, each a process
of its own): the same papers, groups and vectors as one process; a node killed mid-run costs nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from conftest import shared_path
from paperwire.config import load_settings
from paperwire.store import schema
from ray_cluster import RayCluster

pytest.importorskip("ray")
# The scale-out configuration, run in the PostgreSQL pass (the store code it drives is the same code
# the rest of the suite runs on both databases; two minutes of Ray clusters once, not twice)
pytestmark = pytest.mark.postgres_only

DAYS = 4  # daily arXiv listings: some 1,500 records, with new versions and cross-lists between days


def inputs() -> list[str]:
    return [
        str(p) for p in sorted(shared_path("data", "arxiv", "daily_arxiv_jsonl").glob("*.jsonl.gz"))[:DAYS]
    ]


def environment(models_dir: Path, data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PAPERWIRE_DATA_DIR": str(data_dir),
        "PAPERWIRE_MODELS_DIR": str(models_dir),
        "PAPERWIRE_DEMO_CORPUS": "false",
        "PAPERWIRE_INGEST_BATCH_SIZE": "100",  # many batches, so that every node makes some
    }


def paperwire(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "paperwire", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def finished(process: subprocess.Popen[bytes]) -> int:
    _, err = process.communicate(timeout=600)
    assert process.returncode in (0, 3), err.decode()[-3000:]
    return process.returncode


def contents(data_dir: Path) -> dict[str, Any]:
    """What a store holds, run-independent: papers with versions and groups, and vectors."""
    engine = sa.create_engine(load_settings(data_dir=data_dir).database)
    p, v, e = schema.papers, schema.paper_versions, schema.embeddings
    with engine.connect() as conn:
        papers = {
            row.id: (row.group_id, row.content_hash, row.title, tuple(row.categories))
            for row in conn.execute(
                sa.select(p.c.id, p.c.group_id, p.c.content_hash, p.c.title, p.c.categories)
            )
        }
        versions = sorted(tuple(row) for row in conn.execute(sa.select(v.c.paper_id, v.c.number, v.c.date)))
        vectors = {
            row.paper_id: np.frombuffer(row.vector, dtype=np.float16).astype(np.float32)
            for row in conn.execute(sa.select(e.c.paper_id, e.c.vector))
        }
    engine.dispose()
    return {"papers": papers, "versions": versions, "vectors": vectors}


def assert_same(got: dict[str, Any], expected: dict[str, Any]) -> None:
    assert got["papers"] == expected["papers"]
    assert got["versions"] == expected["versions"]
    assert got["vectors"].keys() == expected["vectors"].keys() == expected["papers"].keys()
    cosines = [float(got["vectors"][k] @ expected["vectors"][k]) for k in expected["vectors"]]
    assert min(cosines) > 0.999  # the same texts in the same batches: the same vectors (float16 kept)


@pytest.fixture(scope="module")
def single_process_run(
    tmp_path_factory: pytest.TempPathFactory, models_dir: Path
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """The reference ingest in one process, started before the cluster so that it runs while the
    cluster's nodes start; single_process waits for it. Its output goes to a file, not a pipe that
    nobody reads meanwhile."""
    folder = tmp_path_factory.mktemp("single")
    with (folder / "stderr").open("wb") as stderr:
        run = subprocess.Popen(
            [sys.executable, "-m", "paperwire", "ingest", *inputs()],
            env=environment(models_dir, folder / "data"), stdout=subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip
    yield run, folder
    if run.poll() is None:  # a test failed before single_process waited for it
        run.kill()
        run.wait()


@pytest.fixture(scope="module")
def single_process(single_process_run: tuple[subprocess.Popen[bytes], Path]) -> dict[str, Any]:
    run, folder = single_process_run
    run.wait(timeout=600)
    assert run.returncode in (0, 3), (folder / "stderr").read_text()[-3000:]
    return contents(folder / "data")


@pytest.fixture(scope="module")
def cluster(models_dir: Path, single_process_run: object) -> Iterator[RayCluster]:
    """One cluster for the module; its last test kills the second node."""
    started = RayCluster(environment(models_dir, Path("/nonexistent"))).start(workers=1)
    yield started
    started.stop()


def test_ingest_and_embedding_on_a_cluster_equal_one_process(
    cluster: RayCluster, single_process: dict[str, Any], tmp_path: Path, models_dir: Path
) -> None:
    data_dir = tmp_path / "data"
    assert (
        finished(paperwire(environment(models_dir, data_dir), "ingest", "--ray", cluster.address, *inputs()))
        == 0
    )
    assert_same(contents(data_dir), single_process)


def test_a_node_killed_mid_run_then_a_rerun_loses_and_doubles_nothing(
    cluster: RayCluster, single_process: dict[str, Any], tmp_path: Path, models_dir: Path
) -> None:
    data_dir = tmp_path / "data"
    env = environment(models_dir, data_dir)
    run = paperwire(env, "ingest", "--ray", cluster.address, *inputs())
    time.sleep(6)  # the second node's workers are making batches or embeddings by now
    assert run.poll() is None, "the run ended before the node could be killed"
    cluster.kill(cluster.nodes[1])
    try:
        _, err = run.communicate(timeout=600)
    finally:
        run.kill()
    # Ray ran the lost tasks again on the head node: the run itself finished
    assert run.returncode in (0, 3), err.decode()[-3000:]
    finished(paperwire(env, "ingest", "--ray", cluster.address, *inputs()))
    assert_same(contents(data_dir), single_process)
