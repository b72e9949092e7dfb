"""Digest personalisation quality: precision@10 of paperwire's selection against arxiv-sanity-lite's.

Simulated subscribers on the real daily arXiv listings (../shared/data/arxiv/daily_arxiv_jsonl):

- each *window* is one weekly digest: the papers first listed in `--new-days` days (the new papers,
  about 1-2k) and the papers first listed in the `--history-days` days before (the history, from
  which a subscriber's liked papers come). Everything listed before the history counts as old and is
  neither history nor new. Several windows are run and pooled. Each interest gets `--draws`
  independent draws of its liked papers (one simulated subscriber each); every mean is over
  interests, each interest the mean of its draws, and confidence intervals resample interests.
- *category* subscribers: the interest is one arXiv category; relevant = the new papers listed in
  it. The liked/tagged papers are `--tags` history papers of the category, drawn at random.
- *cross-list* subscribers (held-back liked papers): the interest is a narrow cluster, the papers
  listed in both a main category (cs.AI, cs.CV, cs.CL, cs.LG) and a smaller one (cs.RO, cs.GR, ...).
  Liked = history papers of the cluster; relevant = the held-back new papers of the cluster.
- *venue* subscribers (held-back liked papers): a community whose papers say in their arXiv comment
  that they were accepted at one of its venues (MICCAI/ISBI/MIDL, Interspeech/ICASSP, ...). Liked =
  history papers with such a comment; relevant = new papers with one. Neither method sees comments.

Both ground truths are labels the authors gave (categories, comments), not text features of either
method, so neither the tf-idf SVM nor the embeddings define what is relevant.

Methods, all on the same subscribers and papers in one run:
- arxiv-sanity-lite, mirrored from karpathy/arxiv-sanity-lite at d7a303b: compute.py's
  TfidfVectorizer over title + summary + author names of every paper in its database (history and
  new), send_emails.py's LinearSVC(class_weight='balanced', max_iter=10000, tol=1e-6, C=0.01) per
  tag with y = 1 for the tagged papers and 0 for all others, decision_function on all papers, the
  top ones among the recent (new) papers, tagged ones excluded (one tag per subscriber, so the
  email's max over tags is that tag's ranking). A second row uses the variant described in the
  task brief (title + abstract only, C = 0.02).
- paperwire: paperwire.digest.selection.select on NewPapers/Interest built from arrays exactly as
  digest/compose.py builds them from the store (texts = paper_text(title, abstract) of the
  normalised records, float16-stored unit embeddings of the bundled all-MiniLM-L6-v2 int8 model,
  liked papers = up-marks, feedback vectors = all marks); every paper is its own duplicate group and
  trending attention is zero (no store, no trending signals). Variants: liked papers only (the same
  information the SVM gets), a free-text topic (the category's official arXiv name, or a community
  name for venues), the category alone, the category plus the liked papers, and the liked papers plus
  implicit negatives (random other history papers marked down, which turns on the feedback classifier).
- baselines: random (the expected precision, |relevant| / |new|), the tf-idf centroid of the liked
  papers (Rocchio, arxiv-sanity's features), the embedding centroid of the liked papers, and
  paperwire's topic variant without embeddings (keyword-only).

With --sweep, paperwire variants with other values of selection's constants (set on the module for
the call, nothing in src/ changes) measure what could raise its precision.

Run: PYTHONPATH=src /work/main/.venv/bin/python bench/digest_quality.py [--sweep]
Results recorded in bench/DIGEST_QUALITY.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gzip
import hashlib
import json
import os
import platform
import random
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = ROOT.parent / "shared"
DEFAULT_WORK = Path("/tmp/paperwire-digest-quality")
BIG = ("cs.AI", "cs.CV", "cs.CL", "cs.LG")  # the corpus's main categories (cross-lists are from these)

# Official arXiv category names (arxiv.org/category_taxonomy), the topic text of a category subscriber.
CATEGORY_NAMES = {
    "cs.AI": "Artificial Intelligence",
    "cs.AR": "Hardware Architecture",
    "cs.CC": "Computational Complexity",
    "cs.CE": "Computational Engineering, Finance, and Science",
    "cs.CG": "Computational Geometry",
    "cs.CL": "Computation and Language",
    "cs.CR": "Cryptography and Security",
    "cs.CV": "Computer Vision and Pattern Recognition",
    "cs.CY": "Computers and Society",
    "cs.DB": "Databases",
    "cs.DC": "Distributed, Parallel, and Cluster Computing",
    "cs.DL": "Digital Libraries",
    "cs.DS": "Data Structures and Algorithms",
    "cs.ET": "Emerging Technologies",
    "cs.GR": "Graphics",
    "cs.GT": "Computer Science and Game Theory",
    "cs.HC": "Human-Computer Interaction",
    "cs.IR": "Information Retrieval",
    "cs.IT": "Information Theory",
    "cs.LG": "Machine Learning",
    "cs.LO": "Logic in Computer Science",
    "cs.MA": "Multiagent Systems",
    "cs.MM": "Multimedia",
    "cs.NE": "Neural and Evolutionary Computing",
    "cs.NI": "Networking and Internet Architecture",
    "cs.PL": "Programming Languages",
    "cs.RO": "Robotics",
    "cs.SD": "Sound",
    "cs.SE": "Software Engineering",
    "cs.SI": "Social and Information Networks",
    "cs.SY": "Systems and Control",
    "eess.AS": "Audio and Speech Processing",
    "eess.IV": "Image and Video Processing",
    "eess.SP": "Signal Processing",
    "eess.SY": "Systems and Control",
    "stat.ML": "Machine Learning",
    "math.OC": "Optimization and Control",
    "q-bio.NC": "Neurons and Cognition",
    "q-bio.QM": "Quantitative Methods",
}

# Venue communities: (name, regex over the arXiv comment, topic text written for this benchmark).
VENUES = [
    ("medical imaging", r"\b(MICCAI|ISBI|MIDL)\b", "medical image analysis"),
    ("speech", r"\b(Interspeech|INTERSPEECH|ICASSP)\b", "speech and audio processing"),
    ("robotics", r"\b(ICRA|IROS|CoRL|RSS)\b", "robotics"),
    ("graphics", r"\bSIGGRAPH\b", "computer graphics"),
    ("retrieval", r"\b(SIGIR|CIKM|RecSys|WSDM|ECIR)\b", "information retrieval and recommender systems"),
    ("language resources", r"\bLREC\b", "language resources and evaluation"),
    ("image processing", r"\b(ICIP|ICME)\b|ACM (MM|Multimedia)\b", "image processing and multimedia"),
    ("remote sensing", r"\bIGARSS\b", "remote sensing"),
    ("documents", r"\bICDAR\b", "document analysis and recognition"),
]

# arxiv-sanity-lite (karpathy/arxiv-sanity-lite at d7a303b): compute.py and send_emails.py
ASL_COMMIT = "d7a303b"
ASL_TFIDF = {
    "input": "content",
    "encoding": "utf-8",
    "decode_error": "replace",
    "strip_accents": "unicode",
    "lowercase": True,
    "analyzer": "word",
    "stop_words": "english",
    "token_pattern": r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b",
    "ngram_range": (1, 2),
    "max_features": 20000,
    "norm": "l2",
    "use_idf": True,
    "smooth_idf": True,
    "sublinear_tf": True,
    "max_df": 0.1,
    "min_df": 5,
}
ASL_SVM = {"class_weight": "balanced", "verbose": False, "max_iter": 10000, "tol": 1e-6}


# ---------------------------------------------------------------------------------------------------
# corpus


@dataclass
class Record:
    id: str
    day: str  # the date of the first daily listing that held it (the store's first_seen)
    title: str  # normalised, as the store holds it
    abstract: str
    title_raw: str
    abstract_raw: str
    authors: list[str]
    categories: list[str]
    comment: str


def load(arxiv: Path, first: str, last: str) -> list[Record]:
    """Papers first listed between `first` and `last` (inclusive), read and normalised as paperwire's
    ingest reads them (paperwire.sources.jsonl + paperwire.normalize.normalize)."""
    from paperwire.models import RawRecord
    from paperwire.normalize import normalize
    from paperwire.sources import jsonl

    seen: set[str] = set()
    out: list[Record] = []
    for path in sorted(arxiv.glob("*.jsonl.gz")):
        day = path.name[:10]
        if day > last:
            break
        if day < first:  # only which ids are old
            with gzip.open(path, "rb") as f:
                seen.update(orjson.loads(line)["id"] for line in f if line.strip())
            continue
        for raw in jsonl.read(path):
            if not isinstance(raw, RawRecord):
                continue
            paper = normalize(raw)
            if paper.id in seen:
                continue
            seen.add(paper.id)
            out.append(
                Record(
                    id=paper.id,
                    day=day,
                    title=paper.title,
                    abstract=paper.abstract,
                    title_raw=paper.title_raw,
                    abstract_raw=paper.abstract_raw,
                    authors=list(paper.authors),
                    categories=list(paper.categories),
                    comment=paper.comment or "",
                )
            )
    return out


def embed_corpus(records: list[Record], work: Path, batch_size: int) -> tuple[np.ndarray, Any]:
    """Unit embeddings of paper_text(title, abstract), as stored (float16), cached under `work`."""
    from paperwire.search.embed import load_embedder, paper_text

    embedder = load_embedder(None, "onnx-int8", work / "models", batch_size)
    texts = [paper_text(r.title, r.abstract) for r in records]
    keys = [
        hashlib.sha1(f"{embedder.model_id}\0{r.id}\0{t}".encode()).hexdigest()[:20]
        for r, t in zip(records, texts, strict=True)
    ]
    # one cache for every run: vectors.npy (float16 rows) and keys.json (the row of each key)
    cache, index = work / "vectors.npy", work / "keys.json"
    stored = np.load(cache) if cache.exists() and index.exists() else np.zeros((0, embedder.dim), np.float16)
    row = {k: i for i, k in enumerate(json.loads(index.read_text()))} if len(stored) else {}
    todo = sorted({i for i, k in enumerate(keys) if k not in row})
    if todo:
        start, done = time.perf_counter(), [0]

        def progress(n: int) -> None:
            done[0] += n
            if done[0] % 1000 < n:
                rate = done[0] / (time.perf_counter() - start)
                print(f"  embedded {done[0]}/{len(todo)} ({rate:.0f}/s)", file=sys.stderr)

        fresh = embedder.embed([texts[i] for i in todo], progress=progress).astype(np.float16)
        print(f"embeddings: {len(todo)} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        for j, i in enumerate(todo):
            row.setdefault(keys[i], len(stored) + j)
        stored = np.concatenate([stored, fresh])
        work.mkdir(parents=True, exist_ok=True)
        np.save(work / "vectors.tmp.npy", stored)
        (work / "vectors.tmp.npy").replace(cache)
        index.write_text(json.dumps(sorted(row, key=row.__getitem__)))
    else:
        print(f"embeddings: all {len(keys)} cached in {cache}", file=sys.stderr)
    return stored[[row[k] for k in keys]].astype(np.float32), embedder


# ---------------------------------------------------------------------------------------------------
# windows and subscribers


@dataclass
class Subscriber:
    kind: str  # "category", "cross-list", "venue"
    name: str
    window: str
    liked: list[int]  # indices into the window's history
    relevant: np.ndarray  # bool over the window's new papers
    topic: str | None = None
    categories: list[str] = field(default_factory=list)  # for the category variants
    negatives: list[int] = field(default_factory=list)  # history papers for implicit negatives
    draw: int = 0  # which draw of the liked papers


@dataclass
class Window:
    start: str
    history: list[Record]
    new: list[Record]
    hist_vectors: np.ndarray
    new_vectors: np.ndarray


def windows(
    records: list[Record], vectors: np.ndarray, starts: list[str], new_days: int, history_days: int
) -> list[Window]:
    out = []
    for start in starts:
        d0 = dt.date.fromisoformat(start)
        new_end = (d0 + dt.timedelta(days=new_days - 1)).isoformat()
        hist_start = (d0 - dt.timedelta(days=history_days)).isoformat()
        hist = [i for i, r in enumerate(records) if hist_start <= r.day < start]
        new = [i for i, r in enumerate(records) if start <= r.day <= new_end]
        out.append(
            Window(start, [records[i] for i in hist], [records[i] for i in new], vectors[hist], vectors[new])
        )
    return out


def subscribers(
    w: Window, tags: int, min_new: dict[str, int], negatives: int, seed: int, draws: int
) -> list[Subscriber]:
    """Every interest of the window with enough papers, with `draws` independent draws of its liked
    papers (fewer where the history holds fewer distinct draws). Each draw has its own random seed,
    so adding an interest or a method changes no other subscriber."""
    interests: list[tuple[str, str, np.ndarray, list[int], str | None, list[str]]] = []
    # category subscribers
    counts = Counter(c for r in w.new for c in set(r.categories))
    for cat in sorted(c for c, k in counts.items() if k >= min_new["category"] and c in CATEGORY_NAMES):
        hist = [i for i, r in enumerate(w.history) if cat in r.categories]
        if len(hist) >= tags:
            relevant = np.array([cat in r.categories for r in w.new])
            interests.append(("category", cat, relevant, hist, CATEGORY_NAMES[cat], [cat]))
    # cross-list clusters: a main category and a smaller one
    pairs = Counter(
        (a, b) for r in w.new for a in BIG if a in r.categories for b in set(r.categories) if b not in BIG
    )
    for (a, b), k in sorted(pairs.items()):
        hist = [i for i, r in enumerate(w.history) if a in r.categories and b in r.categories]
        if k >= min_new["cross-list"] and len(hist) >= tags:
            relevant = np.array([a in r.categories and b in r.categories for r in w.new])
            interests.append(("cross-list", f"{a}+{b}", relevant, hist, None, [b]))
    # venue communities
    for name, pattern, topic in VENUES:
        rx = re.compile(pattern)
        relevant = np.array([bool(rx.search(r.comment)) for r in w.new])
        hist = [i for i, r in enumerate(w.history) if rx.search(r.comment)]
        if relevant.sum() >= min_new["venue"] and len(hist) >= min(tags, 10):
            interests.append(("venue", name, relevant, hist, topic, []))
    out: list[Subscriber] = []
    for kind, name, relevant, hist, topic, cats in interests:
        assert 0 < relevant.sum() < len(w.new)
        drawn: set[tuple[int, ...]] = set()
        for d in range(draws):
            rng = random.Random(f"{seed}:{w.start}:{kind}:{name}:{d}")
            liked = sorted(rng.sample(hist, min(tags, len(hist))))
            if tuple(liked) in drawn:
                continue
            drawn.add(tuple(liked))
            taken = set(liked)
            pool = [i for i in range(len(w.history)) if i not in taken]
            negs = rng.sample(pool, min(5 * negatives, len(pool)))  # the sweep takes up to 5x as many
            out.append(Subscriber(kind, name, w.start, liked, relevant, topic, cats, negs, d))
    return out


# ---------------------------------------------------------------------------------------------------
# methods: each gives the new papers it would send, best first


class ArxivSanity:
    """arxiv-sanity-lite's tf-idf features of a window's database (history + new papers)."""

    def __init__(self, w: Window, authors: bool, c: float) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer  # type: ignore[import-untyped]

        self.c = c
        docs = [
            r.title_raw + " " + r.abstract_raw + (" " + " ".join(r.authors) if authors else "")
            for r in w.history + w.new
        ]
        start = time.perf_counter()
        v = TfidfVectorizer(**ASL_TFIDF)
        v.fit(docs)
        self.x = v.transform(docs).astype(np.float32)
        self.seconds = time.perf_counter() - start
        self.n_hist = len(w.history)

    def rank(self, s: Subscriber, limit: int) -> list[int]:
        from sklearn import svm  # type: ignore[import-untyped]

        y = np.zeros(self.x.shape[0], dtype=np.float32)
        y[s.liked] = 1.0
        clf = svm.LinearSVC(C=self.c, **ASL_SVM)
        clf.fit(self.x, y)
        scores = clf.decision_function(self.x)
        recent = scores[self.n_hist :]  # the new papers; the tagged ones are all history
        return [int(i) for i in np.argsort(-recent, kind="stable")[:limit]]

    def centroid(self, s: Subscriber, limit: int) -> list[int]:
        """Rocchio: cosine to the mean tf-idf vector of the liked papers."""
        mean = np.asarray(self.x[s.liked].mean(axis=0)).ravel()
        scores = self.x[self.n_hist :] @ mean
        return [int(i) for i in np.argsort(-scores, kind="stable")[:limit]]


def as_stored(v: np.ndarray) -> np.ndarray:
    """Vectors as the store gives them back (float16 blobs read as float32)."""
    return v.astype(np.float16).astype(np.float32)


class Paperwire:
    """paperwire's selection over a window's new papers, NewPapers built as compose.py builds it."""

    def __init__(self, w: Window, embedder: Any, with_vectors: bool = True) -> None:
        from paperwire.digest import selection
        from paperwire.search.embed import paper_text

        self.selection, self.embedder, self.w = selection, embedder, w
        self.hist_vectors = as_stored(w.hist_vectors)
        start = time.perf_counter()
        self.papers = selection.NewPapers(
            ids=[r.id for r in w.new],
            titles=[r.title for r in w.new],
            texts=[paper_text(r.title, r.abstract) for r in w.new],
            groups=[r.id for r in w.new],
            categories=[list(r.categories) for r in w.new],
            vectors=as_stored(w.new_vectors) if with_vectors else None,
            attention=np.zeros(len(w.new)),
        )
        self.seconds = time.perf_counter() - start
        self._topic_vectors: dict[str, np.ndarray] = {}

    def topic_vector(self, topic: str) -> np.ndarray:
        if topic not in self._topic_vectors:
            self._topic_vectors[topic] = as_stored(self.embedder.embed([topic]))
        return self._topic_vectors[topic]

    def interest(
        self,
        s: Subscriber,
        *,
        topic: bool = False,
        categories: bool = False,
        liked: bool = False,
        negatives: int = 0,
        centroid: bool = False,
        limit: int = 10,
    ) -> Any:
        """The Interest compose.interests() would build for a subscriber with these settings."""
        sel = self.selection
        topics = [s.topic] if topic and s.topic else []
        vectors = self.topic_vector(s.topic) if topics and self.papers.vectors is not None else None
        scores = self.papers.topic_scores(topics, vectors)
        up = list(s.liked) if liked else []
        marks = up + list(s.negatives[:negatives])  # random other history papers, marked down
        labels = [1] * len(up) + [0] * (len(marks) - len(up))
        liked_vectors = self.hist_vectors[up] if up else None
        if centroid and liked_vectors is not None:
            mean = liked_vectors.mean(axis=0)
            liked_vectors = (mean / np.linalg.norm(mean))[None, :].astype(np.float32)
        return sel.Interest(
            topics=topics,
            topic_scores=scores,
            categories=list(s.categories) if categories else [],
            liked_titles=[self.w.history[i].title for i in up][: 1 if centroid else None],
            liked_vectors=liked_vectors,
            feedback_vectors=self.hist_vectors[marks] if marks else None,
            feedback_labels=np.array(labels, dtype=np.int8) if marks else None,
            received_groups=set(),
            limit=limit,
        )

    def rank(self, s: Subscriber, limit: int, **settings: Any) -> list[int]:
        interest = self.interest(s, limit=limit, **settings)
        return [p.index for p in self.selection.select(self.papers, interest)]

    def embedding_centroid(self, s: Subscriber, limit: int) -> list[int]:
        mean = self.hist_vectors[s.liked].mean(axis=0)
        scores = self.papers.vectors @ mean
        return [int(i) for i in np.argsort(-scores, kind="stable")[:limit]]


@contextlib.contextmanager
def constants(**values: float) -> Iterator[None]:
    """Set paperwire.digest.selection's module constants for the duration (nothing in src/ changes)."""
    from paperwire.digest import selection

    old = {k: getattr(selection, k) for k in values}
    for k, v in values.items():
        setattr(selection, k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            setattr(selection, k, v)


@dataclass
class Method:
    name: str
    kinds: tuple[str, ...]  # subscriber kinds it applies to
    run: Callable[[dict[str, Any], Subscriber, int], list[int]]  # (window's engines, subscriber, limit)
    group: str = "main"
    note: str = ""


ALL = ("category", "cross-list", "venue")
TOPIC = ("category", "venue")
CATS = ("category", "cross-list")


def methods(sweep: bool) -> list[Method]:
    pw = lambda e: e["pw"]  # noqa: E731
    out = [
        Method(
            f"arxiv-sanity-lite SVM ({ASL_COMMIT}: +authors, C=0.01)",
            ALL,
            lambda e, s, k: e["asl"].rank(s, k),
        ),
        Method(
            "arxiv-sanity SVM, brief's variant (no authors, C=0.02)",
            ALL,
            lambda e, s, k: e["asl2"].rank(s, k),
        ),
        Method("paperwire: liked papers", ALL, lambda e, s, k: pw(e).rank(s, k, liked=True)),
        Method(
            "paperwire: liked + implicit negatives (LR on)",
            ALL,
            lambda e, s, k: pw(e).rank(s, k, liked=True, negatives=e["negatives"]),
        ),
        Method("paperwire: topic text", TOPIC, lambda e, s, k: pw(e).rank(s, k, topic=True)),
        Method("paperwire: category", ("category",), lambda e, s, k: pw(e).rank(s, k, categories=True)),
        Method(
            "paperwire: category + liked", CATS, lambda e, s, k: pw(e).rank(s, k, categories=True, liked=True)
        ),
        Method(
            "baseline: tf-idf centroid of liked (Rocchio)",
            ALL,
            lambda e, s, k: e["asl"].centroid(s, k),
            "baseline",
        ),
        Method(
            "baseline: embedding centroid of liked",
            ALL,
            lambda e, s, k: pw(e).embedding_centroid(s, k),
            "baseline",
        ),
        Method(
            "baseline: topic text, keyword-only (paperwire without embeddings)",
            TOPIC,
            lambda e, s, k: e["pw_kw"].rank(s, k, topic=True),
            "baseline",
        ),
    ]
    if not sweep:
        return out

    def variant(name: str, kinds: tuple[str, ...], settings: dict[str, Any], **consts: float) -> Method:
        def run(e: dict[str, Any], s: Subscriber, k: int) -> list[int]:
            given = dict(settings)
            if "negatives" in given:  # a multiple of --negatives
                given["negatives"] = int(given["negatives"] * e["negatives"])
            with constants(**consts):
                return list(e["pw"].rank(s, k, **given))

        return Method(name, kinds, run, "sweep")

    liked, topic, cat_liked = {"liked": True}, {"topic": True}, {"categories": True, "liked": True}
    neg, centroid = {"liked": True, "negatives": 1}, {"liked": True, "centroid": True}
    out += [
        variant("liked, DIVERSITY=0", ALL, liked, DIVERSITY=0.0),
        variant("liked, DIVERSITY=0.1", ALL, liked, DIVERSITY=0.1),
        variant("liked as one centroid vector", ALL, centroid),
        variant("liked as one centroid vector, DIVERSITY=0", ALL, centroid, DIVERSITY=0.0),
        variant("liked + implicit negatives, FEEDBACK_WEIGHT=1", ALL, neg, FEEDBACK_WEIGHT=1.0),
        variant("liked + implicit negatives, FEEDBACK_WEIGHT=2", ALL, neg, FEEDBACK_WEIGHT=2.0),
        variant("liked + implicit negatives, FEEDBACK_WEIGHT=5", ALL, neg, FEEDBACK_WEIGHT=5.0),
        variant(
            "liked + 5x implicit negatives, FEEDBACK_WEIGHT=2",
            ALL,
            {"liked": True, "negatives": 5},
            FEEDBACK_WEIGHT=2.0,
        ),
        variant(
            "liked + implicit negatives, FEEDBACK_WEIGHT=2, DIVERSITY=0",
            ALL,
            neg,
            FEEDBACK_WEIGHT=2.0,
            DIVERSITY=0.0,
        ),
        variant(
            "centroid + implicit negatives, FEEDBACK_WEIGHT=2",
            ALL,
            {**centroid, "negatives": 1},
            FEEDBACK_WEIGHT=2.0,
        ),
        variant("topic, ALPHA=0.7", TOPIC, topic, ALPHA=0.7),
        variant("topic, ALPHA=1 (embeddings only)", TOPIC, topic, ALPHA=1.0),
        variant("topic, DIVERSITY=0", TOPIC, topic, DIVERSITY=0.0),
        variant("topic, MIN_RELEVANCE=0.15", TOPIC, topic, MIN_RELEVANCE=0.15),
        variant("topic, MIN_RELEVANCE=0 (ranking only)", TOPIC, topic, MIN_RELEVANCE=0.0),
        variant("topic, ALPHA=1, MIN_RELEVANCE=0", TOPIC, topic, ALPHA=1.0, MIN_RELEVANCE=0.0),
        variant("category + liked, CATEGORY_BONUS=0.3", CATS, cat_liked, CATEGORY_BONUS=0.3),
        variant("category + liked, CATEGORY_BONUS=1", CATS, cat_liked, CATEGORY_BONUS=1.0),
    ]
    return out


# ---------------------------------------------------------------------------------------------------
# run and report


def run(args: argparse.Namespace) -> dict[str, Any]:
    arxiv = args.shared / "data" / "arxiv" / "daily_arxiv_jsonl"
    starts = sorted(args.windows)
    first = min((dt.date.fromisoformat(s) - dt.timedelta(days=args.history_days)).isoformat() for s in starts)
    last = max((dt.date.fromisoformat(s) + dt.timedelta(days=args.new_days - 1)).isoformat() for s in starts)
    t0 = time.perf_counter()
    records = load(arxiv, first, last)
    print(
        f"corpus: {len(records)} papers first listed {first} .. {last} ({time.perf_counter() - t0:.0f} s)",
        file=sys.stderr,
    )
    vectors, embedder = embed_corpus(records, args.work, args.batch_size)
    chosen = methods(args.sweep)
    results: list[dict[str, Any]] = []
    setup: list[dict[str, Any]] = []
    for w in windows(records, vectors, starts, args.new_days, args.history_days):
        engines = {
            "asl": ArxivSanity(w, authors=True, c=0.01),
            "asl2": ArxivSanity(w, authors=False, c=0.02),
            "pw": Paperwire(w, embedder),
            "pw_kw": Paperwire(w, embedder, with_vectors=False),
            "negatives": args.negatives,
        }
        subs = subscribers(
            w,
            args.tags,
            {"category": args.min_category, "cross-list": args.min_cluster, "venue": args.min_venue},
            args.negatives,
            args.seed,
            args.draws,
        )
        setup.append(
            {
                "window": w.start,
                "history": len(w.history),
                "new": len(w.new),
                "asl_features_s": engines["asl"].seconds,
                "pw_newpapers_s": engines["pw"].seconds,
                "subscribers": Counter(s.kind for s in subs),
                "interests": Counter(kind for kind, _ in {(s.kind, s.name) for s in subs}),
            }
        )
        print(
            f"window {w.start}: history {len(w.history)}, new {len(w.new)}, "
            f"{dict(Counter(s.kind for s in subs))}",
            file=sys.stderr,
        )
        for s in subs:
            for m in chosen:
                if s.kind not in m.kinds:
                    continue
                start = time.perf_counter()
                picks = m.run(engines, s, args.limit)[: args.limit]
                seconds = time.perf_counter() - start
                results.append(
                    {
                        "method": m.name,
                        "group": m.group,
                        "kind": s.kind,
                        "name": s.name,
                        "window": s.window,
                        "draw": s.draw,
                        "hits": int(s.relevant[picks].sum()),
                        "returned": len(picks),
                        "seconds": seconds,
                        "relevant": int(s.relevant.sum()),
                        "new": len(s.relevant),
                        "liked": len(s.liked),
                    }
                )
            # random: the expected precision
            results.append(
                {
                    "method": "baseline: random",
                    "group": "baseline",
                    "kind": s.kind,
                    "name": s.name,
                    "window": s.window,
                    "draw": s.draw,
                    "hits": args.limit * float(s.relevant.mean()),
                    "returned": args.limit,
                    "seconds": 0.0,
                    "relevant": int(s.relevant.sum()),
                    "new": len(s.relevant),
                    "liked": len(s.liked),
                }
            )
            results.append(
                {
                    "method": "oracle (min(relevant, 10) / 10)",
                    "group": "baseline",
                    "kind": s.kind,
                    "name": s.name,
                    "window": s.window,
                    "draw": s.draw,
                    "hits": min(args.limit, int(s.relevant.sum())),
                    "returned": args.limit,
                    "seconds": 0.0,
                    "relevant": int(s.relevant.sum()),
                    "new": len(s.relevant),
                    "liked": len(s.liked),
                }
            )
    return {
        "setup": setup,
        "results": results,
        "corpus": len(records),
        "first": first,
        "last": last,
        "wall_s": time.perf_counter() - t0,
        "methods": [m.name for m in chosen],
    }


def bootstrap(diffs: list[float], rng: random.Random, n: int = 2000) -> tuple[float, float]:
    means = sorted(statistics.fmean(rng.choices(diffs, k=len(diffs))) for _ in range(n))
    return means[int(0.025 * n)], means[int(0.975 * n) - 1]


def report(out: dict[str, Any], args: argparse.Namespace, command: str) -> str:
    """Markdown tables. Every mean is over interests (window, interest), each the mean of its draws, so
    an interest counts once however many distinct liked-paper draws it has."""
    results = out["results"]
    limit = args.limit
    kinds = list(ALL)
    by: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        by[(r["method"], r["kind"])].append(r)
    order = ["oracle (min(relevant, 10) / 10)", *out["methods"][:7], "baseline: random", *out["methods"][7:]]
    order = [m for m in order if any((m, k) in by for k in kinds)]
    random_rows = {k: by[("baseline: random", k)] for k in kinds}
    n_int = {k: len({(r["window"], r["name"]) for r in random_rows[k]}) for k in kinds}
    n_sub = {k: len(random_rows[k]) for k in kinds}

    def per_interest(
        rows: list[dict[str, Any]], value: Callable[[dict[str, Any]], float]
    ) -> dict[Any, float]:
        groups: dict[Any, list[float]] = defaultdict(list)
        for r in rows:
            groups[(r["window"], r["kind"], r["name"])].append(value(r))
        return {key: statistics.fmean(v) for key, v in groups.items()}

    def p(rows: list[dict[str, Any]]) -> float:
        return statistics.fmean(per_interest(rows, lambda r: r["hits"] / limit).values())

    lines = [f"Command: `{command}`", ""]
    lines += [
        f"Corpus: {out['corpus']} unique papers first listed {out['first']} .. {out['last']}; "
        f"{args.tags} liked papers per subscriber, {args.draws} draws of them per interest; "
        f"wall time {out['wall_s']:.0f} s.",
        "",
    ]
    lines += [
        "| window (new from) | history papers | new papers | category / cross-list / venue interests |"
        " arxiv-sanity tf-idf (s) | paperwire NewPapers (s) |",
        "|---|---:|---:|---|---:|---:|",
    ]
    for s in out["setup"]:
        c = s["interests"]
        lines.append(
            f"| {s['window']} | {s['history']} | {s['new']} | {c['category']} / {c['cross-list']} / "
            f"{c['venue']} | {s['asl_features_s']:.1f} | {s['pw_newpapers_s']:.1f} |"
        )
    lines += [
        "",
        f"Precision@{limit}, the mean over interests (n = interests, subscribers = interests x "
        "distinct liked-paper draws); papers sent and precision of sent are means over subscribers:",
        "",
    ]
    header = (
        "| method | "
        + " | ".join(f"{k} (n={n_int[k]}, {n_sub[k]} subscribers)" for k in kinds)
        + " | all applicable | papers sent | precision of sent | ms / subscriber |"
    )
    rule = "|---|" + "---:|" * (len(kinds) + 4)
    lines += [header, rule]
    for group in ("main", "baseline", "sweep"):
        ms = [m for m in order if any(r["group"] == group for k in kinds for r in by.get((m, k), []))]
        if group == "sweep" and ms:
            lines += ["", "Sweep (paperwire's selection with other constants or inputs):", "", header, rule]
        for m in ms:
            cells = [f"{p(by[(m, k)]):.3f}" if by.get((m, k)) else "–" for k in kinds]
            rows = [r for k in kinds for r in by.get((m, k), [])]
            timing = statistics.fmean(r["seconds"] for r in rows) * 1000
            sent = statistics.fmean(r["returned"] for r in rows)
            some = [r["hits"] / r["returned"] for r in rows if r["returned"]]
            exact = m.startswith(("baseline: random", "oracle"))
            lines.append(
                f"| {m} | "
                + " | ".join(cells)
                + f" | {p(rows):.3f} | "
                + (f"{sent:.1f} | {statistics.fmean(some):.3f} | " if some and not exact else "– | – | ")
                + (f"{timing:.0f}" if timing else "–")
                + " |"
            )
    # paired comparison against arxiv-sanity, resampling interests
    rng = random.Random(0)
    asl = out["methods"][0]
    lines += [
        "",
        f"Paired against {asl}: per interest, the difference in precision@{limit} (each the mean of "
        "its draws); 95% bootstrap CI of the mean over interests; interests won / tied / lost:",
        "",
        "| method | kind | mean difference | 95% CI | won / tied / lost |",
        "|---|---|---:|---|---|",
    ]
    for m in out["methods"][1:]:
        for k in [*kinds, "all"]:
            chosen = kinds if k == "all" else [k]
            base = per_interest(
                [r for kk in chosen for r in by.get((asl, kk), [])], lambda r: r["hits"] / limit
            )
            mine = per_interest(
                [r for kk in chosen for r in by.get((m, kk), [])], lambda r: r["hits"] / limit
            )
            keys = sorted(set(base) & set(mine))
            if not keys or (k == "all" and len({kk for kk in kinds if by.get((m, kk))}) < 2):
                continue
            if k != "all" and m not in out["methods"][:10]:  # sweep variants: the overall line only
                continue
            diffs = [mine[x] - base[x] for x in keys]
            lo, hi = bootstrap(diffs, rng)
            w = sum(d > 1e-9 for d in diffs)
            loss = sum(d < -1e-9 for d in diffs)
            lines.append(
                f"| {m} | {k} | {statistics.fmean(diffs):+.3f} | [{lo:+.3f}, {hi:+.3f}] | "
                f"{w} / {len(diffs) - w - loss} / {loss} |"
            )
    # per interest
    main = [
        asl,
        "paperwire: liked papers",
        "paperwire: liked + implicit negatives (LR on)",
        "paperwire: topic text",
        "paperwire: category + liked",
    ]
    lines += [
        "",
        f"Per interest (precision@{limit}, the mean over the windows that have it; relevant = new papers "
        "relevant, mean over those windows):",
        "",
        "| kind | interest | windows | relevant | random | " + " | ".join(main) + " |",
        "|---|---|---:|---:|---:|" + "---:|" * len(main),
    ]
    names = sorted({(r["kind"], r["name"]) for r in results}, key=lambda x: (kinds.index(x[0]), x[1]))
    for kind, name in names:

        def rows(m: str, kind: str = kind, name: str = name) -> list[dict[str, Any]]:
            return [r for r in by.get((m, kind), []) if r["name"] == name]

        rnd = rows("baseline: random")
        windows_of = {r["window"] for r in rnd}
        relevant = statistics.fmean(per_interest(rnd, lambda r: r["relevant"]).values())
        cells = [f"{p(rows(m)):.2f}" if rows(m) else "–" for m in main]
        lines.append(
            f"| {kind} | {name} | {len(windows_of)} | {relevant:.0f} | {p(rnd):.2f} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--shared", type=Path, default=DEFAULT_SHARED, help="the shared folder (default ../shared)"
    )
    ap.add_argument(
        "--windows",
        nargs="+",
        default=["2026-04-13", "2026-05-18", "2026-06-15"],
        help="first day of each window's new papers",
    )
    ap.add_argument(
        "--new-days", type=int, default=7, help="days of new papers per window (one weekly digest)"
    )
    ap.add_argument("--history-days", type=int, default=28, help="days of history before each window")
    ap.add_argument("--tags", type=int, default=20, help="liked (tagged) papers per subscriber")
    ap.add_argument("--negatives", type=int, default=200, help="implicit negatives for the LR variant")
    ap.add_argument("--min-category", type=int, default=20, help="new papers a category needs")
    ap.add_argument("--min-cluster", type=int, default=10, help="new papers a cross-list cluster needs")
    ap.add_argument("--min-venue", type=int, default=8, help="new papers a venue community needs")
    ap.add_argument("--limit", type=int, default=10, help="papers per digest (precision@limit)")
    ap.add_argument("--draws", type=int, default=3, help="independent draws of the liked papers per interest")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sweep", action="store_true", help="also run paperwire with other constants")
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK, help="model and embedding cache")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--out", type=Path, default=DEFAULT_WORK / "results.md", help="results markdown")
    ap.add_argument("--json", type=Path, help="also write every per-subscriber result as JSON")
    args = ap.parse_args()
    arxiv = args.shared / "data" / "arxiv" / "daily_arxiv_jsonl"
    if not arxiv.is_dir():
        print(f"skipped: {arxiv} not found", file=sys.stderr)
        return 0
    command = "PYTHONPATH=src python bench/digest_quality.py " + " ".join(sys.argv[1:])
    out = run(args)
    from dedup_quality import revision  # bench/ is on the path: this script's folder

    commit = revision()
    head = (
        f"Run {dt.datetime.now().isoformat(timespec='minutes')} at commit {commit}; Python "
        f"{platform.python_version()}, {os.cpu_count()} cores.\n\n"
    )
    text = head + report(out, args, command)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    if args.json:
        args.json.write_text(json.dumps(out, default=dict, indent=1))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
