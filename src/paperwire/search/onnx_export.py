"""Export a local transformer to ONNX and quantise it to per-channel int8, cached under the data dir.

The cache entry is a folder `models/<name>-<weights hash>-onnx-int8/` holding `model.onnx` and
`manifest.json` (the file's sha256, the source weights' hash, the graph's inputs). It is built in a
temporary folder next to it and renamed into place in one step, so a crash leaves either nothing
or a complete entry; an entry whose file no longer matches its manifest is rebuilt.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import logging
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from paperwire.errors import ConfigError

log = logging.getLogger(__name__)

# Bump when the export or quantisation recipe changes: old cache entries are then left unused.
EXPORT_FORMAT = 1
WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.pth")
MANIFEST = "manifest.json"
MODEL_FILE = "model.onnx"
# int8 MiniLM agrees with fp32 at about 0.99; a trace that baked in a shape lands far below this.
MIN_AGREEMENT = 0.95
CHECK_TEXTS = (
    "Depthwise separable convolutions",
    "We prune channels of very deep networks to speed up inference while keeping accuracy. " * 4,
    "Graph neural networks for molecules",
)


@dataclass(frozen=True)
class Artifact:
    """A verified int8 ONNX model in the cache and the graph inputs it takes."""

    path: Path
    inputs: tuple[str, ...]


def weights_digest(model_dir: Path) -> str:
    """Sha256 over the model's weight files and config.json (names and bytes), plus the recipe version."""
    files = sorted({p for pattern in WEIGHT_PATTERNS for p in model_dir.glob(pattern) if p.is_file()})
    if not files:
        raise ConfigError(
            f"no model weights (*.safetensors or *.bin) in {model_dir}",
            hint="point the embedding model setting at a sentence-transformers or Hugging Face model folder",
        )
    digest = hashlib.sha256(f"paperwire-onnx-int8-v{EXPORT_FORMAT}".encode())
    for path in [*files, model_dir / "config.json"]:
        if path.is_file():
            digest.update(path.name.encode() + b"\0")
            digest.update(_file_sha256(path).encode())
    return digest.hexdigest()


