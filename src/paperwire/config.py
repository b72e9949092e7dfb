"""Settings: every knob with a default and help text, built once and passed down.

Precedence, highest first: explicit overrides (CLI options), environment variables with the
``PAPERWIRE_`` prefix, the TOML file named by ``PAPERWIRE_CONFIG`` (or ``--config``), defaults.
"""

from __future__ import annotations

import os
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from paperwire.errors import ConfigError

# Secret values refused in production (compared lowercased).
PLACEHOLDERS = frozenset({"changeme", "change-me", "secret", "password", "placeholder", "admin", "token"})
# The TOML file of the settings being built; a context variable so load_settings needs no globals.
_config_file: ContextVar[Path | None] = ContextVar("paperwire_config_file", default=None)


def default_data_dir() -> Path:
    """The per-user data directory: $XDG_DATA_HOME/paperwire, else ~/.local/share/paperwire."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "paperwire"


class Settings(BaseSettings):
    """All of paperwire's settings."""

    model_config = SettingsConfigDict(env_prefix="PAPERWIRE_", extra="forbid")

    environment: Literal["development", "production"] = Field(
        "development", description="'production' refuses placeholder secrets and unsafe defaults."
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Directory holding the database and the indexes.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the database; default: SQLite file paperwire.db in data_dir.",
    )
    ingest_batch_size: int = Field(
        2000, ge=1, le=100_000, description="Records written per transaction while ingesting."
    )
    ingest_processes: int = Field(
        0,
        ge=0,
        le=16,
        description="Processes reading and normalising a large ingest of local files while the main "
        "one writes (each reads all of the input and normalises its share of the batches); 0: two "
        "where the cores are not all busy (load average below their number), else one. URLs get one.",
    )
    dedup_threshold: float = Field(
        0.6,
        gt=0,
        le=1,
        description="Estimated Jaccard similarity of abstract shingles above which two papers "
        "without a shared id are grouped as near-duplicates.",
    )
    demo_corpus: bool = Field(
        True, description="Import the bundled demo corpus into an empty data directory on first run."
    )
    title_boost: float = Field(
        0.2, ge=0, le=10, description="Weight of a title-only BM25 added to the title+abstract BM25."
    )
    fusion: Literal["convex", "rrf"] = Field(
        "convex",
        description="How keyword and semantic hits combine: 'convex' (α·cosine + (1-α)·BM25/top BM25) "
        "or 'rrf' (reciprocal rank fusion).",
    )
    embeddings: bool = Field(
        True, description="Embed papers for semantic search; off means keyword-only search."
    )
    embedding_model: str | None = Field(
        None, description="Local path or model id of a sentence-transformers model; default: bundled MiniLM."
    )
    embedding_backend: Literal["onnx-int8", "torch"] = Field(
        "onnx-int8", description="'onnx-int8': quantised ONNX Runtime (fast on CPU); 'torch': plain fp32."
    )
    models_dir: Path | None = Field(
        None, description="Where converted (ONNX) models are cached; default: models/ in data_dir."
    )
    embedding_batch_size: int = Field(32, ge=1, le=4096, description="Texts embedded per model call.")
    oai_url: str = Field(
        "https://export.arxiv.org/oai2", description="Base URL of the arXiv OAI-PMH endpoint."
    )
    http_timeout: float = Field(30.0, gt=0, description="Seconds before a remote request times out.")
    http_retries: int = Field(
        5, ge=0, le=20, description="Retries of a remote request that timed out or got 5xx/429."
    )
    http_max_wait: float = Field(
        600.0,
        ge=0,
        description="Longest wait in seconds honoured from a Retry-After header; longer waits fail.",
    )
    http_user_agent: str = Field(
        "paperwire/0.1 (+https://github.com/paperwire/paperwire)",
        description="User-Agent sent to remote sources.",
    )
    admin_token: SecretStr | None = Field(
        None,
        description="Bearer token for the web admin endpoints (ingest, reindex); unset turns them off.",
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Key that signs the web forms' CSRF tokens; default: a random key kept in "
        "data_dir/web-secret (shared by every worker on the machine).",
    )
    search_rate: float = Field(
        2.0, gt=0, description="Searches per second one client IP may sustain (pages, API and feeds)."
    )
    search_burst: int = Field(
        30, ge=1, description="Searches one client IP may make at once before search_rate applies."
    )
    max_request_bytes: int = Field(
        10_000_000, ge=1024, description="Largest request body the web service accepts, in bytes."
    )

    base_url: str = Field(
        "http://127.0.0.1:8000",
        pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$",
        description="Public address of the web service, used for the links in emails and feeds.",
    )
    mail_from: str = Field(
        "paperwire <digest@localhost>", min_length=3, description="From address of every email sent."
    )
    smtp_host: str | None = Field(
        None,
        description="SMTP server that sends the emails; unset: each email is written as an .eml file "
        "to data_dir/mail instead (for trying paperwire out).",
    )
    smtp_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="SMTP port; default: 465 with 'ssl', 587 with 'starttls', 25 otherwise.",
    )
    smtp_security: Literal["starttls", "ssl", "plain"] = Field(
        "starttls",
        description="'starttls' (upgrade after connecting), 'ssl' (TLS from the start) or 'plain'.",
    )
    smtp_ca_file: Path | None = Field(
        None,
        description="PEM file of the certificate authority that signed the SMTP server's certificate "
        "(a server with a private CA); unset: the system's trusted authorities.",
    )
    smtp_username: str | None = Field(None, description="SMTP login name; unset: no login.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    smtp_timeout: float = Field(
        30.0, gt=0, description="Seconds before an SMTP connection or reply times out."
    )
    smtp_retries: int = Field(
        3, ge=0, le=20, description="Retries within one digest run while the SMTP server is unreachable."
    )
    smtp_backoff: float = Field(
        2.0, ge=0, description="Seconds before the first retry; each further retry waits twice as long."
    )
    digest_max_failures: int = Field(
        3, ge=1, description="Permanent delivery failures (5xx, bounces) after which an address is disabled."
    )
    digest_scheduler: bool = Field(
        False, description="Run the digest every few minutes inside `paperwire serve` (instead of cron)."
    )

    @model_validator(mode="after")
    def _no_placeholder_secrets(self) -> Settings:
        if self.environment != "production":
            return self
        for name in ("admin_token", "secret_key"):
            secret: SecretStr | None = getattr(self, name)
            if secret is not None and (
                len(secret.get_secret_value()) < 16 or secret.get_secret_value().lower() in PLACEHOLDERS
            ):
                raise ValueError(
                    f"{name} looks like a placeholder; use at least 16 random characters, e.g. from "
                    "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
                )
        return self

    @property
    def models_folder(self) -> Path:
        """Where exported embedding models are kept: models_dir, else the data directory's models/."""
        return self.models_dir or self.data_dir / "models"

    @property
    def database(self) -> str:
        """The effective database URL."""
        return self.database_url or f"sqlite:///{self.data_dir / 'paperwire.db'}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _config_file.get() or os.environ.get("PAPERWIRE_CONFIG")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings; raises ConfigError naming the offending field on invalid values."""
    named = config_file or (Path(env) if (env := os.environ.get("PAPERWIRE_CONFIG")) else None)
    if named is not None and not named.is_file():
        raise ConfigError(
            f"config file {named} does not exist", hint="check the --config path or PAPERWIRE_CONFIG"
        )
    token = _config_file.set(config_file)
    try:
        return Settings(**{key: value for key, value in overrides.items() if value is not None})
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"config file {named} is not valid TOML: {exc}", hint="fix the TOML syntax"
        ) from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(
            f"invalid settings: {problems}",
            hint="fix the PAPERWIRE_* environment variables or the TOML config file",
        ) from exc
    finally:
        _config_file.reset(token)
