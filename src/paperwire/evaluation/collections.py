"""Test collections for retrieval evaluation: CACM, Cranfield (SMART format) and SciFact (BEIR layout).

Every loader returns the same shape: documents, query texts, and graded judgements where a higher
grade means more relevant and 0 means judged not relevant.

- CACM: 3,204 documents (title ``.T``, abstract ``.W``; many have a title only), 64 queries of which
  52 have judgements (binary, grade 1).
- Cranfield: 1,400 documents (``.T``, ``.W``), 225 queries. ``cran.qry`` numbers its queries 001, 002,
  004, ... but ``cranqrel`` numbers them 1..225 by position in the file, so query ids here are those
  positions. ``cranqrel`` codes are Cleverdon's scale, 1 (complete answer) to 4 (minimum interest),
  where 5 (no interest) never occurs; they become grades ``5 - code`` (1 -> 4, ..., 4 -> 1). Every
  query also has exactly one line with code -1, which no scale defines: it is kept as a judged,
  non-relevant document (grade 0).
  Documents 471 and 995 are empty and left out of ``docs``; 995's judgement stays (as trec_eval
  would count it), so no run reaches full recall on query 125.
- SciFact: the BEIR corpus and queries with the *training* judgements (``qrels/train.tsv``) only;
  queries without a training judgement are left out. The test judgements are never read.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from paperwire.errors import InputError
from paperwire.models import RawRecord

__all__ = [
    "COLLECTIONS",
    "EvalCollection",
    "EvalDoc",
    "doc_id_for",
    "load_collection",
    "paper_id_for",
    "to_raw_records",
    "write_corpus_jsonl",
]

COLLECTIONS = ("cacm", "cranfield", "scifact")
Qrels = dict[str, dict[str, int]]


@dataclass(frozen=True)
class EvalDoc:
    """One document of a test collection."""

    id: str
    title: str
    text: str


@dataclass
class EvalCollection:
    """Documents, queries (id -> text) and judgements (query id -> doc id -> grade, higher is better)."""

    name: str
    docs: list[EvalDoc]
    queries: dict[str, str]
    qrels: Qrels


def load_collection(name: str, root: Path) -> EvalCollection:
    """Load one of COLLECTIONS from ``root``, the folder holding cacm/, cranfield/ and scifact/."""
    loaders = {"cacm": _load_cacm, "cranfield": _load_cranfield, "scifact": _load_scifact}
    loader = loaders.get(name)
    if loader is None:
        raise InputError(f"unknown test collection {name!r}", hint=f"choose one of: {', '.join(COLLECTIONS)}")
    try:
        collection = loader(Path(root))
    except (ValueError, KeyError) as exc:  # a non-numeric id, a JSON line without its key, ...
        raise InputError(
            f"cannot read the {name} test collection under {root}: {exc!r}",
            hint="the files look damaged; compare them with the collection's SOURCE.md",
        ) from exc
    # judgements of queries the files give no text for cannot be run
    qrels = {q: grades for q, grades in collection.qrels.items() if q in collection.queries}
    return replace(collection, qrels=qrels)


# ---------------------------------------------------------------------------------------------------
# ids in a paperwire store


def paper_id_for(collection: str, doc_id: str) -> str:
    """The id paperwire stores a collection's document under ("cacm:1410"), as BEIR corpora get."""
    return f"{collection}:{doc_id}"


def doc_id_for(collection: str, paper_id: str) -> str | None:
    """The collection's document id for a stored paper id; None for a paper from anywhere else."""
    prefix = f"{collection}:"
    return paper_id[len(prefix) :] if paper_id.startswith(prefix) else None


def to_raw_records(collection: EvalCollection) -> Iterator[RawRecord]:
    """The documents as the records the BEIR JSON-lines reader would yield for them."""
    for doc in collection.docs:
        source_id = paper_id_for(collection.name, doc.id)
        yield RawRecord(
            source="beir", location=source_id, source_id=source_id, title=doc.title, abstract=doc.text
        )


def write_corpus_jsonl(collection: EvalCollection, folder: Path) -> Path:
    """Write ``folder/<name>/corpus.jsonl`` in BEIR layout, ready for ``paperwire ingest``.

    The JSON-lines reader names BEIR ids after the folder holding corpus.jsonl, so the papers it
    stores get exactly the ids of paper_id_for().
    """
    target = Path(folder) / collection.name / "corpus.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8") as out:
        for doc in collection.docs:
            line = {"_id": doc.id, "title": doc.title, "text": doc.text}
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    return target


