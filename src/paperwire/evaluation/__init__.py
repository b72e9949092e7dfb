"""Retrieval evaluation: test collections, trec_eval-style metrics, a reference BM25, a runner."""

from paperwire.evaluation.collections import (
    COLLECTIONS,
    EvalCollection,
    EvalDoc,
    doc_id_for,
    load_collection,
    paper_id_for,
    to_raw_records,
    write_corpus_jsonl,
)
from paperwire.evaluation.metrics import (
    System,
    average_precision,
    evaluate,
    format_table,
    format_trec_run,
    ndcg_at_k,
    recall_at_k,
    reciprocal_rank,
    run_system,
    score_run,
)
from paperwire.evaluation.reference import ReferenceBM25, tokenize

__all__ = [
    "COLLECTIONS",
    "EvalCollection",
    "EvalDoc",
    "ReferenceBM25",
    "System",
    "average_precision",
    "doc_id_for",
    "evaluate",
    "format_table",
    "format_trec_run",
    "load_collection",
    "ndcg_at_k",
    "paper_id_for",
    "recall_at_k",
    "reciprocal_rank",
    "run_system",
    "score_run",
    "to_raw_records",
    "tokenize",
    "write_corpus_jsonl",
]
