"""arXiv OAI-PMH: saved responses (ListRecords, GetRecord) and the incremental harvester.

Both arXiv metadata formats are read: ``arXiv`` (authors split into keyname/forenames, created and
updated dates) and ``arXivRaw`` (every version with its date, authors as one string). Pages are parsed
with ``iterparse`` and each record is freed once read, so memory stays flat whatever the page size.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import IO, Any

import httpx
from lxml import etree

from paperwire.errors import InputError, RemoteError
from paperwire.models import BadRecord, RawRecord
from paperwire.sources.files import DAMAGED, open_binary
from paperwire.sources.http import HttpOptions, display_url, fetch
from paperwire.sources.jsonl import rfc2822_to_iso
from paperwire.sources.xml import ScanInfo, scan

FORMAT = "oai-pmh"
OAI = "{http://www.openarchives.org/OAI/2.0/}"
ARXIV = "{http://arxiv.org/OAI/arXiv/}"
ARXIV_RAW = "{http://arxiv.org/OAI/arXivRaw/}"
PREFIXES = ("arXiv", "arXivRaw")
# OAI-PMH error codes caused by what we asked for: the fix is on our side.
REQUEST_ERRORS = frozenset(
    {
        "badArgument",
        "badVerb",
        "cannotDisseminateFormat",
        "idDoesNotExist",
        "noSetHierarchy",
        "noMetadataFormats",
    }
)
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}Z)?$")
VERSION = re.compile(r"^v?(\d+)$")
NAME_SUFFIX = re.compile(r"^(jr|sr|ii|iii|iv)\.?$", re.IGNORECASE)
AUTHOR_SEPARATOR = re.compile(r"\s*,\s*(?:and\s+)?|\s+and\s+|\s*;\s*")


class BadResumptionTokenError(RemoteError):
    """The server no longer knows a resumption token (they expire); restart the list."""


@dataclass(slots=True)
class HarvestCursor:
    """Where an incremental harvest stands; saved after each page's records are stored."""

    from_date: str | None  # the list in progress started here (None: from the beginning)
    resumption_token: str | None  # the next page of the list in progress, None when between lists
    until: str | None = None  # the list in progress ends here (None: open-ended)
    started: str | None = None  # date of the first response of the list in progress

    def to_dict(self) -> dict[str, str | None]:
        """The cursor as a JSON-ready dict."""
        return {
            "from_date": self.from_date,
            "resumption_token": self.resumption_token,
            "until": self.until,
            "started": self.started,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HarvestCursor:
        """A cursor from to_dict()'s output; raises InputError when it is not one."""
        values: dict[str, str | None] = {}
        for key in ("from_date", "resumption_token", "until", "started"):
            value = data.get(key)
            if value is not None and not isinstance(value, str):
                raise InputError(
                    f"saved harvest cursor has a non-string {key!r}: {value!r}",
                    hint="reset the harvest cursor of this source",
                )
            values[key] = value
        return cls(**values)


@dataclass(slots=True)
class HarvestPage:
    """One page of a harvest: its records, and the cursor to save once they are stored."""

    records: list[RawRecord | BadRecord]
    cursor: HarvestCursor
    url: str
    complete: bool  # the last page of the list: cursor.from_date is where the next harvest starts
    deleted: list[str] = field(default_factory=list)  # arXiv ids the server reports deleted


@dataclass(slots=True)
class _PageInfo(ScanInfo):
    """What a response says besides its records, filled in while the records are read."""

    response_date: str | None = None
    token: str | None = None  # None: no resumptionToken element; "": the list is complete
    error: tuple[str, str] | None = None  # (code, message)
    deleted: list[str] = field(default_factory=list)


def looks_like(head: bytes) -> bool:
    """Whether a file starts like an OAI-PMH response."""
    return b"<OAI-PMH" in head and b"openarchives.org/OAI/2.0" in head


def read(path: Path) -> Iterator[RawRecord | BadRecord]:
    """Yield the records of a saved OAI-PMH response; never raises on malformed content."""
    info = _PageInfo()
    try:
        with open_binary(path) as source:
            yield from _scan(source, str(path), info)
    except (OSError, *DAMAGED) as exc:  # unreadable, or a corrupt/truncated .gz
        yield BadRecord(str(path), f"cannot read the file: {getattr(exc, 'strerror', None) or exc}")
        return
    if info.error is not None and info.error[0] != "noRecordsMatch":
        code, message = info.error
        yield BadRecord(str(path), f"OAI-PMH error {code}: {message}")
    elif info.root is not None and info.root != f"{OAI}OAI-PMH" and info.malformed is None:
        yield BadRecord(str(path), f"not an OAI-PMH response (root element {info.root})")


@dataclass(slots=True)
class OaiPage:
    """One parsed response page."""

    records: list[RawRecord | BadRecord]
    response_date: str | None
    resumption_token: str | None  # None or "" when the list is complete
    deleted: list[str]


def parse_page(data: bytes, location: str) -> OaiPage:
    """Parse one response page; raises BadResumptionTokenError, InputError or RemoteError on errors."""
    info = _PageInfo()
    records = list(_scan(BytesIO(data), location, info))
    if info.malformed is not None:
        raise RemoteError(f"{location} returned malformed XML ({info.malformed})", hint="try again later")
    if info.root != f"{OAI}OAI-PMH":
        raise RemoteError(
            f"{location} did not return an OAI-PMH response (root element {info.root})",
            hint="check PAPERWIRE_OAI_URL",
        )
    if info.error is not None:
        code, message = info.error
        if code == "badResumptionToken":
            raise BadResumptionTokenError(f"{location}: OAI-PMH error {code}: {message}")
        if code in REQUEST_ERRORS:
            raise InputError(
                f"{location}: OAI-PMH error {code}: {message}",
                hint="check the set, the metadata prefix and the dates of the harvest",
            )
        if code != "noRecordsMatch":
            raise RemoteError(f"{location}: OAI-PMH error {code}: {message}", hint="try again later")
    return OaiPage(records, info.response_date, info.token, info.deleted)


def harvest(
    base_url: str,
    options: HttpOptions,
    *,
    metadata_prefix: str = "arXiv",
    set_spec: str | None = None,
    cursor: HarvestCursor | None = None,
    until: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    client: httpx.Client | None = None,
) -> Generator[HarvestPage, None, None]:
    """ListRecords page by page from the cursor; save each page's cursor once its records are stored.

    Resumes from the cursor's resumption token when it has one (restarting from its from_date
    if the token has expired); a resumed list keeps the until it was started with. Bad arguments
    raise InputError at once, before any request.
    """
    if metadata_prefix not in PREFIXES:
        raise InputError(f"unsupported metadata prefix {metadata_prefix!r}", hint="use 'arXiv' or 'arXivRaw'")
    cursor = cursor or HarvestCursor(None, None)
    if cursor.resumption_token:
        until = cursor.until  # the list in progress was asked for with this until
    _check_date("from_date", cursor.from_date)
    _check_date("until", until)
    first = {"verb": "ListRecords", "metadataPrefix": metadata_prefix}
    for key, value in (("from", cursor.from_date), ("until", until), ("set", set_spec)):
        if value:
            first[key] = value
    return _harvest(base_url, options, first, cursor, until, sleep, client)


def _harvest(
    base_url: str,
    options: HttpOptions,
    first: dict[str, str],
    cursor: HarvestCursor,
    until: str | None,
    sleep: Callable[[float], None],
    client: httpx.Client | None,
) -> Generator[HarvestPage, None, None]:
    token = cursor.resumption_token or None
    # A cursor saved without `started` falls back to its from_date: harvesting twice beats missing.
    started = (cursor.started or cursor.from_date) if token else None
    restarted = False
    http = client or httpx.Client(follow_redirects=True)
    try:
        while True:
            params = {"verb": "ListRecords", "resumptionToken": token} if token else first
            url = display_url(base_url, params)
            try:
                page = parse_page(fetch(base_url, options, params=params, sleep=sleep, client=http), url)
            except BadResumptionTokenError:
                if token is None or restarted:
                    raise
                token, restarted = None, True  # expired: list again from from_date
                continue
            started = started or _day(page.response_date) or _fallback_day(cursor.from_date)
            token = page.resumption_token or None
            if token:
                after = HarvestCursor(cursor.from_date, token, until, started)
            else:
                after = HarvestCursor(until or started, None)
            yield HarvestPage(page.records, after, url, complete=token is None, deleted=page.deleted)
            if token is None:
                return
    finally:
        if client is None:
            http.close()


def _check_date(name: str, value: str | None) -> None:
    if value is not None and not DATE.match(value):
        raise InputError(
            f"harvest {name} {value!r} is not a date", hint="use YYYY-MM-DD (UTC), e.g. 2024-05-01"
        )


def _day(response_date: str | None) -> str | None:
    """The UTC day of a responseDate ('2024-05-02T10:00:00Z' -> '2024-05-02')."""
    if response_date and re.match(r"^\d{4}-\d{2}-\d{2}", response_date.strip()):
        return response_date.strip()[:10]
    return None


def _fallback_day(from_date: str | None) -> str:
    """Where the next harvest starts when the server sent no responseDate: nothing may be missed."""
    if from_date:
        return from_date[:10]
    return (datetime.now(UTC) - timedelta(days=1)).date().isoformat()


def _scan(source: IO[bytes], location: str, info: _PageInfo) -> Iterator[RawRecord | BadRecord]:
    """Yield the records of one response as they are parsed, noting the rest in info."""

    def note(elem: etree._Element) -> None:
        if elem.tag == f"{OAI}responseDate":
            info.response_date = (elem.text or "").strip() or None
        elif elem.tag == f"{OAI}resumptionToken":
            info.token = (elem.text or "").strip()
        elif elem.tag == f"{OAI}error":
            info.error = (elem.get("code") or "unknown", " ".join((elem.text or "").split()))

    yield from scan(
        source,
        location,
        info,
        item_tag=f"{OAI}record",
        noun=("record", "records"),
        read_item=lambda elem, where: _record(elem, where, info),
        note=note,
    )


def _record(elem: etree._Element, location: str, info: _PageInfo) -> RawRecord | BadRecord | None:
    header = elem.find(f"{OAI}header")
    identifier = (header.findtext(f"{OAI}identifier") or "").strip() if header is not None else ""
    if header is not None and header.get("status") == "deleted":
        info.deleted.append(identifier.rsplit(":", 1)[-1])
        return None
    metadata = elem.find(f"{OAI}metadata")
    content = metadata[0] if metadata is not None and len(metadata) else None
    if content is None:
        return BadRecord(location, f"record {identifier or '(no identifier)'} has no metadata")
    if content.tag not in (f"{ARXIV}arXiv", f"{ARXIV_RAW}arXivRaw"):
        return BadRecord(
            location,
            f"unsupported metadata format {content.tag}; harvest with metadataPrefix arXiv or arXivRaw",
        )
    ns = ARXIV if content.tag == f"{ARXIV}arXiv" else ARXIV_RAW
    source_id = _text(content, ns, "id")
    title = _text(content, ns, "title")
    if not source_id or not title:
        missing = " and ".join(name for name, v in (("<id>", source_id), ("<title>", title)) if not v)
        return BadRecord(location, f"record {identifier or '(no identifier)'} has no {missing}")
    record = RawRecord(
        source=FORMAT,
        location=location,
        source_id=source_id,
        title=title,
        abstract=_text(content, ns, "abstract") or "",
        categories=(_text(content, ns, "categories") or "").split(),
        comment=_text(content, ns, "comments"),
        journal_ref=_text(content, ns, "journal-ref"),
        doi=_text(content, ns, "doi"),
        links={"abs": f"https://arxiv.org/abs/{source_id}", "pdf": f"https://arxiv.org/pdf/{source_id}"},
    )
    if ns == ARXIV:
        record.authors = [_arxiv_author(a) for a in content.iterfind(f"{ns}authors/{ns}author")]
        record.authors = [name for name in record.authors if name]
        record.published = _text(content, ns, "created")
        record.updated = _text(content, ns, "updated")
        record.versions = [(1, record.published)] if record.published else []
    else:
        record.authors = split_authors(_text(content, ns, "authors") or "")
        record.versions = _raw_versions(content)
        dated = sorted((n, d) for n, d in record.versions if d)
        record.published = next((d for n, d in dated if n == 1), None)
        record.updated = dated[-1][1] if dated and dated[-1][0] > 1 else None
    return record


def _text(parent: etree._Element, ns: str, name: str) -> str | None:
    value = parent.findtext(f"{ns}{name}")
    return value.strip() or None if value is not None else None


def _arxiv_author(author: etree._Element) -> str:
    parts = (author.findtext(f"{ARXIV}{name}") for name in ("forenames", "keyname", "suffix"))
    return " ".join(" ".join(part.split()) for part in parts if part and part.strip())


def _raw_versions(content: etree._Element) -> list[tuple[int, str | None]]:
    versions = []
    for version in content.iterfind(f"{ARXIV_RAW}version"):
        label = VERSION.match((version.get("version") or "").strip())
        if label is not None:
            versions.append((int(label.group(1)), rfc2822_to_iso(version.findtext(f"{ARXIV_RAW}date"))))
    return versions


def split_authors(text: str) -> list[str]:
    """Split an arXivRaw author string ('A, B and C (MIT)') into names, dropping affiliations."""
    names: list[str] = []
    depth, current = 0, []
    # Separators count only outside parentheses, which hold affiliations like "(1) MIT, (2) CMU".
    for piece in re.split(r"([()])", " ".join(text.split())):
        if piece == "(":
            depth += 1
        elif piece == ")":
            depth = max(0, depth - 1)
        elif depth == 0:
            current.append(piece)
    # An unbalanced parenthesis means they are not affiliations: split the text as it is.
    for name in AUTHOR_SEPARATOR.split("".join(current) if depth == 0 else " ".join(text.split())):
        name = " ".join(name.split()).strip(" ,;")
        if name.lower().startswith("and "):
            name = name[4:]
        if not name:
            continue
        if names and NAME_SUFFIX.match(name):
            names[-1] = f"{names[-1]} {name}"
        else:
            names.append(name)
    return names
