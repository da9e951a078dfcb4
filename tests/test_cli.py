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
from tests.support.corpora import smallest_mailbox, standard_mailbox

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
    # The config asks the registry which kinds exist; neither loads a connector's module.
    assert loaded == ["mailclean.connectors.base", "mailclean.connectors.registry"]


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
    from tests.ews import EwsServer

    with EwsServer(credentials=("MAIRIE\\agent", "s3cr3t")) as server:
        server.seed(smallest_mailbox())
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
    dovecot.reset_user("user1")
    dovecot.seed("user1", standard_mailbox())
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

    monkeypatch.setenv("TEST_PW", "Zq8-not-it")
    result = run("sync", code=1)
    assert "refused the login of user1" in result.output
    assert "Traceback" not in result.output and "Zq8-not-it" not in result.output
    # Words, not the server's bytes, and where to look (issue 14.6).
    assert "b'" not in result.output and "AUTHENTICATIONFAILED" not in result.output
    assert "user name or the password is wrong" in result.output
    assert "environment variable TEST_PW" in result.output


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


def test_still_in_trash_after_the_trash_was_emptied_once(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Issue 14.1: emptying a Trash that held messages mailclean did not put there left
    deletes without an origin, and `NOT IN` a list holding NULL reported everything trashed
    afterwards as "0 Bytes still in the Trash"."""
    run("demo", "--messages", "200", "--dir", str(tmp_path / "d"), "--json")
    before = {f["name"]: f for f in json.loads(run("stats", "--json").output)["folders"]}
    assert before["Trash"]["messages"] > 0  # the demo's Trash holds mail of its own
    run("clean", "--folder", "Trash", "--action", "delete", "--yes", "--json")
    done = json.loads(run("clean", "--rule", "newsletters", "--yes", "--json").output)
    assert done["messages"] > 0
    trash = {f["name"]: f for f in json.loads(run("stats", "--json").output)["folders"]}["Trash"]
    freed = json.loads(run("freed", "--json").output)
    assert (freed["still_in_trash_messages"], freed["still_in_trash_bytes"]) == (
        trash["messages"], trash["bytes"]) == (done["messages"], done["bytes"])
    assert freed["trashed_bytes"] == freed["still_in_trash_bytes"]
    assert freed["left_trash_messages"] == freed["deleted_from_trash_messages"] == 0


def _imap_account(run, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch, user: str = "user1",  # type: ignore[no-untyped-def]
                  password: str = "secret1") -> None:
    monkeypatch.setenv("TEST_PW", password)
    run("account", "add", "work", "--imap", dovecot.host, "--port", str(dovecot.port),
        "--user", user, "--security", "none", "--password-env", "TEST_PW")


def test_what_a_first_time_user_trips_on(run, tmp_path: Path, dovecot: Dovecot,  # type: ignore[no-untyped-def]
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 14.4 and 14.10: hints and options agree, every command says what it did."""
    dovecot.reset_user("user1")
    dovecot.seed("user1", standard_mailbox())
    _imap_account(run, dovecot, monkeypatch)
    tested = run("account", "test").output
    assert "login OK" in tested and "Trash" in tested and "Archives" in tested  # lists them
    run("sync")
    stats = json.loads(run("stats", "--json").output)
    assert stats["quota"]["reported"] is True and stats["quota"]["checked_at"]
    done = json.loads(run("clean", "--rule", "newsletters", "--yes", "--json").output)
    dry = run("undo", str(done["id"]), "--dry-run").output
    assert f"mailclean undo {done['id']} --yes" in dry
    undone = json.loads(run("undo", str(done["id"]), "--yes", "--json").output)
    assert undone["state"] == "done"
    assert json.loads(run("journal", "--json").output)[0]["state"] == "undone"
    assert "already done" in run("journal", "resume", str(undone["id"]), "--yes").output
    nothing = run("clean", "--sender", "nobody@nowhere.example", code=4)
    assert "Nothing matches" in nothing.output and "Dry run" not in nothing.output
    assert json.loads(run("clean", "--sender", "nobody@nowhere.example", "--json",
                          code=4).output)["messages"] == 0
    paths = json.loads(run("config", "path", "--json").output)
    assert paths["config"] == str(tmp_path / "config.toml")
    assert paths["index"] == str(tmp_path / "index.db")
    assert str(tmp_path / "config.toml") in "".join(run("--help").output.split())


def test_changes_since_the_dry_run_are_said(run, dovecot: Dovecot,  # type: ignore[no-untyped-def]
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 13.7: the plan is made again from the server's state, and what changed since
    the dry run is said."""
    dovecot.reset_user("user1")
    dovecot.seed("user1", standard_mailbox())
    _imap_account(run, dovecot, monkeypatch)
    run("sync")
    dry = json.loads(run("clean", "--rule", "newsletters", "--folder", "INBOX",
                         "--json").output)
    assert dry["messages"] > 5
    client = dovecot.client("user1")
    try:
        client.select_folder("INBOX")
        newsletters = [u for u in client.search(["HEADER", "List-Id", ""])][:3]
        client.add_flags(newsletters, [b"\\Deleted"])
        client.expunge()
    finally:
        client.logout()
    result = run("clean", "--rule", "newsletters", "--folder", "INBOX", "--yes")
    assert "3 messages are gone or changed on the server since the dry run" in result.output
    assert f"Moved {dry['messages'] - 3} messages" in result.output


def test_the_password_is_never_echoed_and_accents_work(run, dovecot: Dovecot,  # type: ignore[no-untyped-def]
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 13.12: a password with accents logs in (AUTHENTICATE PLAIN carries UTF-8);
    LOGIN could not send it and failed with a traceback."""
    from tests.dovecot import User

    dovecot.add_users(User("accent", "pässwörd-é"))
    dovecot.reset_user("accent")
    _imap_account(run, dovecot, monkeypatch, user="accent", password="pässwörd-é")
    assert "login OK" in run("account", "test").output
    monkeypatch.setenv("TEST_PW", "pässwörd-faux")
    failed = run("account", "test", code=1)
    assert "user name or the password is wrong" in failed.output
    assert "faux" not in failed.output and "Traceback" not in failed.output


def test_the_wrong_tls_mode_says_what_to_try(run, dovecot: Dovecot,  # type: ignore[no-untyped-def]
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 14.6: --security ssl against a plain-text port names the fix, not OpenSSL's
    WRONG_VERSION_NUMBER."""
    monkeypatch.setenv("TEST_PW", "secret1")
    run("account", "add", "work", "--imap", dovecot.host, "--port", str(dovecot.port),
        "--user", "user1", "--password-env", "TEST_PW")
    result = run("account", "test", code=1)
    assert "does not speak TLS on this port" in result.output and "starttls" in result.output
    assert "WRONG_VERSION_NUMBER" not in result.output


HOSTILE = "[/bold] \x1b[2J\x1b]52;c;ZXZpbA==\x07 \u202egnp.exe [accounts]"


def test_hostile_text_never_reaches_the_terminal(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Issue 13.11: subjects, folders and rule names with markup or terminal escapes are
    printed literally, without their control characters, and never crash a command."""
    root = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True)
        (root / ".[x]" / sub).mkdir(parents=True)
        (root / ".Trash" / sub).mkdir(parents=True)
    subject = HOSTILE.encode()
    raw = (b"From: =?utf-8?q?=1B[2J?= <news@example.org>\r\nTo: me@example.org\r\n"
           b"Subject: " + subject + b"\r\nMessage-ID: <h@example.org>\r\n"
           b"List-Id: <hostile.example>\r\nList-Unsubscribe: <mailto:u@example.org>\r\n"
           b"\r\nbody\r\n")
    (root / "cur" / "1.hostile:2,S").write_bytes(raw)
    (root / ".[x]" / "cur" / "2.hostile:2,S").write_bytes(raw.replace(b"<h@", b"<h2@"))
    (tmp_path / "rules.toml").write_text(
        '[rules."[/x]"]\ntype = "bulk"\ntitle = "[/bold] \\u001b[31m"\n')
    run("account", "add", "demo", "--maildir", str(root))
    outputs = [run("sync").output, run("stats").output, run("scan").output,
               run("senders").output, run("explain", "<h@example.org>").output,
               run("rules", "list").output, run("rules", "show", "[/x]").output,
               run("sync", "--folder", "[x]").output,
               run("clean", "--folder", "[x]").output,
               run("sync", "--folder", "[nope]", code=1).output]
    for text in outputs:
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text, text
    assert "[/bold]" in outputs[4] and "[accounts]" in outputs[4]
    assert "[/x]" in outputs[5] and "[x]" in outputs[8]
    assert "[nope]" in outputs[9]


def test_senders_name_threads_by_their_subject(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Issue 14.7: a conversation is shown by its subject, not by its internal key."""
    run("demo", "--messages", "300", "--dir", str(tmp_path / "d"), "--json")
    rows = json.loads(run("senders", "--rule", "old-threads", "--json", "--limit", "5").output)
    assert rows and all(r["label"] != r["group"] for r in rows)
    text = run("senders", "--rule", "old-threads", "--limit", "5").output
    assert all(r["group"] not in text for r in rows)
    assert rows[0]["label"][:20] in text


def test_explain_says_why_not(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Issue 14.10: for a message no rule flags, each rule says the condition it misses."""
    run("demo", "--messages", "200", "--dir", str(tmp_path / "d"), "--json")
    import sqlite3

    db = sqlite3.connect(tmp_path / "index.db")
    (mid,) = db.execute("SELECT id FROM messages WHERE flagged = 0 AND id NOT IN"
                        " (SELECT message_id FROM hits) LIMIT 1").fetchone()
    rules = json.loads(run("rules", "list", "--json").output)
    enabled = [r["name"] for r in rules if r["enabled"]]
    data = json.loads(run("explain", str(mid), "--json").output)
    (item,) = data["messages"]
    assert not item["hits"] and sorted(m["rule"] for m in item["misses"]) == sorted(enabled)
    assert all(m["why_not"] for m in item["misses"])
    text = run("explain", str(mid)).output
    assert text.count("◦ not ") == len(enabled)
