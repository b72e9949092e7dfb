"""Synthetic arXiv daily-listing records, deterministic, for crash tests and scale benchmarks.

Like the real daily files: the same paper recurs (cross-lists), some come back revised, a few are
near-duplicates under a new id, about one in seven abstracts carries TeX.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

CATEGORIES = ["cs.LG", "cs.CV", "cs.CL", "cs.AI", "stat.ML", "math.OC", "physics.comp-ph", "q-bio.NC"]
TEX = ["$\\alpha$", "$O(n^2)$", "$\\mathcal{L}$", "\\emph{robust}", "$\\mu$P", "83.59$\\pm$2.11\\%"]


def _vocabulary(rng: random.Random, size: int = 20_000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(3, 10))) for _ in range(size)]


def records(count: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """Yield `count` daily-listing records; some repeat, revise or near-duplicate earlier ones."""
    rng = random.Random(seed)
    words = _vocabulary(rng)
    recent: list[dict[str, Any]] = []
    serial = 0
    for _ in range(count):
        roll = rng.random()
        if recent and roll < 0.03:  # cross-list: the same record again
            record = dict(rng.choice(recent))
        elif recent and roll < 0.04:  # a revised version: same id, edited abstract
            record = dict(rng.choice(recent))
            record["summary"] = record["summary"] + " " + " ".join(rng.choices(words, k=12))
        elif recent and roll < 0.045:  # near-duplicate under a new id (e.g. a journal version)
            base = rng.choice(recent)
            text = base["summary"].split()
            for i in rng.sample(range(len(text)), k=max(1, len(text) // 30)):
                text[i] = rng.choice(words)
            serial += 1
            record = {
                **base,
                "id": _arxiv_id(serial),
                "summary": " ".join(text),
                "title": base["title"] + " revisited",
            }
        else:
            serial += 1
            abstract = rng.choices(words, k=rng.randint(120, 220))
            if rng.random() < 0.15:
                abstract.insert(rng.randrange(len(abstract)), rng.choice(TEX))
            record = {
                "id": _arxiv_id(serial),
                "title": " ".join(rng.choices(words, k=rng.randint(5, 12))).capitalize(),
                "summary": " ".join(abstract),
                "authors": [
                    f"{rng.choice(words).title()} {rng.choice(words).title()}"
                    for _ in range(rng.randint(1, 8))
                ],
                "categories": rng.sample(CATEGORIES, k=rng.randint(1, 3)),
                "comment": f"{rng.randint(5, 40)} pages",
            }
            record["abs"] = f"https://arxiv.org/abs/{record['id']}"
            record["pdf"] = f"https://arxiv.org/pdf/{record['id']}"
        recent.append(record)
        if len(recent) > 5000:
            recent.pop(0)
        yield record


def _arxiv_id(serial: int) -> str:
    return f"{2401 + serial // 100_000 % 12:04d}.{serial % 100_000:05d}"


def write(path: Path, count: int, seed: int = 7) -> Path:
    """Write `count` records as JSON lines to `path`."""
    with path.open("wb") as fh:
        for record in records(count, seed):
            fh.write(orjson.dumps(record) + b"\n")
    return path
