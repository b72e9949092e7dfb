"""`paperwire digest subscribe | run | preview` and `paperwire daily`, with a loopback OAI-PMH server
and a loopback SMTP server: the one cron line harvests, indexes and sends."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from typer.testing import CliRunner

from mail_server import MailServer
from paperwire.cli import app
from paperwire.config import load_settings
from paperwire.digest.service import Digests
from paperwire.library import Library
from replay_server import ReplayServer, Reply

FIXTURES = Path(__file__).parent / "fixtures" / "oai"
SECRET = "cli-test-secret-key-0123456789"


@pytest.fixture
def oai() -> Iterator[ReplayServer]:
    with ReplayServer() as replay:
        replay.route("/oai?verb=ListRecords&metadataPrefix=arXiv", Reply.file(FIXTURES / "list_page1.xml"))
        replay.route("/oai?verb=ListRecords&resumptionToken=tok-2", Reply.file(FIXTURES / "list_page2.xml"))
        replay.route("/oai?verb=ListRecords&resumptionToken=tok-3", Reply.file(FIXTURES / "list_page3.xml"))
        yield replay


def environment(mail: MailServer, oai: ReplayServer) -> dict[str, str]:
    return {
        "PAPERWIRE_EMBEDDINGS": "false", "PAPERWIRE_DEMO_CORPUS": "false", "PAPERWIRE_SECRET_KEY": SECRET,
        "PAPERWIRE_SMTP_HOST": "127.0.0.1", "PAPERWIRE_SMTP_PORT": str(mail.port),
        "PAPERWIRE_SMTP_SECURITY": "plain", "PAPERWIRE_OAI_URL": oai.url("/oai"),
        "PAPERWIRE_HTTP_RETRIES": "0", "PAPERWIRE_BASE_URL": "http://paperwire.test",
    }  # fmt: skip


def test_subscribe_then_one_daily_run_harvests_indexes_and_sends(
    tmp_path: Path, mail: MailServer, oai: ReplayServer
) -> None:
    runner, env, data = CliRunner(), environment(mail, oai), ["--data-dir", str(tmp_path / "d")]
    subscribed = runner.invoke(app, [*data, "digest", "subscribe", "ada@example.org", "--topic", "compilers",
                                     "--hour", "0"], env=env)  # fmt: skip
    assert subscribed.exit_code == 0, subscribed.output
    confirmation = mail.mailbox.to("ada@example.org")[-1].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    token = parse_qs(urlsplit(re.search(r"http://paperwire.test/confirm\?\S+", confirmation).group(0)).query)  # type: ignore[union-attr]
    settings = load_settings(data_dir=tmp_path / "d", embeddings=False, secret_key=SECRET)
    with Library(settings) as library:
        Digests(library).confirm(token["token"][0])

    daily = runner.invoke(app, [*data, "daily", "--set", "cs", "--json"], env=env)
    assert daily.exit_code == 0, daily.output
    report = json.loads(daily.stdout[daily.stdout.rindex("{\n") :])
    assert (report["composed"], report["sent"]) == (1, 1)
    digest = mail.mailbox.to("ada@example.org")[-1]
    text = digest.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    picked, _, trending = text.partition("Trending in all categories")
    assert "Compilers Considered Helpful" in picked and "Debugging by Moth Removal" not in picked
    assert "Debugging by Moth Removal" in trending
    assert 'matches your topic "compilers"' in text

    again = runner.invoke(app, [*data, "digest", "run", "--dry-run", "--json"], env=env)
    assert json.loads(again.stdout)["already_done"] == 1 and json.loads(again.stdout)["would_send"] == 0
    preview = runner.invoke(app, [*data, "digest", "preview", "ada@example.org"], env=env)
    assert preview.exit_code == 0 and "nothing to send" in preview.stdout  # every match was sent already
    unknown = runner.invoke(app, [*data, "digest", "preview", "bob@example.org"], env=env)
    assert unknown.exit_code == 1 and "not subscribed" in unknown.output


def test_bad_options_say_what_to_do(tmp_path: Path, mail: MailServer, oai: ReplayServer) -> None:
    runner, env, data = CliRunner(), environment(mail, oai), ["--data-dir", str(tmp_path / "d")]
    at = runner.invoke(app, [*data, "digest", "run", "--at", "yesterday"], env=env)
    assert at.exit_code == 1 and "ISO 8601" in at.output
    bad = runner.invoke(
        app, [*data, "digest", "subscribe", "ada@example.org", "--timezone", "Mars/Base"], env=env
    )
    assert bad.exit_code == 1 and "time zone name such as Europe/Paris" in bad.output
    assert mail.mailbox.raw == []


def test_reported_bounces_disable_an_address(tmp_path: Path, mail: MailServer, oai: ReplayServer) -> None:
    runner, env, data = CliRunner(), environment(mail, oai), ["--data-dir", str(tmp_path / "d")]
    assert (
        runner.invoke(
            app, [*data, "digest", "subscribe", "ada@example.org", "--topic", "x"], env=env
        ).exit_code
        == 0
    )
    outputs = [
        runner.invoke(app, [*data, "digest", "bounced", "ada@example.org"], env=env).output for _ in range(3)
    ]
    assert "recorded" in outputs[0] and "disabled" in " ".join(outputs[2].split())
    unknown = runner.invoke(app, [*data, "digest", "bounced", "bob@example.org"], env=env)
    assert unknown.exit_code == 1 and "not subscribed" in unknown.output
