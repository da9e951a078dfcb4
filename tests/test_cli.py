"""The command line: every command documented, JSON outputs, one-line errors, French output."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from mailclean.cli import cli
from tests.dovecot import Dovecot

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Invoke ``mailclean`` with a private config and index."""
    monkeypatch.setenv("MAILCLEAN_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("MAILCLEAN_DB", str(tmp_path / "index.db"))
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> Result:
        result = runner.invoke(cli, list(args), catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result

    return invoke


def all_commands(group: click.Group, prefix: str = "") -> list[str]:
    names = []
    for name, command in group.commands.items():
        names.append(f"{prefix}{name}")
        if isinstance(command, click.Group):
            names.extend(all_commands(command, f"{prefix}{name} "))
    return names


@pytest.mark.parametrize("command", all_commands(cli))
def test_every_command_has_help_and_is_documented(run, command: str) -> None:  # type: ignore[no-untyped-def]
    result = run(*command.split(), "--help")
    assert "Usage:" in result.output
    assert f"mailclean {command}" in README.read_text(), f"document `mailclean {command}`"


def test_accounts_round_trip(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("account", "add", "work", "--imap", "mail.example.org", "--user", "jdupont",
        "--password-env", "MAIL_PW")
    run("account", "add", "local", "--maildir", str(tmp_path / "Maildir"))
    listed = json.loads(run("account", "list", "--json").output)
    assert [a["name"] for a in listed] == ["local", "work"]
    assert listed[1]["server"] == "mail.example.org:993"
    assert listed[1]["password"] == "env"
    text = (tmp_path / "config.toml").read_text()
    assert "MAIL_PW" in text and "password_env" in text
    result = run("account", "add", "work", "--imap", "x", "--user", "y", code=1)
    assert "already exists" in result.output
    run("account", "remove", "local")
    assert [a["name"] for a in json.loads(run("account", "list", "--json").output)] == ["work"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("sync", "nope"), "unknown account 'nope'"),
        (("stats",), "no account is configured yet"),
        (("account", "add", "x"), "give either --imap HOST or --maildir PATH"),
        (("account", "add", "x", "--imap", "h"), "--user is required"),
    ],
)
def test_errors_are_one_line(run, args: tuple[str, ...], message: str) -> None:  # type: ignore[no-untyped-def]
    result = run(*args, code=1)
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_corrupt_config_is_one_line(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "config.toml").write_text("[accounts.work\nkind = 'imap'")
    result = run("stats", code=1)
    assert "is not valid TOML" in result.output and "Traceback" not in result.output


def test_sync_and_stats_against_dovecot(  # type: ignore[no-untyped-def]
    run, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_sync_imap import corpus

    dovecot.reset_user("user1")
    dovecot.seed("user1", corpus())
    monkeypatch.setenv("TEST_PW", "secret1")
    run("account", "add", "work", "--imap", dovecot.host, "--port", str(dovecot.port),
        "--user", "user1", "--security", "none", "--password-env", "TEST_PW")
    report = json.loads(run("sync", "work", "--json").output)
    for key in ("account", "folders", "messages", "bytes", "new", "removed", "seconds"):
        assert key in report
    truth = dovecot.status("user1")
    assert report["messages"] == sum(m for m, _ in truth.values())
    assert report["bytes"] == sum(b for _, b in truth.values())
    stats = json.loads(run("stats", "--json").output)
    assert {f["name"]: (f["messages"], f["bytes"]) for f in stats["folders"]} == truth
    assert stats["quota"]["limit"] == 1024**3
    assert all(set(f) >= {"name", "role", "messages", "bytes"} for f in stats["folders"])
    text = run("stats").output
    assert "INBOX" in text and "Server quota" in text
    french = run("--lang", "fr", "stats").output
    assert "Dossier" in french and "Quota du serveur" in french
    assert re.search(r"\d,\d [kMG]?o", french), french
    summary = run("sync").output
    assert "0 new" in summary

    monkeypatch.setenv("TEST_PW", "wrong")
    result = run("sync", code=1)
    assert "refused the login of user1" in result.output
    assert "Traceback" not in result.output and "wrong" not in result.output


def test_demo_builds_and_indexes(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    report = json.loads(run("demo", "--messages", "150", "--dir", str(tmp_path / "d"),
                            "--json").output)
    assert report["account"] == "demo"
    assert report["new"] == report["messages"] >= 150
    assert report["folders"] >= 9
    stats = json.loads(run("stats", "demo", "--json").output)
    assert stats["messages"] == report["messages"]
    assert stats["attachment_bytes"] > 0
