"""One path through the house (issue 15): the CLI and the app carry out plans through the
same workflow, so they refuse the same drifted plans and go on with the same reversible
ones, against a real Dovecot."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailclean import actions, wording, workflows
from mailclean import config as cfg
from mailclean.cli import cli
from mailclean.connectors.imap import ImapConnector, ImapSettings
from mailclean.index import Index
from mailclean.progress import Progress
from mailclean.rules import Protection
from mailclean.sync import sync_account
from mailclean.tui import jobs
from tests.dovecot import Dovecot
from tests.support import stop_after_the_first_batch
from tests.support.corpora import standard_mailbox

USER, PASSWORD = "user1", "secret1"


@contextmanager
def _index(path: Path) -> Iterator[Index]:
    index = Index(path)
    try:
        yield index
    finally:
        index.close()


def _connector(dovecot: Dovecot) -> ImapConnector:
    return ImapConnector(ImapSettings(host=dovecot.host, port=dovecot.port, user=USER,
                                      password=PASSWORD, security="none"))


def _trash_a_few(dovecot: Dovecot, n: int = 5) -> None:
    client = dovecot.client(USER)
    try:
        client.select_folder("INBOX")
        client.move(sorted(client.search(["ALL"]))[:n], "Trash")
    finally:
        client.logout()


def _another_client_trashes_one_more(dovecot: Dovecot) -> None:
    client = dovecot.client(USER)
    try:
        client.select_folder("INBOX")
        client.move(sorted(client.search(["ALL"]))[-1:], "Trash")
    finally:
        client.logout()


def _trash_count(dovecot: Dovecot) -> int:
    return dovecot.status(USER).get("Trash", (0, 0))[0]


@pytest.fixture
def mailbox(dovecot: Dovecot, tmp_path: Path) -> Dovecot:
    dovecot.reset_user(USER)
    dovecot.seed(USER, standard_mailbox())
    _trash_a_few(dovecot)
    return dovecot


def _cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dovecot: Dovecot):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MAILCLEAN_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("MAILCLEAN_DB", str(tmp_path / "index.db"))
    monkeypatch.setenv("TEST_PW", PASSWORD)
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(cli, list(args), catch_exceptions=False)
        return result.exit_code, result.output

    assert run("account", "add", "work", "--imap", dovecot.host, "--port",
               str(dovecot.port), "--user", USER, "--security", "none",
               "--password-env", "TEST_PW")[0] == 0
    return run


def _app_context(tmp_path: Path, dovecot: Dovecot) -> jobs.Context:
    account = cfg.AccountConfig(name="work", kind="imap", host=dovecot.host, port=dovecot.port,
                                user=USER, security="none")
    return jobs.Context(index_path=tmp_path / "app.db", account=account, rules={},
                        protection=Protection(),
                        connector_factory=lambda acc: _connector(dovecot))


def test_cli_and_app_refuse_the_same_drifted_delete(
    mailbox: Dovecot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Emptying the Trash as it was indexed, after another client put one more message
    there: both refuse, and the server's Trash is untouched."""
    run = _cli(tmp_path, monkeypatch, mailbox)
    assert run("sync")[0] == 0
    ctx = _app_context(tmp_path, mailbox)
    with _index(ctx.index_path) as index:
        sync_account(index, "work", _connector(mailbox))
        shown = workflows.plan(jobs.workspace(ctx, index), "delete",
                               actions.Selection(folders=("Trash",)))
    n = shown.messages
    assert n == _trash_count(mailbox) >= 5
    _another_client_trashes_one_more(mailbox)

    code, output = run("clean", "--folder", "Trash", "--action", "delete", "--yes")
    assert code == 1
    drift = f"({n + 1} messages now, not {n})"
    assert f"changed on the server since you saw it {drift}" in " ".join(output.split())
    assert "nothing was deleted" in output
    with pytest.raises(workflows.SelectionChanged) as refused:
        jobs.run_action(ctx, shown, Progress(), threading.Event())
    assert drift in str(refused.value)
    assert _trash_count(mailbox) == n + 1  # neither deleted anything


