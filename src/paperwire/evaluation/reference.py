"""A reference BM25 (bm25s, Lucene variant) tokenised exactly as Tantivy's built-in "en_stem" field.

paperwire's keyword index is Tantivy; the reference scores the same tokens with an independent BM25
implementation, so a gap between the two on a test collection points at the index, not at the words.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import tantivy

from paperwire.errors import ConfigError
from paperwire.evaluation.collections import EvalDoc

__all__ = ["K1", "B", "ReferenceBM25", "analyzer", "tokenize"]

K1 = 1.2
B = 0.75
# Tantivy's RemoveLongFilter keeps tokens shorter than this many UTF-8 bytes (so at most 39)
MAX_TOKEN_BYTES = 40


@functools.cache
def analyzer() -> tantivy.TextAnalyzer:
    """Tantivy's "en_stem" analyser, rebuilt from the same parts Tantivy registers it with.

    SimpleTokenizer (splits on every char that is not alphanumeric in Unicode's sense), then
    RemoveLongFilter(40), LowerCaser, and the Snowball English (Porter 2) stemmer.
    """
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(MAX_TOKEN_BYTES))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


def tokenize(text: str) -> list[str]:
    """The terms Tantivy's "en_stem" field indexes for ``text``, in order, repeats kept."""
    return list(analyzer().analyze(text))


def flat_text(doc: EvalDoc) -> str:
    """What the reference indexes for a document: title and text as one field."""
    return f"{doc.title} {doc.text}"


class ReferenceBM25:
    """BM25 (k1=1.2, b=0.75, Lucene's idf and length normalisation) over title + text."""

    def __init__(self, docs: Sequence[EvalDoc]) -> None:
        try:
            import bm25s  # a development dependency: imported only when a reference is wanted
        except ImportError as exc:
            raise ConfigError(
                "the reference BM25 needs the bm25s package", hint="pip install 'paperwire[dev]'"
            ) from exc
        self.ids = [doc.id for doc in docs]
        # float64: fewer exact ties than float32, so rankings depend less on tie-breaking
        self.model = bm25s.BM25(k1=K1, b=B, method="lucene", dtype="float64")
        self.model.index([tokenize(flat_text(doc)) for doc in docs], show_progress=False)

    def scores(self, query: str) -> np.ndarray:
        """The BM25 score of every document for ``query`` (0 where no query term occurs)."""
        terms = self.model.get_tokens_ids(tokenize(query))
        if not terms:
            return np.zeros(len(self.ids))
        return np.asarray(self.model.get_scores(terms), dtype=np.float64)

    def search(self, query: str, k: int) -> list[str]:
        """Ids of the ``k`` best documents with a positive score; ties go to the earlier document."""
        scores = self.scores(query)
        matching = np.flatnonzero(scores > 0)
        # lexsort sorts by the last key first: score descending, then position ascending
        order = matching[np.lexsort((matching, -scores[matching]))]
        return [self.ids[i] for i in order[:k]]
