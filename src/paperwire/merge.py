"""Combining two records of the same paper (pure): newer evidence wins, lists and versions unite."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from paperwire.models import Paper, Version


def content_hash(paper: Paper) -> str:
    """Hash of everything stored about a paper except signals and listing dates."""
    payload = {
        "title_raw": paper.title_raw,
        "abstract_raw": paper.abstract_raw,
        "authors": paper.authors,
        "categories": paper.categories,
        "comment": paper.comment,
        "journal_ref": paper.journal_ref,
        "doi": paper.doi,
        "versions": [[v.number, v.date] for v in paper.versions],
        "published": paper.published,
        "updated": paper.updated,
        "links": paper.links,
    }
    return hashlib.blake2b(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS), digest_size=16).hexdigest()


def _recency(paper: Paper) -> tuple[int, str, str, str, str]:
    # the text itself breaks a full tie, so the winner never depends on the order records arrive in
    newest = max((v.number for v in paper.versions), default=0)
    return (newest, paper.updated or "", paper.listed or "", paper.abstract_raw, paper.title_raw)


def _first(*values: Any) -> Any:
    return next((v for v in values if v), values[-1])


def _union(*lists: list[str]) -> list[str]:
    return list(dict.fromkeys(item for items in lists for item in items))


def _merge_versions(a: list[Version], b: list[Version]) -> list[Version]:
    dates: dict[int, str | None] = {}
    for version in [*a, *b]:
        dates[version.number] = dates.get(version.number) or version.date
    return [Version(number, dates[number]) for number in sorted(dates)]


def _merge_links(winner: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    links: dict[str, Any] = {}
    for key in dict.fromkeys([*winner, *other]):
        mine, theirs = winner.get(key), other.get(key)
        if isinstance(mine, list) or isinstance(theirs, list):
            links[key] = _union(mine or [], theirs or [])
        else:
            links[key] = mine or theirs
    return links


def _earliest(*dates: str | None) -> str | None:
    return min((d for d in dates if d), default=None)


def merge(old: Paper, new: Paper) -> Paper:
    """The paper as known after `new` arrives for the same id as `old`.

    Text fields come from the record with newer evidence (a higher version, a later update date, a
    later listing) and fall back to the other where empty.
    """
    winner, other = (old, new) if _recency(old) >= _recency(new) else (new, old)
    merged = Paper(
        id=old.id,
        title=_first(winner.title, other.title),
        title_raw=_first(winner.title_raw, other.title_raw),
        abstract=_first(winner.abstract, other.abstract),
        abstract_raw=_first(winner.abstract_raw, other.abstract_raw),
        authors=_first(winner.authors, other.authors),
        categories=_first(winner.categories, other.categories),
        comment=_first(winner.comment, other.comment),
        journal_ref=_first(winner.journal_ref, other.journal_ref),
        doi=_first(winner.doi, other.doi),
        versions=_merge_versions(old.versions, new.versions),
        published=_earliest(old.published, new.published),
        updated=max((d for d in (old.updated, new.updated) if d), default=None),
        announced=_earliest(old.announced, new.announced),
        listed=winner.listed or other.listed,
        links=_merge_links(winner.links, other.links),
        source=new.source,
        content_hash="",
        signals=new.signals,
        collection=new.collection,
    )
    merged.content_hash = content_hash(merged)
    return merged
