"""Reading papers, collections and corpus statistics."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from paperwire.errors import NotFoundError
from paperwire.normalize import parse_arxiv_id
from paperwire.store import schema

PAPER_FIELDS = (
    "id", "title", "title_raw", "abstract", "abstract_raw", "authors", "categories", "comment",
    "journal_ref", "doi", "published", "updated", "announced", "links", "sources", "group_id",
    "first_seen", "changed_at",
)  # fmt: skip


def _stored_key(paper_id: str) -> str:
    """The id a paper is stored under: an arXiv id loses its version and prefix."""
    parsed = parse_arxiv_id(paper_id)
    return parsed[0] if parsed else paper_id.strip()


def _not_found(paper_id: str) -> NotFoundError:
    return NotFoundError(f"no paper with id {paper_id!r}", hint="find ids with `paperwire stats` or search")


def stored_id(conn: sa.Connection, paper_id: str) -> str:
    """The stored id of the paper an id names (arXiv:2101.00001v2 names 2101.00001)."""
    p = schema.papers
    found = conn.execute(sa.select(p.c.id).where(p.c.id == _stored_key(paper_id))).scalar()
    if found is None:
        raise _not_found(paper_id)
    return str(found)


def get_paper(conn: sa.Connection, paper_id: str) -> dict[str, Any]:
    """One paper with its versions, duplicate group, signals and collections."""
    p = schema.papers
    key = _stored_key(paper_id)
    row = conn.execute(sa.select(*(p.c[f] for f in PAPER_FIELDS)).where(p.c.id == key)).first()
    if row is None:
        raise _not_found(paper_id)
    paper = {str(key): value for key, value in row._mapping.items()}
    v = schema.paper_versions
    paper["versions"] = [
        {"number": n, "date": d}
        for n, d in conn.execute(
            sa.select(v.c.number, v.c.date).where(v.c.paper_id == key).order_by(v.c.number)
        )
    ]
    paper["duplicates"] = [
        {"id": i, "title": t}
        for i, t in conn.execute(
            sa.select(p.c.id, p.c.title)
            .where(p.c.group_id == paper["group_id"], p.c.id != key)
            .order_by(p.c.id)
        )
    ]
    s = schema.paper_signals
    paper["signals"] = [
        {"source": src, "observed_on": day, **data}
        for src, day, data in conn.execute(
            sa.select(s.c.source, s.c.observed_on, s.c.data)
            .where(s.c.paper_id == key)
            .order_by(s.c.observed_on)
        )
    ]
    c, ci = schema.collections, schema.collection_items
    paper["collections"] = [
        {"name": name, "position": pos}
        for name, pos in conn.execute(
            sa.select(c.c.name, ci.c.position)
            .join(ci, ci.c.collection_id == c.c.id)
            .where(ci.c.paper_id == key)
        )
    ]
    return paper


def search_source(conn: sa.Connection, paper_id: str) -> tuple[int | None, dict[str, Any]]:
    """A paper's search key (None while it is not indexed) and the id, title, abstract and group
    that finding its related papers needs."""
    p, d = schema.papers, schema.search_docs
    row = conn.execute(
        sa.select(d.c.key, p.c.id, p.c.title, p.c.abstract, p.c.group_id)
        .outerjoin(d, d.c.paper_id == p.c.id)
        .where(p.c.id == _stored_key(paper_id))
    ).first()
    if row is None:
        raise _not_found(paper_id)
    key, *fields = row
    return key, dict(zip(("id", "title", "abstract", "group_id"), fields, strict=True))


CandidateInfo = tuple[str, str, str | None]  # paper id, duplicate group, date

# SQLite prefers the primary key's index to a covering one, so it is named; PostgreSQL picks it itself
_CANDIDATES = """
    SELECT d.key, p.id, p.group_id, COALESCE(p.published, p.announced)
    FROM search_docs AS d JOIN papers AS p {hint} ON p.id = d.paper_id
    WHERE d.key IN :keys
