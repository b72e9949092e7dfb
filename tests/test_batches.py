"""Batches made in a child process equal batches made in place; errors and kills cross the pipe."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import psutil
import pytest

from conftest import shared_path
from paperwire import dedup
from paperwire.batches import Batch, ChildError, Work, batches, made_elsewhere
from paperwire.errors import InputError
from paperwire.sources.http import HttpOptions

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import synthetic

# batches made in child processes, which never touch the store:
# no store is opened, so the SQLite pass alone runs it (conftest.py)
pytestmark = pytest.mark.no_store

DAILY = ("data", "arxiv", "daily_arxiv_jsonl", "2025-07-22.jsonl.gz")  # 375 records, 83 repeats
SNAPSHOT = ("data", "arxiv", "kaggle_snapshot_sample", "arxiv-metadata-oai-snapshot.head200.json")


def work(tmp_path: Path, inputs: list[Path], size: int) -> Work:
    return Work([str(p) for p in inputs], None, size, HttpOptions(), tmp_path)


def same(here: Batch, there: Batch) -> bool:
    """Equal batches; the child's fingerprints, where it made them, are those of its papers."""
    if (here.papers, here.bad, here.label) != (there.papers, there.bad, there.label):
        return False
    if there.prints is None:
        return True
    titles, abstracts = [p.title for p in here.papers], [p.abstract for p in here.papers]
    expected = dedup.Prints.of(dedup.fingerprints(titles, abstracts))
    return (
        np.array_equal(expected.signatures, there.prints.signatures)
        and expected.title_hashes == there.prints.title_hashes
        and expected.keys == there.prints.keys
    )


@pytest.mark.parametrize("makers", [1, 2, 3])
def test_batches_made_elsewhere_equal_batches_made_here(
    tmp_path: Path, seeds: list[Path], makers: int
) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": "2401.00001", "title": "Fine", "summary": "Text."}\n{not json\n')
    snapshot = shared_path(*SNAPSHOT)
    inputs = [*seeds, snapshot, shared_path(*DAILY), broken, *seeds]  # collections, versions, repeats
    here = list(batches(work(tmp_path, inputs, size=97)))
    there = list(made_elsewhere(work(tmp_path, inputs, size=97), makers))
    assert len(here) == len(there) > 5
    assert all(same(a, b) for a, b in zip(here, there, strict=True))
    assert there[0].prints is not None  # the child makes them until the parent keeps it waiting
    assert [b.location for batch in there for b in batch.bad] == [f"{broken}:2"]


@pytest.mark.parametrize(("size", "makers"), [(125, 2), (125, 3), (100, 2), (1000, 2)])
def test_batches_shared_between_parts_are_the_batches_in_turn(tmp_path: Path, size: int, makers: int) -> None:
    # 375 records: with 125 a batch, the last (empty) batch is the fourth, made by another part
    whole = list(batches(work(tmp_path, [shared_path(*DAILY)], size)))
    parts = [
        list(batches(work(tmp_path, [shared_path(*DAILY)], size), part, makers)) for part in range(makers)
    ]
    assert [len(p) for p in parts] == [len(whole[part::makers]) for part in range(makers)]
    for part in range(makers):
        assert all(same(a, b) for a, b in zip(whole[part::makers], parts[part], strict=True))
    there = list(made_elsewhere(work(tmp_path, [shared_path(*DAILY)], size), makers))
    assert len(there) == len(whole) and all(same(a, b) for a, b in zip(whole, there, strict=True))


@pytest.mark.parametrize("makers", [1, 2])
def test_an_error_in_the_child_comes_after_the_batches_made_before_it(tmp_path: Path, makers: int) -> None:
    unknown = tmp_path / "notes.bin"
    unknown.write_bytes(b"\x00\x01\x02 nothing any reader knows")
    made: list[Batch] = []
    with pytest.raises(InputError, match="cannot tell the format") as raised:
        made.extend(made_elsewhere(work(tmp_path, [shared_path(*DAILY), unknown], size=100), makers))
    # the 375 records of the first file fill three batches; the rest, like the error, was to come
    assert [len(batch.papers) for batch in made] == [100, 100, 100]
    assert isinstance(raised.value.__cause__, ChildError)
    assert "detect_format" in str(raised.value.__cause__)


@pytest.mark.parametrize("makers", [1, 2])
def test_the_child_stops_when_its_parent_is_killed(tmp_path: Path, makers: int) -> None:
    source = synthetic.write(tmp_path / "listing.jsonl", 3000)
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from paperwire.batches import Work, made_elsewhere
        from paperwire.sources.http import HttpOptions

        made = made_elsewhere(
            Work([{str(source)!r}], None, 50, HttpOptions(), Path({str(tmp_path)!r})), {makers}
        )
        next(made)
        print("one batch in", flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert parent.stdout is not None
    assert parent.stdout.readline() == b"one batch in\n"
    children = psutil.Process(parent.pid).children()
    assert len(children) == makers
    parent.kill()  # while the children wait to send the next of the 60 batches
    parent.wait()
    assert psutil.wait_procs(children, timeout=30)[1] == []  # none alive
