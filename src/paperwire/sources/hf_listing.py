"""The Hugging Face Papers listing text: two header lines, then title/abstract line pairs.

The first title carries the "Subscribe" button text glued to it. Each file is also an ordered
collection named after the file, so the results page it captured can be shown again as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from paperwire.models import BadRecord, RawRecord
from paperwire.sources.files import DamagedFileError, numbered_lines

HEADER_LINES = (
    "Get trending papers in your email inbox once a day!",
    "Get trending papers in your email inbox!",
)
BUTTON_PREFIX = "Subscribe"
FORMAT = "hf-listing"


def looks_like(head: bytes) -> bool:
    """Whether a file starts like a Hugging Face Papers listing."""
    return head.lstrip(b"\xef\xbb\xbf").startswith(HEADER_LINES[0].encode())


def read(path: Path) -> Iterator[RawRecord | BadRecord]:
    """Yield one record per title/abstract pair, in page order."""
    collection = path.name.split(".")[0]
    body_lines = 0  # non-blank lines after the header: odd ones are titles, even ones abstracts
    title: tuple[int, str | None] = (0, None)
    try:
        for number, data in numbered_lines(path):
            try:
                line: str | None = data.decode("utf-8").lstrip("\ufeff").strip()
            except UnicodeDecodeError as exc:
                yield BadRecord(f"{path}:{number}", f"not UTF-8 text ({exc.reason} at byte {exc.start})")
                line = None
            if line == "" or (body_lines == 0 and line in HEADER_LINES):
                continue
            body_lines += 1
            if body_lines % 2 == 1:
                if body_lines == 1 and line and line.startswith(BUTTON_PREFIX) and line != BUTTON_PREFIX:
                    line = line[len(BUTTON_PREFIX) :]
                title = (number, line)
                continue
            if title[1] is None or line is None:
                continue  # half of the pair was unreadable and is reported already
            yield RawRecord(
                source=FORMAT,
                location=f"{path}:{title[0]}",
                title=title[1],
                abstract=line,
                collection=(collection, body_lines // 2),
            )
    except DamagedFileError as exc:
        yield BadRecord(exc.location, exc.reason)
        return
    if body_lines % 2 == 1:
        yield BadRecord(f"{path}:{title[0]}", "a title without an abstract line at the end of the file")
