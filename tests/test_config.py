"""Settings: defaults, PAPERWIRE_ environment variables, TOML files, precedence, clear errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from paperwire.config import Settings, default_data_dir, load_settings
from paperwire.errors import ConfigError, PaperwireError

# settings only: no store is opened, so the SQLite pass alone runs it (conftest.py)
pytestmark = pytest.mark.no_store


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No PAPERWIRE_* variable of the calling shell leaks in; the home directory is a fresh one."""
    for name in list(os.environ):
        if name.startswith("PAPERWIRE_"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def toml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.sqlite_only
def test_defaults(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.environment == "development"
    assert settings.data_dir == tmp_path / "home" / ".local" / "share" / "paperwire"
    assert settings.database_url is None
    assert settings.database == f"sqlite:///{settings.data_dir / 'paperwire.db'}"
    assert settings.ingest_batch_size == 2000
    assert settings.dedup_threshold == 0.6
    assert settings.demo_corpus is True
    assert settings.oai_url == "https://export.arxiv.org/oai2"
    assert settings.http_timeout == 30.0
    assert settings.http_retries == 5
    assert settings.http_max_wait == 600.0
    assert settings.http_user_agent.startswith("paperwire/")


def test_every_setting_is_documented() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description, f"setting {name} has no help text"


def test_default_data_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "xdg" / "paperwire"
    assert load_settings().data_dir == tmp_path / "xdg" / "paperwire"


def test_environment_variables_with_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PAPERWIRE_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("PAPERWIRE_INGEST_BATCH_SIZE", "17")
    monkeypatch.setenv("PAPERWIRE_DEMO_CORPUS", "false")
    monkeypatch.setenv("PAPERWIRE_HTTP_RETRIES", "0")
    monkeypatch.setenv("PAPERWIRE_DATABASE_URL", "sqlite:///elsewhere.db")
    monkeypatch.setenv("INGEST_BATCH_SIZE", "99")  # no prefix: not ours
    settings = load_settings()
    assert settings.data_dir == tmp_path / "d"
    assert settings.ingest_batch_size == 17
    assert settings.demo_corpus is False
    assert settings.http_retries == 0
    assert settings.database == "sqlite:///elsewhere.db"


def test_toml_file_by_argument(tmp_path: Path) -> None:
    config = toml(
        tmp_path / "paperwire.toml",
        f'data_dir = "{tmp_path / "from-toml"}"\ningest_batch_size = 7\ndedup_threshold = 0.75\n'
        'oai_url = "http://127.0.0.1:9/oai2"\n',
    )
    settings = load_settings(config_file=config)
    assert settings.data_dir == tmp_path / "from-toml"
    assert settings.ingest_batch_size == 7
    assert settings.dedup_threshold == 0.75
    assert settings.oai_url == "http://127.0.0.1:9/oai2"
    assert settings.http_retries == 5  # what the file leaves out keeps its default


def test_toml_file_by_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = toml(tmp_path / "c.toml", "ingest_batch_size = 11\n")
    monkeypatch.setenv("PAPERWIRE_CONFIG", str(config))
    assert load_settings().ingest_batch_size == 11


def test_explicit_config_file_wins_over_paperwire_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PAPERWIRE_CONFIG", str(toml(tmp_path / "env.toml", "ingest_batch_size = 11\n")))
    assert (
        load_settings(config_file=toml(tmp_path / "arg.toml", "ingest_batch_size = 22\n")).ingest_batch_size
        == 22
    )


def test_config_file_does_not_stick_to_later_loads(tmp_path: Path) -> None:
    assert (
        load_settings(config_file=toml(tmp_path / "c.toml", "ingest_batch_size = 3\n")).ingest_batch_size == 3
    )
    assert load_settings().ingest_batch_size == 2000


def test_precedence_override_env_toml_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = toml(tmp_path / "c.toml", "ingest_batch_size = 10\nhttp_retries = 1\nhttp_timeout = 4.5\n")
    # default only
    assert load_settings().ingest_batch_size == 2000
    # TOML beats the default
    assert load_settings(config_file=config).ingest_batch_size == 10
    # the environment beats TOML, field by field
    monkeypatch.setenv("PAPERWIRE_INGEST_BATCH_SIZE", "20")
    monkeypatch.setenv("PAPERWIRE_HTTP_RETRIES", "2")
    settings = load_settings(config_file=config)
    assert (settings.ingest_batch_size, settings.http_retries, settings.http_timeout) == (20, 2, 4.5)
    # an explicit override (a CLI option) beats them all
    settings = load_settings(config_file=config, ingest_batch_size=30)
    assert (settings.ingest_batch_size, settings.http_retries, settings.http_timeout) == (30, 2, 4.5)


def test_none_overrides_do_not_mask_lower_levels(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # the CLI passes data_dir=None when --data-dir is not given
    monkeypatch.setenv("PAPERWIRE_DATA_DIR", str(tmp_path / "env"))
    assert load_settings(data_dir=None).data_dir == tmp_path / "env"
    assert load_settings(data_dir=tmp_path / "cli").data_dir == tmp_path / "cli"


def test_unknown_key_in_toml_is_rejected(tmp_path: Path) -> None:
    config = toml(tmp_path / "c.toml", "ingest_batch_size = 10\nbatch_sise = 5\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config_file=config)
    assert "batch_sise" in caught.value.message
    assert caught.value.hint and "TOML" in caught.value.hint


def test_unknown_override_is_rejected() -> None:
    with pytest.raises(ConfigError, match="no_such_setting"):
        load_settings(no_such_setting=1)


@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("PAPERWIRE_INGEST_BATCH_SIZE", "0", "ingest_batch_size"),
        ("PAPERWIRE_INGEST_BATCH_SIZE", "many", "ingest_batch_size"),
        ("PAPERWIRE_DEDUP_THRESHOLD", "1.5", "dedup_threshold"),
        ("PAPERWIRE_HTTP_RETRIES", "-1", "http_retries"),
        ("PAPERWIRE_HTTP_TIMEOUT", "0", "http_timeout"),
        ("PAPERWIRE_ENVIRONMENT", "staging", "environment"),
    ],
)
def test_invalid_values_name_the_setting(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, field: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert field in caught.value.message
    assert caught.value.hint and "PAPERWIRE_" in caught.value.hint
    assert isinstance(caught.value, PaperwireError)


def test_invalid_value_in_toml_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ingest_batch_size"):
        load_settings(config_file=toml(tmp_path / "c.toml", "ingest_batch_size = 0\n"))


def test_missing_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "paperwire.toml"
    with pytest.raises(ConfigError) as caught:
        load_settings(config_file=missing)
    assert str(missing) in caught.value.message
    assert caught.value.hint and "--config" in caught.value.hint


def test_missing_config_file_named_by_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = tmp_path / "typo.toml"
    monkeypatch.setenv("PAPERWIRE_CONFIG", str(missing))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(missing) in caught.value.message


def test_malformed_toml_is_a_config_error(tmp_path: Path) -> None:
    config = toml(tmp_path / "c.toml", "data_dir = [\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config_file=config)
    assert str(config) in caught.value.message or "TOML" in caught.value.message
