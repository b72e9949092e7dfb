"""The instance's signing key, shared by the web forms (CSRF) and the digest's links (tokens)."""

from __future__ import annotations

import secrets
from pathlib import Path

from paperwire.config import Settings


def load_secret(settings: Settings) -> bytes:
    """The signing key: from the settings, else a random key kept in the data directory."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode()
    path = Path(settings.data_dir) / "web-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"web-secret.{secrets.token_hex(4)}.tmp")
        tmp.write_text(secrets.token_urlsafe(32))
        tmp.chmod(0o600)
        tmp.replace(path)  # atomic: two workers starting together end with one key
    return path.read_text().strip().encode()
