"""Retrieval metrics (trec_eval's definitions) and the runner that scores systems on a collection.

A ranking is a list of doc ids, best first; judgements map doc id -> grade, where a grade above 0 is
relevant. As in trec_eval, nDCG's gain is the grade itself (not 2^grade - 1), the discount is
log2(rank + 1), and the ideal ranking is built from every judged document of the query, whether or
not any system retrieved it. Means are taken over the queries with at least one relevant document;
a query a system returns nothing for counts as 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence

from paperwire.evaluation.collections import EvalCollection

__all__ = [
    "METRICS",
    "System",
    "average_precision",
    "evaluate",
    "format_table",
    "format_trec_run",
    "ndcg_at_k",
    "recall_at_k",
    "reciprocal_rank",
    "run_system",
    "score_run",
]

Ranking = Sequence[str]
Judgements = Mapping[str, int]
# a search to evaluate: (query text, how many results) -> doc ids, best first
System = Callable[[str, int], list[str]]
Run = Mapping[str, Ranking]

METRICS = ("nDCG@{k}", "recall@{depth}", "MRR", "MAP@{depth}")


def _dcg(gains: Iterable[float]) -> float:
    return sum(gain / math.log2(rank + 1) for rank, gain in enumerate(gains, start=1))


def ndcg_at_k(ranking: Ranking, judgements: Judgements, k: int) -> float:
    """nDCG@k with graded gains; 0 when the query has no relevant document."""
    ideal = _dcg(sorted((g for g in judgements.values() if g > 0), reverse=True)[:k])
    if ideal == 0:
        return 0.0
    return _dcg(max(judgements.get(doc, 0), 0) for doc in _unique(ranking)[:k]) / ideal


def recall_at_k(ranking: Ranking, judgements: Judgements, k: int) -> float:
    """Share of the relevant documents found in the first k."""
    relevant = {doc for doc, grade in judgements.items() if grade > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(_unique(ranking)[:k])) / len(relevant)


def reciprocal_rank(ranking: Ranking, judgements: Judgements) -> float:
    """1 / the rank of the first relevant document; 0 when none is retrieved."""
    for rank, doc in enumerate(_unique(ranking), start=1):
        if judgements.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


def average_precision(ranking: Ranking, judgements: Judgements) -> float:
    """Mean of the precision at each relevant document retrieved, over all relevant documents."""
    relevant = sum(1 for grade in judgements.values() if grade > 0)
    if relevant == 0:
        return 0.0
    found, total = 0, 0.0
    for rank, doc in enumerate(_unique(ranking), start=1):
        if judgements.get(doc, 0) > 0:
            found += 1
            total += found / rank
    return total / relevant


def _unique(ranking: Ranking) -> list[str]:
    # a doc listed twice counts once, where it first appears (trec_eval rejects such runs outright)
    return list(dict.fromkeys(ranking))


def score_run(run: Run, qrels: Mapping[str, Judgements], k: int = 10, depth: int = 100) -> dict[str, float]:
    """Mean nDCG@k, recall@depth, MRR and MAP@depth of a run (query id -> ranking)."""
    judged = [q for q, grades in qrels.items() if any(g > 0 for g in grades.values())]
    names = [m.format(k=k, depth=depth) for m in METRICS]
    if not judged:
        return dict.fromkeys(names, 0.0)
    sums = dict.fromkeys(names, 0.0)
    for query_id in judged:
        ranking, grades = list(run.get(query_id, ()))[:depth], qrels[query_id]
        values = (
            ndcg_at_k(ranking, grades, k),
            recall_at_k(ranking, grades, depth),
            reciprocal_rank(ranking, grades),
            average_precision(ranking, grades),
        )
        for name, value in zip(names, values, strict=True):
            sums[name] += value
    return {name: total / len(judged) for name, total in sums.items()}


def run_system(collection: EvalCollection, system: System, depth: int = 100) -> dict[str, list[str]]:
    """Ask a system for the first ``depth`` results of every judged query of the collection."""
    return {
        query_id: system(collection.queries[query_id], depth)
        for query_id in collection.queries
        if query_id in collection.qrels
    }


def evaluate(
    collection: EvalCollection, systems: Mapping[str, System], k: int = 10, depth: int = 100
) -> dict[str, dict[str, float]]:
    """System name -> metric name -> mean value, for every system on one collection."""
    return {
        name: score_run(run_system(collection, system, max(k, depth)), collection.qrels, k, depth)
        for name, system in systems.items()
    }


def format_table(results: Mapping[str, Mapping[str, float]], title: str | None = None) -> str:
    """A Markdown table: one row per system, one column per metric, three decimals."""
    metrics = list(dict.fromkeys(m for values in results.values() for m in values))
    lines = [f"**{title}**", ""] if title else []
    lines.append("| system | " + " | ".join(metrics) + " |")
    lines.append("|---|" + "---:|" * len(metrics))
    for name, values in results.items():
        cells = [f"{values[m]:.3f}" if m in values else "" for m in metrics]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def format_trec_run(run: Run, tag: str) -> str:
    """A run in TREC format (``qid Q0 docid rank score tag``), for trec_eval and friends.

    Scores are made up from the ranks (higher is better), since trec_eval orders by score alone.
    """
    lines = []
    for query_id, ranking in run.items():
        unique = _unique(ranking)
        for rank, doc in enumerate(unique, start=1):
            lines.append(f"{query_id} Q0 {doc} {rank} {len(unique) - rank + 1} {tag}")
    return "\n".join(lines) + ("\n" if lines else "")