def test_the_app_goes_on_with_a_drifted_trash_and_says_so(
    mailbox: Dovecot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A move to the Trash is reversible: the app goes on with what matches now and says
    what changed since the plan was shown, as the CLI does
    (test_cli.test_changes_since_the_dry_run_are_said)."""
    ctx = _app_context(tmp_path, mailbox)
    with _index(ctx.index_path) as index:
        sync_account(index, "work", _connector(mailbox))
        shown = workflows.plan(jobs.workspace(ctx, index), "trash",
                               actions.Selection(folders=("INBOX",), larger_than=1))
    client = mailbox.client(USER)
    try:
        client.select_folder("INBOX")
        first = sorted(client.search(["ALL"]))[:2]
        client.add_flags(first, [b"\\Deleted"])
        client.expunge()
    finally:
        client.logout()
    result = jobs.run_action(ctx, shown, Progress(), threading.Event())
    assert result.done is not None
    assert result.done.gone == 2 and result.done.new == 0
    assert any("2 messages are gone or changed" in note for note in result.notes)
    assert result.done.outcome.action.count("done")[0] == shown.messages - 2
    # What is left in INBOX is what protection left out (flagged mail).
    assert mailbox.status(USER)["INBOX"][0] == shown.protected > 0


def test_plan_and_outcome_describe_themselves_for_each_surface(
    mailbox: Dovecot, tmp_path: Path
) -> None:
    """The same lines for the CLI and the app, but for what to do next."""
    ctx = _app_context(tmp_path, mailbox)
    with _index(ctx.index_path) as index:
        sync_account(index, "work", _connector(mailbox))
        ws = jobs.workspace(ctx, index)
        p = workflows.plan(ws, "trash", actions.Selection(folders=("INBOX",), larger_than=1))
        done = workflows.carry_out(ws, p)
    cli_lines = done.describe(wording.CLI)
    app_lines = done.describe(wording.APP)
    assert cli_lines[0] == app_lines[0]
    assert cli_lines[0][1].startswith(f"Moved {p.messages} messages")
    assert any(f"mailclean undo {done.outcome.action.id}" in t for _s, t in cli_lines)
    assert any("Press u" in t for _s, t in app_lines)
    assert not any("mailclean undo" in t for _s, t in app_lines)
    assert json.dumps(p.describe(wording.APP))  # plain data, nothing to render first


def test_resume_in_the_app_applies_the_config_protection(
    mailbox: Dovecot, tmp_path: Path
) -> None:
    """The app's resume passes the protection, as the CLI's does: a sender protected after
    the action was interrupted is left alone."""
    ctx = _app_context(tmp_path, mailbox)
    ctx.batch = 20
    with _index(ctx.index_path) as index:
        sync_account(index, "work", _connector(mailbox))
        ws = jobs.workspace(ctx, index)
        p = workflows.plan(ws, "trash", actions.Selection(folders=("INBOX",), larger_than=1))
        stopping, cancel = stop_after_the_first_batch()
        done = workflows.carry_out(ws, p, progress=stopping, cancel=cancel)
        action = done.outcome.action
        assert action.unfinished > 0
        sender = index.conn.execute(
            "SELECT m.sender FROM messages m JOIN folders f ON f.id = m.folder_id"
            " WHERE f.path = 'INBOX' AND m.sender IS NOT NULL AND NOT m.flagged"
            " GROUP BY m.sender ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
        left = index.conn.execute(
            "SELECT count(*) FROM messages m JOIN folders f ON f.id = m.folder_id"
            " WHERE f.path = 'INBOX' AND m.sender = ? AND NOT m.flagged",
            [sender]).fetchone()[0]
    assert left > 0
    ctx.protection = Protection.from_config({"senders": [sender]})
    result = jobs.run_resume(ctx, action.id, Progress(), threading.Event())
    assert result.done is not None
    skipped = dict((why, n) for why, n, _b in result.done.outcome.action.skip_reasons)
    assert skipped.get("protected") == left
