"""The keyword index: Tantivy on disk, BM25 over title (boosted), abstract, authors and categories."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import tantivy

from paperwire.errors import ConfigError
from paperwire.search.query import Filters, ParsedQuery, plain_words

# Free words are scored by BM25 on the whole text (title and abstract as one field, as the reference
# BM25 does), plus a smaller BM25 on the title alone (settings.title_boost, 0.2 chosen on the
# development collections: see bench/QUALITY.md) and one on the authors.
AUTHOR_WEIGHT = 1.0
_WORD = re.compile(r"[^\W_]+")  # Tantivy's "simple" tokenizer: runs of alphanumeric characters
_WRITER_HEAP = 64_000_000
STOP_WORDS = frozenset(
    {
        "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "in", "is", "it",
        "its", "of", "on", "or", "that", "the", "this", "to", "was", "we", "were", "which", "with", "our",
        "these", "their", "can", "not", "also", "than", "such", "using", "based", "via", "into", "over",
    }
)  # fmt: skip


Should, Must = tantivy.Occur.Should, tantivy.Occur.Must
Clause = tuple[tantivy.Occur, tantivy.Query]


def _boosted(query: tantivy.Query, weight: float) -> tantivy.Query:
    return query if weight == 1.0 else tantivy.Query.boost_query(query, weight)


def _stemmer() -> tantivy.TextAnalyzer:
    """Tantivy's built-in "en_stem" analyser, rebuilt so Python can run it on query and hit text."""
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


_ANALYZER = _stemmer()


def analyze(text: str) -> list[str]:
    """The terms the index holds for a text (lowercased English stems)."""
    return list(_ANALYZER.analyze(text))


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    terms = _ANALYZER.analyze(word)
    return terms[0] if terms else ""


class TermFinder:
    """Finds the words of texts whose stem is one of some terms, without stemming every word.

    A regex of the terms less their last letter (English stemming rewrites only a word's ending, so
    a word stemming to "studi" starts with "stud") picks candidate words; the stemmer confirms them.
    """

    def __init__(self, terms: Iterable[str]) -> None:
        self.terms = frozenset(terms)
        prefixes = sorted({term[:-1] or term for term in self.terms}, key=len, reverse=True)
        self._candidates = (
            re.compile(rf"(?<![^\W_])(?:{'|'.join(map(re.escape, prefixes))})[^\W_]*", re.IGNORECASE)
            if prefixes
            else None
        )

    def spans(self, text: str) -> list[tuple[int, int]]:
        """(start, end) of every matching word, in order."""
        if self._candidates is None:
            return []
        return [m.span() for m in self._candidates.finditer(text) if _stem(m.group()) in self.terms]

    def found(self, text: str) -> set[str]:
        """The terms that occur in the text."""
        if self._candidates is None:
            return set()
        return {stem for m in self._candidates.finditer(text) if (stem := _stem(m.group())) in self.terms}


def highlight(text: str, terms: TermFinder, max_chars: int | None = None) -> list[tuple[str, bool]]:
    """Split text into (segment, matched) runs, matched where a word's stem is one of the terms.

    With max_chars, keeps the window of about that length holding the most matches (with "…" marks).
    """
    spans = terms.spans(text)
    start, end = 0, len(text)
    if max_chars is not None and len(text) > max_chars:
        start = _best_window(spans, len(text), max_chars)
        end = min(len(text), start + max_chars)
        cut = text.rfind(" ", start, end)
        end = cut if end < len(text) and cut > start else end
    segments: list[tuple[str, bool]] = [("…", False)] if start > 0 else []
    position = start
    for a, b in spans:
        if a < start or b > end:
            continue
        segments += [(text[position:a], False), (text[a:b], True)]
        position = b
    segments.append((text[position:end], False))
    if end < len(text):
        segments.append(("…", False))
    return [(s, matched) for s, matched in segments if s]


