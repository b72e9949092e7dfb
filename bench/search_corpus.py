"""Corpora for the search benchmark: the real daily arXiv records plus synthetic papers made of them.

A synthetic paper i (deterministic in i alone, so the 100k corpus is a prefix of the 1M one) takes
three real papers A, B and C of the same primary category, and joins:
- title: the first half of A's title words, then the second half of B's;
- abstract: a run of 25-40% of A's sentences (its opening), then a run of 25-40% of B's and of C's
  taken at random places (so two synthetic papers built on the same A share well under the 0.6
  near-duplicate threshold of their 3-shingles: each synthetic paper is a paper of its own);
- authors: the first half of A's and the second half of B's; categories: A's;
- id: 30MM.NNNNN (a valid new-style arXiv id no real paper has), listed on a real listing date.
It also records A, B, C and the share of its abstract taken from each, from which a vector is mixed.
"""

from __future__ import annotations

import gzip
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "arxiv" / "daily_arxiv_jsonl"
SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\[$\\])")
SEED = "paperwire-search-bench"


@dataclass(frozen=True)
class RealPaper:
    id: str
    title: str
    summary: str
    authors: list[str]
    categories: list[str]


@dataclass(frozen=True)
class Synthetic:
    record: dict[str, Any]
    sources: tuple[int, int, int]  # indexes into the real pool: A, B, C
    shares: tuple[float, float, float]  # share of the abstract's characters taken from each


def real_files(folder: Path = SHARED) -> list[Path]:
    return sorted(folder.glob("*.jsonl.gz"))


def real_pool(folder: Path = SHARED) -> tuple[list[RealPaper], list[str]]:
    """Each real paper once (its last listed text), in id order; and the listing dates."""
    papers: dict[str, RealPaper] = {}
    dates = []
    for path in real_files(folder):
        dates.append(path.name[:10])
        with gzip.open(path, "rb") as fh:
            for line in fh:
                r = orjson.loads(line)
                if not r.get("summary") or not r.get("title"):
                    continue
                papers[r["id"]] = RealPaper(
                    r["id"], " ".join(r["title"].split()), " ".join(r["summary"].split()),
                    list(r.get("authors") or []), list(r.get("categories") or []),
                )  # fmt: skip
    return [papers[key] for key in sorted(papers)], dates


class Generator:
    """Synthetic paper i from the real pool, the same i giving the same paper in every run."""

    def __init__(self, pool: list[RealPaper], dates: list[str]) -> None:
        self.pool, self.dates = pool, dates
        by_category: dict[str, list[int]] = {}
        for i, paper in enumerate(pool):
            by_category.setdefault(paper.categories[0] if paper.categories else "", []).append(i)
        self.same_category = [by_category[p.categories[0] if p.categories else ""] for p in pool]

    def date(self, i: int) -> str:
        return self.dates[i % len(self.dates)]

    def paper(self, i: int) -> Synthetic:
        rng = random.Random(f"{SEED}:{i}")
        a = rng.randrange(len(self.pool))
        peers = self.same_category[a]
        pick = peers if len(peers) > 2 else range(len(self.pool))
        b, c = rng.choice(pick), rng.choice(pick)
        pa, pb = self.pool[a], self.pool[b]
        parts = [
            _run(pa.summary, rng.uniform(0.25, 0.4), rng, opening=True),
            _run(pb.summary, rng.uniform(0.25, 0.4), rng),
            _run(self.pool[c].summary, rng.uniform(0.25, 0.4), rng),
        ]
        ta, tb = pa.title.split(), pb.title.split()
        title = " ".join(ta[: (len(ta) + 1) // 2] + tb[len(tb) // 2 :])
        authors = pa.authors[: (len(pa.authors) + 1) // 2] + pb.authors[len(pb.authors) // 2 :]
        pid = f"{3001 + i // 100_000:04d}.{i % 100_000:05d}"
        record = {
            "id": pid, "title": title, "summary": " ".join(parts), "authors": authors or ["Anonymous"],
            "categories": pa.categories or ["cs.LG"], "comment": None,
            "abs": f"https://arxiv.org/abs/{pid}", "pdf": f"https://arxiv.org/pdf/{pid}",
        }  # fmt: skip
        total = sum(len(part) for part in parts) or 1
        shares = (len(parts[0]) / total, len(parts[1]) / total, len(parts[2]) / total)
        return Synthetic(record, (a, b, c), shares)

    def papers(self, count: int) -> Iterator[Synthetic]:
        for i in range(count):
            yield self.paper(i)


def _run(text: str, share: float, rng: random.Random, opening: bool = False) -> str:
    """A run of `share` of a text's sentences (of its words when it has few), at a random place."""
    units = SENTENCE.split(text)
    if len(units) < 4:
        units = text.split()
    n = max(1, round(len(units) * share))
    start = 0 if opening else rng.randrange(len(units) - n + 1)
    return " ".join(units[start : start + n])


def write_synthetic(folder: Path, generator: Generator, count: int) -> None:
    """Synthetic papers 0..count-1 as daily-listing files, one per real listing date."""
    folder.mkdir(parents=True, exist_ok=True)
    handles: dict[str, Any] = {}
    try:
        for i in range(count):
            day = generator.date(i)
            if day not in handles:
                handles[day] = (folder / f"synthetic-{day}.jsonl").open("wb")
            handles[day].write(orjson.dumps(generator.paper(i).record) + b"\n")
    finally:
        for handle in handles.values():
            handle.close()
