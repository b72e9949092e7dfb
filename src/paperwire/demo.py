"""The bundled demo corpus: the two Hugging Face Papers result pages paperwire is modelled on."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import sqlalchemy as sa

from paperwire.config import Settings
from paperwire.pipeline import IngestReport, ingest
from paperwire.store import schema


def demo_files() -> list[Path]:
    """The demo corpus files shipped inside the package."""
    folder = resources.files("paperwire") / "data" / "demo"
    return sorted(Path(str(entry)) for entry in folder.iterdir() if entry.name.endswith(".txt"))


def ensure_demo(engine: sa.Engine, settings: Settings) -> IngestReport | None:
    """Import the demo corpus when the store holds no paper yet (and settings allow it)."""
    if not settings.demo_corpus:
        return None
    with engine.connect() as conn:
        if conn.execute(sa.select(schema.papers.c.id).limit(1)).first() is not None:
            return None
    return ingest(engine, settings, [str(p) for p in demo_files()])