def _best_window(spans: list[tuple[int, int]], length: int, width: int) -> int:
    """The start (at a word boundary, before the first match) of the window covering most matches."""
    if not spans:
        return 0
    best, best_count, j = 0, 0, 0
    for i, (a, _) in enumerate(spans):  # spans are in order, so the window's far end only moves on
        j = max(j, i)
        while j < len(spans) and spans[j][1] <= a + width:
            j += 1
        if j - i > best_count:
            best, best_count = a, j - i
    lead = min(best, width // 5)  # a little context before the first match
    return 0 if best - lead <= 0 else max(0, min(best - lead, length - width))


@dataclass(frozen=True)
class KeywordDoc:
    key: int
    paper_id: str
    title: str
    abstract: str
    authors: Sequence[str]
    categories: Sequence[str]
    published: str | None  # ISO date or date-time
    has_code: bool


@dataclass(frozen=True)
class KeywordHit:
    key: int
    score: float


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw")
    builder.add_integer_field("key", stored=True, fast=True, indexed=True)
    builder.add_text_field("title", tokenizer_name="en_stem")
    builder.add_text_field("text", tokenizer_name="en_stem")  # title and abstract
    builder.add_text_field("author", tokenizer_name="default")
    builder.add_text_field("cat", tokenizer_name="lower_raw")
    builder.add_date_field("published", fast=True, indexed=True)
    builder.add_boolean_field("has_code", fast=True, indexed=True)
    return builder.build()


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value[:10])
    except ValueError:
        return None


def category_terms(categories: Iterable[str]) -> list[str]:
    """Indexed category terms: each category lowercased, plus its archive ("cs" for "cs.CV")."""
    terms: list[str] = []
    for category in categories:
        for term in (category.lower(), category.lower().split(".")[0]):
            if term not in terms:
                terms.append(term)
    return terms


