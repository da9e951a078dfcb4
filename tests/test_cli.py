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
    ctx = click.Context(group)
    for name in group.list_commands(ctx):  # groups loaded on use included
        command = group.get_command(ctx, name)
        names.append(f"{prefix}{name}")
        if isinstance(command, click.Group):
            names.extend(all_commands(command, f"{prefix}{name} "))
    return names


@pytest.mark.parametrize("command", all_commands(cli))
def test_every_command_has_help_and_is_documented(run, command: str) -> None:  # type: ignore[no-untyped-def]
    result = run(*command.split(), "--help")
    assert "Usage:" in result.output
    assert f"mailclean {command}" in README.read_text(), f"document `mailclean {command}`"


def test_the_command_loads_only_what_every_command_needs() -> None:
    """Start-up counts (`scan --json` on a scanned index answers in under half a second):
    loading the command pulls in no protocol library, no snapshot runner, no action code
    and no app; the commands that need them load them."""
    import subprocess
    import sys

    code = ("import sys, mailclean.cli; print(' '.join(sorted(m for m in sys.modules if"
            " m.split('.')[0] in ('imapclient', 'imaplib', 'exchangelib', 'textual')"
            " or m.startswith(('mailclean.snapshot', 'mailclean.actions', 'mailclean.tui',"
            " 'mailclean.connectors.', 'mailclean.sync')))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.split()
    assert loaded == ["mailclean.connectors.base"]


def test_accounts_round_trip(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run(
        "account",
        "add",
        "work",
        "--imap",
        "mail.example.org",
        "--user",
        "jdupont",
        "--password-env",
        "MAIL_PW",
    )
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


def test_exchange_account_round_trip(run, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from mailclean import config as cfg
    from mailclean import mailgen
    from tests.ews import EwsServer

    with EwsServer(credentials=("MAIRIE\\agent", "s3cr3t")) as server:
        server.seed(mailgen.generate(7, messages=120))
        run(
            "account", "add", "work", "--ews", server.url, "--email", server.email,
            "--user", "MAIRIE\\agent", "--auth", "basic", "--password-env", "MC_EWS_PW",
        )
        run(
            "account", "add", "cloud", "--ews", "autodiscover", "--user", "j.dupont@example.org",
            "--auth", "oauth2", "--client-id", "app", "--tenant-id", "tenant",
            "--password-env", "MC_APP_SECRET",
        )
        listed = json.loads(run("account", "list", "--json").output)
        assert [(a["name"], a["kind"], a["user"]) for a in listed] == [
            ("cloud", "ews", "j.dupont@example.org"),
            ("work", "ews", "MAIRIE\\agent"),
        ]
        config = cfg.load(tmp_path / "config.toml")
        assert config.account("work") == cfg.AccountConfig(
            name="work", kind="ews", ews_url=server.url, email=server.email,
            user="MAIRIE\\agent", auth="basic", password="env", password_env="MC_EWS_PW",
        )
        cloud = config.account("cloud")
        assert (cloud.ews_url, cloud.email, cloud.auth) == (
            "autodiscover", "j.dupont@example.org", "oauth2"
        )
        assert "s3cr3t" not in (tmp_path / "config.toml").read_text()
        monkeypatch.setenv("MC_EWS_PW", "wrong")
        assert "refused the login" in run("account", "test", "work", code=1).output
        monkeypatch.setenv("MC_EWS_PW", "s3cr3t")
        folders = len(server.store.mail_folders())
        assert f"work: login OK, {folders} folders" in run("account", "test", "work").output
        run("sync", "work")
        stats = json.loads(run("stats", "work", "--json").output)
        assert stats["messages"] == 120
    # Without @ in the login, the mailbox address must be given.
    result = run("account", "add", "x", "--ews", "autodiscover", "--user", "MAIRIE\\x", code=1)
    assert "'email' (the mailbox address) is missing" in result.output
    result = run("account", "add", "x", "--ews", "https://m.example.org/EWS/Exchange.asmx",
                 "--imap", "m.example.org", code=1)
    assert "--ews URL" in result.output


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
    run(
        "account",
        "add",
        "work",
        "--imap",
        dovecot.host,
        "--port",
        str(dovecot.port),
        "--user",
        "user1",
        "--security",
        "none",
        "--password-env",
        "TEST_PW",
    )
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
    report = json.loads(
        run("demo", "--messages", "150", "--dir", str(tmp_path / "d"), "--json").output
    )
    assert report["account"] == "demo"
    assert report["new"] == report["messages"] >= 150
    assert report["folders"] >= 9
    stats = json.loads(run("stats", "demo", "--json").output)
    assert stats["messages"] == report["messages"]
    assert stats["attachment_bytes"] > 0


def test_scan_senders_explain_rules(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("demo", "--messages", "200", "--dir", str(tmp_path / "d"), "--json")
    scanned = json.loads(run("scan", "--json").output)
    for key in (
        "account",
        "total_messages",
        "total_bytes",
        "reclaimable_messages",
        "reclaimable_bytes",
        "rules",
    ):
        assert key in scanned
    assert {r["rule"] for r in scanned["rules"]} == {
        "large-attachments",
        "old-threads",
        "newsletters",
        "notifications",
        "duplicates",
        "trash-and-junk",
        "sent-attachments",
    }
    assert 0 < scanned["reclaimable_bytes"] <= scanned["total_bytes"]
    again = json.loads(run("scan", "--json").output)
    assert again["cached"] is True and again["reclaimable_bytes"] == scanned["reclaimable_bytes"]
    only = json.loads(run("scan", "--rule", "newsletters", "--json").output)
    news = next(r for r in scanned["rules"] if r["rule"] == "newsletters")
    assert only["reclaimable_bytes"] == news["bytes"]
    csv_lines = run("scan", "--csv").output.splitlines()
    assert csv_lines[0] == "rule,messages,bytes,share" and csv_lines[-1].startswith("reclaimable,")
    text = run("scan").output
    assert "Newsletters and mailing" in text and "Reclaimable" in text
    assert "Lettres d’information" in run("--lang", "fr", "scan").output.replace("\n", " ")

    senders = json.loads(run("senders", "--rule", "newsletters", "--json").output)
    assert senders and set(senders[0]) >= {"group", "messages", "bytes", "unsubscribe"}
    assert (
        sum(
            s["bytes"]
            for s in json.loads(
                run("senders", "--rule", "newsletters", "--limit", "0", "--json").output
            )
        )
        == news["bytes"]
    )

    import sqlite3

    db = sqlite3.connect(tmp_path / "index.db")
    (flagged_hit,) = db.execute(
        "SELECT h.message_id FROM hits h WHERE h.rule = 'newsletters' LIMIT 1"
    ).fetchone()
    (starred,) = db.execute("SELECT id FROM messages WHERE flagged = 1 LIMIT 1").fetchone()
    db.close()
    explained = json.loads(run("explain", "demo", str(flagged_hit), "--json").output)
    hit = explained["messages"][0]["hits"][0]
    assert hit["rule"] in {"newsletters", "old-threads", "notifications"} and hit["reason"]
    assert "protected" in run("explain", str(starred)).output
    assert "no message" in run("explain", "999999", code=1).output

    assert "newsletters" in run("rules", "list").output
    assert "5.0 MB" in run("rules", "show", "large-attachments").output
    good = tmp_path / "ok.toml"
    good.write_text("[rules.mine]\ntype = 'folder-role'\nroles = ['archive']\n")
    assert "OK (8 rules, 1 of them new)" in run("rules", "check", str(good)).output
    bad = tmp_path / "bad.toml"
    bad.write_text("[rules.newsletters]\nplatforms = 'x'\n")
    result = run("rules", "check", str(bad), code=1)
    assert "rule 'newsletters', key 'platforms'" in result.output
    result = run("scan", "--rules", str(bad), code=1)
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert "unknown or disabled rule 'nope'" in run("scan", "--rule", "nope", code=1).output


def test_damaged_index_is_one_line(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    run("demo", "--messages", "150", "--dir", str(tmp_path / "d"), "--json")
    db = sqlite3.connect(tmp_path / "index.db")
    db.execute("DROP TABLE scans")
    db.commit()
    db.close()
    result = run("scan", code=1)
    assert "cannot be used" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("command", [("stats",), ("scan",), ("senders",), ("explain", "1")])
def test_unsynced_account_is_one_line(run, tmp_path: Path, command: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    run("account", "add", "x", "--maildir", str(tmp_path / "M"))
    result = run(*command, code=1)
    assert "has not been synced yet: run 'mailclean sync x'" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_one_message_is_singular_in_english_and_french(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Cleaning exactly one message says "1 message", never "1 messages", in both languages;
    in French the server's Trash folder is named after "la corbeille"."""
    run("demo", "--messages", "200", "--dir", str(tmp_path / "d"), "--json")
    senders = json.loads(run("senders", "--rule", "notifications", "--limit", "0", "--json").output)
    singles = [("clean", "--rule", "notifications", "--sender", s["group"])
               for s in senders if s["messages"] == 1]
    # A sender of one message that is not in the Trash already: exactly one to move.
    args = next(a for a in singles if json.loads(run(*a, "--json").output)["messages"] == 1)
    english = run(*args).output
    assert re.search(r"^Move 1 message \(.+\) to Trash\.$", english, re.M), english
    french = run("--lang", "fr", *args).output
    assert re.search(r"^Mettre 1 message \(.+ ko\) dans la corbeille \(Trash\)\.$", french,
                     re.M), french
    done = run("--lang", "fr", *args, "--yes").output
    assert re.search(r" : 1 message \(.+\) mis dans la corbeille \(Trash\)\.$", done, re.M), done
    assert "1 message (" in run("--lang", "fr", "freed").output
    assert "1 message (" in run("freed").output
    for text in (english, french, done):
        assert "1 messages" not in text


def test_clean_journal_undo_freed_on_the_demo(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("demo", "--messages", "200", "--dir", str(tmp_path / "d"), "--json")
    senders = json.loads(run("senders", "--rule", "newsletters", "--json").output)
    group = senders[0]["group"]
    dry = json.loads(run("clean", "--rule", "newsletters", "--sender", group, "--json").output)
    # What already sits in the Trash is not moved again, and is said so.
    assert dry["dry_run"]
    assert dry["messages"] + dry["already_in_target"] == senders[0]["messages"]
    assert dry["frees_server_space_now"] is False
    text = run("clean", "--rule", "newsletters", "--sender", group).output
    assert "frees nothing on the server until the Trash is emptied" in text
    assert "Dry run" in text
    done = json.loads(run("clean", "--rule", "newsletters", "--sender", group, "--yes",
                          "--json").output)
    assert done["state"] == "done" and done["messages"] == dry["messages"]
    assert done["bytes"] == dry["bytes"]
    journal = run("journal").output
    assert "to Trash" in journal and "done" in journal
    assert json.loads(run("journal", "list", "--json").output)[0]["id"] == done["id"]
    assert "no interrupted action" in run("journal", "reconcile").output
    freed = json.loads(run("freed", "--json").output)
    assert freed["trashed_bytes"] == dry["bytes"] and freed["freed_on_server_bytes"] == 0
    assert "still in the Trash" in run("freed").output
    undone = json.loads(run("undo", str(done["id"]), "--json").output)
    assert undone["kind"] == "undo" and undone["messages"] == dry["messages"]
    assert json.loads(run("freed", "--json").output)["trashed_bytes"] == 0
    assert "already undone" in run("undo", str(done["id"]), code=1).output
    # Errors are one line, never a trace.
    assert "say what to clean" in run("clean", "--yes", code=1).output
    assert "no action 999" in run("undo", "999", code=1).output
    assert "not an age" in run("clean", "--older-than", "soon", code=2).output