# ---------------------------------------------------------------------------------------------------
# loaders


def _require(root: Path, name: str, *files: str) -> list[Path]:
    paths = [root / name / f for f in files]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise InputError(
            f"{name} test collection not found: looked for {', '.join(missing)}",
            hint="give the data folder that holds cacm/, cranfield/ and scifact/ (e.g. ../shared/data)",
        )
    return paths


_FIELD = re.compile(r"\.([A-Z])(?: +(\S+))?\s*")


def _smart(path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """(.I value, {field letter: text}) per record of a SMART-format file; text joined to one line."""
    record_id: str | None = None
    fields: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        m = _FIELD.fullmatch(line)
        if m is None:
            if current is not None:
                current.append(line)
            continue
        letter, value = m.groups()
        if letter == "I":
            if record_id is not None:
                yield record_id, _joined(fields)
            if value is None:
                raise InputError(f"{path}: '.I' line without a number", hint="the file looks damaged")
            record_id, fields, current = value, {}, None
        else:
            current = fields.setdefault(letter, [])
    if record_id is not None:
        yield record_id, _joined(fields)


def _joined(fields: dict[str, list[str]]) -> dict[str, str]:
    return {letter: " ".join(" ".join(lines).split()) for letter, lines in fields.items()}


def _number(value: str) -> str:
    """'01' -> '1': SMART files pad some ids with zeros, others not."""
    return str(int(value))


def _smart_docs(path: Path) -> list[EvalDoc]:
    docs = (EvalDoc(id=_number(i), title=f.get("T", ""), text=f.get("W", "")) for i, f in _smart(path))
    # Cranfield 471 and 995 are empty: nothing can find them and a store refuses them
    return [doc for doc in docs if doc.title or doc.text]


def _load_cacm(root: Path) -> EvalCollection:
    docs_path, queries_path, qrels_path = _require(root, "cacm", "cacm.all", "query.text", "qrels.text")
    queries = {_number(i): f.get("W", "") for i, f in _smart(queries_path)}
    qrels: Qrels = {}
    for line in qrels_path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 2:
            qrels.setdefault(_number(parts[0]), {})[_number(parts[1])] = 1
    return EvalCollection("cacm", _smart_docs(docs_path), queries, qrels)


def _cranfield_grade(code: int) -> int:
    # Cleverdon: 1 = complete answer ... 4 = minimum interest, 5 = no interest; -1 is undefined
    return 5 - code if 1 <= code <= 4 else 0


def _load_cranfield(root: Path) -> EvalCollection:
    docs_path, queries_path, qrels_path = _require(root, "cranfield", "cran.all.1400", "cran.qry", "cranqrel")
    queries = {str(n): f.get("W", "") for n, (_, f) in enumerate(_smart(queries_path), start=1)}
    qrels: Qrels = {}
    for line in qrels_path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 3:
            grades = qrels.setdefault(_number(parts[0]), {})
            doc_id, grade = _number(parts[1]), _cranfield_grade(int(parts[2]))
            grades[doc_id] = max(grades.get(doc_id, 0), grade)
    return EvalCollection("cranfield", _smart_docs(docs_path), queries, qrels)


def _load_scifact(root: Path) -> EvalCollection:
    corpus_path, queries_path, qrels_path = _require(
        root, "scifact", "corpus.jsonl", "queries.jsonl", "qrels/train.tsv"
    )
    qrels: Qrels = {}
    with qrels_path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    docs = [
        EvalDoc(id=str(obj["_id"]), title=obj.get("title") or "", text=obj.get("text") or "")
        for obj in _json_lines(corpus_path)
    ]
    queries: dict[str, str] = {}
    for obj in _json_lines(queries_path):
        # BEIR writes "_id"; the copy here writes "query_id"
        query_id = str(obj["_id"] if "_id" in obj else obj["query_id"])
        if query_id in qrels:
            queries[query_id] = obj["text"]
    return EvalCollection("scifact", docs, queries, qrels)


def _json_lines(path: Path) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)