def cached_int8_model(model_dir: Path, name: str, cache_dir: Path, max_length: int) -> Artifact:
    """The cached int8 ONNX export of `model_dir`, exporting and quantising it first if needed."""
    digest = weights_digest(model_dir)
    models = cache_dir  # the models folder itself (settings.models_dir, default <data dir>/models)
    entry = models / f"{_slug(name)}-{digest[:16]}-onnx-int8"
    artifact = _verified(entry, digest)
    if artifact is not None:
        return artifact
    if entry.exists():
        log.warning("cached ONNX model %s is damaged or incomplete; rebuilding it", entry)
        _remove(entry)
    try:
        models.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the model cache folder {models}: {exc.strerror}",
            hint="check the data directory setting and its permissions",
        ) from exc
    log.info("exporting %s to int8 ONNX in %s (once per model)", name, entry)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=models))
    try:
        inputs = _export_int8(model_dir, tmp, max_length)
        onnx_path = tmp / MODEL_FILE
        manifest = {
            "format": EXPORT_FORMAT,
            "name": name,
            "source": str(model_dir),
            "weights_sha256": digest,
            "onnx_sha256": _file_sha256(onnx_path),
            "inputs": list(inputs),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
        # No fsync: a file cut short by a power loss fails the manifest check and is rebuilt.
        try:
            tmp.rename(entry)
        except OSError as exc:
            # Another process finished the same export first: its entry is as good as ours if sound.
            if _verified(entry, digest) is None:
                raise ConfigError(
                    f"cannot move the exported model into {entry}: {exc.strerror}",
                    hint="check the data directory's permissions and free space",
                ) from exc
    finally:
        _remove(tmp)
    artifact = _verified(entry, digest)
    if artifact is None:
        raise ConfigError(
            f"the int8 ONNX export in {entry} could not be verified after it was written",
            hint="check free disk space in the data directory, or use the 'torch' embedding backend",
        )
    return artifact


def _verified(entry: Path, digest: str) -> Artifact | None:
    """The entry if its manifest matches these weights and its file matches the manifest, else None."""
    try:
        manifest = json.loads((entry / MANIFEST).read_text())
        if manifest.get("format") != EXPORT_FORMAT or manifest.get("weights_sha256") != digest:
            return None
        if _file_sha256(entry / MODEL_FILE) != manifest["onnx_sha256"]:
            return None
        return Artifact(entry / MODEL_FILE, tuple(str(name) for name in manifest["inputs"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _export_int8(model_dir: Path, workdir: Path, max_length: int) -> tuple[str, ...]:
    """Trace the model to fp32 ONNX in workdir, quantise it to MODEL_FILE, delete the fp32 file."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel, AutoTokenizer

    try:
        with _quiet():
            # Eager attention traces to plain ONNX ops; fp32 whatever the checkpoint's dtype, since
            # the quantiser expects float weights (an fp16 file would otherwise stay fp16).
            model = AutoModel.from_pretrained(
                str(model_dir), local_files_only=True, attn_implementation="eager", dtype=torch.float32
            )
            tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    except Exception as exc:  # torch, safetensors and transformers each raise their own types
        raise ConfigError(
            f"cannot load the model in {model_dir} for ONNX export: {exc}",
            hint="check that the folder holds a complete Hugging Face model, or use the 'torch' backend",
        ) from exc
    model.eval()
    accepted = inspect.signature(model.forward).parameters
    # A padded batch of two, so the trace goes through the attention-mask path.
    sample = tokenizer(
        ["a short text", "a somewhat longer text for the padded row of the trace"],
        padding=True,
        truncation=True,
        max_length=max_length,
        return_tensors="pt",
    )
    inputs = tuple(name for name in ("input_ids", "attention_mask", "token_type_ids") if name in sample)
    inputs = tuple(name for name in inputs if name in accepted)
    if "input_ids" not in inputs or "attention_mask" not in inputs:
        raise ConfigError(
            f"the model in {model_dir} does not take input_ids and attention_mask",
            hint="use the 'torch' embedding backend for this model",
        )

    class LastHidden(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args: torch.Tensor) -> torch.Tensor:
            return self.inner(**dict(zip(inputs, args, strict=True))).last_hidden_state  # type: ignore[no-any-return]

    # eval() on the wrapper too: the exporter restores the wrapper's training mode afterwards, which
    # would switch the model's dropout on for the agreement check below.
    wrapper = LastHidden(model).eval()
    fp32 = workdir / "fp32.onnx"
    axes = {name: {0: "batch", 1: "sequence"} for name in (*inputs, "last_hidden_state")}
    try:
        with _quiet(), torch.no_grad():
            torch.onnx.export(
                wrapper,
                tuple(sample[name] for name in inputs),
                str(fp32),
                dynamo=False,  # the torch.export-based exporter needs onnxscript, which we do not ship
                input_names=list(inputs),
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=17,
            )
            quantize_dynamic(fp32, workdir / MODEL_FILE, per_channel=True, weight_type=QuantType.QInt8)
            # Other shapes than the trace's, so a dimension baked in by the tracer shows up here.
            check = tokenizer(
                list(CHECK_TEXTS), padding=True, truncation=True, max_length=max_length, return_tensors="pt"
            )
            expected = model(**{name: check[name] for name in inputs}).last_hidden_state.numpy()
        _check_agreement(workdir / MODEL_FILE, {name: check[name].numpy() for name in inputs}, expected)
    except ConfigError:
        raise
    except Exception as exc:  # the exporters raise many unrelated types; all mean the same to the caller
        raise ConfigError(
            f"exporting {model_dir} to int8 ONNX failed: {type(exc).__name__}: {exc}",
            hint="use the 'torch' embedding backend for this model",
        ) from exc
    finally:
        fp32.unlink(missing_ok=True)
    return inputs


def _check_agreement(path: Path, feed: dict[str, np.ndarray], expected: np.ndarray) -> None:
    """Refuse an export whose pooled sample vectors stray from the torch model's (a broken trace)."""
    import onnxruntime as ort

    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feed)[0]
    mask = feed["attention_mask"][..., None].astype(np.float32)
    a, b = ((x * mask).sum(axis=1) for x in (got, expected))
    cosine = (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    if not np.all(cosine >= MIN_AGREEMENT):
        raise ConfigError(
            f"the int8 ONNX export disagrees with the model's own output (cosine {cosine.min():.3f})",
            hint="use the 'torch' embedding backend for this model",
        )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporters' tracer warnings, the quantiser's advice and the weight-loading bar."""
    from transformers.utils import logging as hf_logging

    bars_were_off = hf_logging.is_progress_bar_enabled() is False
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    root = logging.getLogger()
    previous = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(previous)
        if not bars_were_off:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _remove(path: Path) -> None:
    """Delete a cache entry or temporary folder: renamed aside first, so no half entry stays visible."""
    if not path.exists():
        return
    aside = path.with_name(f".stale-{path.name}-{os.getpid()}")
    try:
        path.rename(aside)
    except OSError:
        aside = path
    shutil.rmtree(aside, ignore_errors=True)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "model"