"""


def search_candidates(conn: sa.Connection, keys: list[int]) -> dict[int, CandidateInfo]:
    """(paper id, duplicate group, date) of the papers indexed under these search keys.

    Read from the covering index ix_papers_search: a search asks this of ~200 candidates, whose
    rows (kilobytes each, scattered over a table of gigabytes at 1M papers) it never needs.
    """
    hint = "INDEXED BY ix_papers_search" if conn.dialect.name == "sqlite" else ""
    query = sa.text(_CANDIDATES.format(hint=hint)).bindparams(sa.bindparam("keys", expanding=True))
    rows = conn.execute(query, {"keys": keys}).all()  # one fetch, not a fetch per row
    return {key: (paper_id, group, day) for key, paper_id, group, day in rows}


def collection_items(conn: sa.Connection, name: str) -> list[dict[str, Any]]:
    """The papers of a named collection in their order."""
    c, ci, p = schema.collections, schema.collection_items, schema.papers
    collection_id = conn.execute(sa.select(c.c.id).where(c.c.name == name)).scalar()
    if collection_id is None:
        raise NotFoundError(f"no collection named {name!r}", hint="list them with `paperwire stats`")
    query = (
        sa.select(ci.c.position, p.c.id, p.c.title)
        .join(p, p.c.id == ci.c.paper_id)
        .where(ci.c.collection_id == collection_id)
        .order_by(ci.c.position)
    )
    return [{str(key): value for key, value in row._mapping.items()} for row in conn.execute(query)]


def _grouped(conn: sa.Connection, query: sa.Executable) -> dict[str, int]:
    return {str(key): int(count) for key, count in conn.execute(query)}


def _json_list_counts(conn: sa.Connection, column: str) -> dict[str, int]:
    # JSON arrays expand with json_each on SQLite and json_array_elements_text on PostgreSQL
    each = "json_each" if conn.dialect.name == "sqlite" else "json_array_elements_text"
    return _grouped(
        conn,
        sa.text(
            f"SELECT e.value, count(*) FROM papers, {each}(papers.{column}) AS e "
            "GROUP BY 1 ORDER BY 2 DESC, 1"
        ),
    )


def stats(conn: sa.Connection) -> dict[str, Any]:
    """Counts of papers by source, category and year, duplicate groups, collections."""
    p, ci, c = schema.papers, schema.collection_items, schema.collections
    total = conn.execute(sa.select(sa.func.count()).select_from(p)).scalar_one()
    groups = sa.select(p.c.group_id, sa.func.count().label("n")).group_by(p.c.group_id).subquery()
    multi = conn.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(groups.c.n), 0)).where(groups.c.n > 1)
    ).one()
    year = sa.func.coalesce(sa.func.substr(sa.func.coalesce(p.c.published, p.c.announced), 1, 4), "unknown")
    by_year = _grouped(conn, sa.select(year.label("year"), sa.func.count()).group_by("year").order_by("year"))
    collections = _grouped(
        conn,
        sa.select(c.c.name, sa.func.count(ci.c.position))
        .join(ci, ci.c.collection_id == c.c.id, isouter=True)
        .group_by(c.c.name)
        .order_by(c.c.name),
    )
    return {
        "papers": total,
        "duplicate_groups": multi[0],
        "papers_in_duplicate_groups": int(multi[1]),
        "by_source": _json_list_counts(conn, "sources"),
        "by_category": _json_list_counts(conn, "categories"),
        "by_year": by_year,
        "collections": collections,
    }


def newest_papers(conn: sa.Connection, limit: int, offset: int = 0) -> tuple[int, list[str]]:
    """Ids of the newest papers (undated ones last), one per duplicate group, and how many groups."""
    p = schema.papers
    day = sa.func.coalesce(p.c.published, p.c.announced)
    first_of_group = p.c.id == p.c.group_id
    total = conn.execute(sa.select(sa.func.count()).select_from(p).where(first_of_group)).scalar_one()
    ids = conn.execute(
        sa.select(p.c.id)
        .where(first_of_group)
        .order_by(day.is_(None), day.desc(), p.c.id.desc())
        .limit(limit)
        .offset(offset)
    ).scalars()
    return int(total), list(ids)


def list_collections(conn: sa.Connection) -> list[dict[str, Any]]:
    """Every collection with its source and how many papers it holds, by name."""
    c, ci = schema.collections, schema.collection_items
    query = (
        sa.select(c.c.name, c.c.source, c.c.created_at, sa.func.count(ci.c.position).label("papers"))
        .join(ci, ci.c.collection_id == c.c.id, isouter=True)
        .group_by(c.c.id)
        .order_by(c.c.name)
    )
    return [{str(key): value for key, value in row._mapping.items()} for row in conn.execute(query)]