class KeywordIndex:
    """A Tantivy index in a directory (one snapshot's: see snapshots.py). A reader sees the commit it
    opened, a writer its own latest commit."""

    def __init__(self, path: Path, title_boost: float = 0.2) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.weights = {"text": 1.0, "title": title_boost}
        self.schema = _schema()
        try:
            self.index = tantivy.Index(self.schema, path=str(path), reuse=True)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"cannot open the keyword index in {path}: {exc}",
                hint="rebuild it with `paperwire reindex`",
            ) from exc
        self.index.register_tokenizer(
            "lower_raw",
            tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.raw()).filter(tantivy.Filter.lowercase()).build(),
        )
        # a published snapshot never changes: no file watcher, reloads only after our own commits
        self.index.config_reader(reload_policy="Manual")
        self._writer: tantivy.IndexWriter | None = None

    # -- writing -------------------------------------------------------------------------------

    def _writer_(self) -> tantivy.IndexWriter:
        if self._writer is None:
            try:
                self._writer = self.index.writer(_WRITER_HEAP, 1)
            except ValueError as exc:
                raise ConfigError(
                    f"the keyword index is locked by another writer: {exc}",
                    hint="wait for the other paperwire ingest or reindex to finish",
                ) from exc
        return self._writer

    def upsert(self, docs: Iterable[KeywordDoc]) -> None:
        """Replace (or add) these papers' documents; visible after commit()."""
        writer = self._writer_()
        for doc in docs:
            writer.delete_documents_by_term("id", doc.paper_id)
            document = tantivy.Document()
            document.add_text("id", doc.paper_id)
            document.add_integer("key", doc.key)
            document.add_text("title", doc.title)
            document.add_text("text", f"{doc.title}\n{doc.abstract}")
            for author in doc.authors:
                document.add_text("author", author)
            for term in category_terms(doc.categories):
                document.add_text("cat", term)
            if (published := _date(doc.published)) is not None:
                document.add_date("published", published)
            document.add_boolean("has_code", doc.has_code)
            writer.add_document(document)

    def clear(self) -> None:
        self._writer_().delete_all_documents()

    def commit(self) -> None:
        if self._writer is not None:
            self._writer.commit()
            self.index.reload()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.commit()
            self._writer.wait_merging_threads()
            self._writer = None
            self.index.reload()

    # -- reading -------------------------------------------------------------------------------

    def _searcher(self) -> tantivy.Searcher:
        return self.index.searcher()

    def __len__(self) -> int:
        return int(self._searcher().num_docs)

    def query(self, parsed: ParsedQuery) -> tuple[tantivy.Query, str | None]:
        """The Tantivy query (filters aside), and a note when part of it was malformed.

        Free words become one term query per analysed token and field, repeats included, as in
        Lucene's BM25; a phrase adds its phrase match; field terms and exclusions are required.
        """
        required, words, note = self._required(parsed)
        terms = [
            (Should, _boosted(tantivy.Query.term_query(self.schema, field, token), weight))
            for token in analyze(words)
            for field, weight in self.weights.items()
            if weight > 0
        ]
        terms += [
            (Should, _boosted(tantivy.Query.term_query(self.schema, "author", word), AUTHOR_WEIGHT))
            for word in _WORD.findall(words.lower())
        ]
        terms += [(Should, self._parse(f'"{phrase}"')) for phrase in parsed.phrases]
        if not required:
            return tantivy.Query.boolean_query(terms), note
        if terms:  # at least one word has to match too: "diffusion author:ho" is not "author:ho"
            required.append((Must, tantivy.Query.boolean_query(terms)))
        return tantivy.Query.boolean_query(required), note

    def _required(self, parsed: ParsedQuery) -> tuple[list[Clause], str, str | None]:
        """Clauses every hit satisfies (field terms, exclusions), the free words, and a note."""
        if not parsed.restrictions:
            return [], parsed.words, None
        try:
            return [(Must, self._parse(f"* {parsed.restrictions}"))], parsed.words, None
        except ValueError as exc:
            note = f"ignored a malformed part of the query ({exc}); searched its words instead"
            return [], f"{parsed.words} {plain_words(parsed.restrictions)}", note

    def _parse(self, query: str) -> tantivy.Query:
        return self.index.parse_query(query, ["text"], conjunction_by_default=True)

    def _filter_clauses(self, filters: Filters) -> list[tuple[tantivy.Occur, tantivy.Query]]:
        clauses: list[tuple[tantivy.Occur, tantivy.Query]] = []
        if filters.since or filters.until:
            clauses.append(
                (
                    tantivy.Occur.Must,
                    tantivy.Query.range_query(
                        self.schema, "published", tantivy.FieldType.Date,
                        _date(filters.since), _date(filters.until),
                    ),
                )
            )  # fmt: skip
        if filters.categories:
            any_category = [  # the index holds "cs.cv" and "cs" for cs.CV, so either form matches
                (tantivy.Occur.Should, tantivy.Query.term_query(self.schema, "cat", category.lower()))
                for category in filters.categories
            ]
            clauses.append((tantivy.Occur.Must, tantivy.Query.boolean_query(any_category)))
        if filters.has_code:
            clauses.append((tantivy.Occur.Must, tantivy.Query.term_query(self.schema, "has_code", True)))
        return clauses

    def search(self, parsed: ParsedQuery, limit: int) -> tuple[list[KeywordHit], str | None]:
        """The best `limit` hits by BM25 that pass the filters, and a note if the query was repaired."""
        if parsed.empty:
            return [], None
        query, note = self.query(parsed)
        clauses = self._filter_clauses(parsed.filters)
        if clauses:
            query = tantivy.Query.boolean_query([(tantivy.Occur.Must, query), *clauses])
        return self._run(query, limit), note

    def keys_matching(self, parsed: ParsedQuery, keys: Sequence[int]) -> set[int]:
        """Which of these keys pass the query's phrases, field terms, exclusions and filters.

        Semantic candidates need not contain the query's words, but they must honour the rest.
        """
        clauses = self._filter_clauses(parsed.filters) + self._required(parsed)[0]
        if not clauses or not keys:
            return set(keys)
        key_set = tantivy.Query.term_set_query(self.schema, "key", list(keys))
        query = tantivy.Query.boolean_query([(tantivy.Occur.Must, key_set), *clauses])
        return {hit.key for hit in self._run(query, len(keys))}

    def similar(self, title: str, abstract: str, limit: int) -> list[KeywordHit]:
        """Papers sharing the most distinctive terms (by tf-idf) of this title and abstract."""
        query = tantivy.Query.more_like_this_document_fields_query(
            self.schema, {"text": [f"{title}\n{abstract}"]},
            min_doc_frequency=1, min_term_frequency=1, max_query_terms=25, stop_words=list(STOP_WORDS),
        )  # fmt: skip
        return self._run(query, limit)

    def distinctive_terms(self, text: str, limit: int = 12) -> set[str]:
        """The text's `limit` terms of highest tf-idf in this index (stop words aside)."""
        counts: dict[str, int] = {}
        for term in analyze(text):
            if term not in STOP_WORDS and not term.isdigit():
                counts[term] = counts.get(term, 0) + 1
        searcher = self._searcher()
        total = max(1, int(searcher.num_docs))

        def weight(term: str) -> float:
            return counts[term] * math.log(1 + total / (1 + searcher.doc_freq("text", term)))

        return set(sorted(counts, key=weight, reverse=True)[:limit])

    def _run(self, query: tantivy.Query, limit: int) -> list[KeywordHit]:
        searcher = self._searcher()
        result = searcher.search(query, limit, count=False)
        if not result.hits:
            return []
        keys = searcher.fast_field_values("key", [address for _, address in result.hits])
        return [
            KeywordHit(int(key), float(score))
            for (score, _), key in zip(result.hits, keys, strict=True)
            if isinstance(key, int)
        ]
