"""Actions against real mail stores: Dovecot with every extension, without MOVE (COPY +
UID EXPUNGE), without MOVE and UIDPLUS (the minimal server), a local Maildir, and Exchange
through the loopback EWS server (tests/ews/, driven by exchangelib unmodified).

The oracle is the store itself (``doveadm mailbox status``, the Maildir's files, or the
loopback server's own mailbox), never mailclean's own index: exactly the chosen messages
move, nothing else does.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import imapclient
import pytest

from mailclean import actions, mailgen, wording
from mailclean import export as exporting
from mailclean.connectors.base import ConnectionFailed, Connector, ConnectorError
from mailclean.connectors.ews import EwsConnector, EwsSettings
from mailclean.connectors.imap import ImapConnector, ImapSettings
from mailclean.connectors.maildir import MaildirConnector
from mailclean.index import Index
from mailclean.index.journal import Journal
from mailclean.rules import load_rules, scan
from mailclean.sync import sync_account
from tests.dovecot import Dovecot
from tests.ews import EwsServer
from tests.ews.mime import ParsedMessage
from tests.support import stop_after_the_first_batch
from tests.support.corpora import large_mailbox

USER, PASSWORD = "user1", "secret1"
ACCOUNT = "work"
#: Raw bytes -> the loopback EWS server's parse of them, shared by every seeding.
PARSED: dict[bytes, ParsedMessage] = {}


@dataclass
class Box:
    """A seeded mailbox, its index, and how to reach and inspect it.

    The actions are run on the library directly, so a Box holds an open index and a
    connector factory that needs nothing; the review app's
    :class:`tests.support.review.Store` holds what the app is given instead (a config file,
    an index path, a factory taking the account's config).
    """

    kind: str
    index: Index
    connect: Callable[[], Connector]
    status: Callable[[], dict[str, tuple[int, int]]]
    server: Dovecot | None = None
    root: Path | None = None
    ews: EwsServer | None = None
    inbox: str = "INBOX"
    """The inbox's path (Exchange names it in the mailbox's language: "Inbox")."""

    def connector(self) -> Connector:
        c = self.connect()
        c.connect()
        return c

    def sync(self) -> None:
        sync_account(self.index, ACCOUNT, self.connect(), sleep=lambda s: None)

    def client(self) -> imapclient.IMAPClient:
        assert self.server is not None
        return self.server.client(USER)

    def bodies(self, folder: str) -> dict[str, bytes]:
        """Every message of ``folder`` by Message-ID (the store's own bytes, CRLF)."""
        if self.ews is not None:
            store = self.ews.store
            with store.lock:
                items = list(store.folder(folder).items.values())
            return {_msgid(i.msg.raw): i.msg.raw for i in items}
        if self.server is None:
            c = MaildirConnector(self.root)  # type: ignore[arg-type]
            c.list_folders()
            out = {}
            for sub in ("cur", "new"):
                for f in (c._dirs[folder] / sub).iterdir():
                    raw = f.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
                    out[_msgid(raw)] = raw
            return out
        client = self.client()
        try:
            client.select_folder(folder, readonly=True)
            data = client.fetch(client.search("ALL"), ["BODY.PEEK[]"])
        finally:
            client.logout()
        return {_msgid(v[b"BODY[]"]): v[b"BODY[]"] for v in data.values()}


def _msgid(raw: bytes) -> str:
    from mailclean import mime

    header = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    return mime.normalize_message_id(mime.parse_header_block(header).get("message-id")) or ""


def maildir_status(root: Path) -> dict[str, tuple[int, int]]:
    return {f.path: (f.messages or 0, f.bytes or 0) for f in MaildirConnector(root).list_folders()}


@pytest.fixture(scope="module")
def ews_server() -> Iterator[EwsServer]:
    """One loopback EWS server for the module; each test resets and seeds its mailbox."""
    with EwsServer() as server:
        yield server


def ews_connector(server: EwsServer, **kw: object) -> EwsConnector:
    """A connector to the loopback server's mailbox."""
    settings: dict = dict(email=server.email, ews_url=server.url, auth="none", max_wait=5.0)
    settings.update(kw)
    return EwsConnector(EwsSettings(**settings))


@pytest.fixture(params=["dovecot", "dovecot_nomove", "dovecot_minimal", "maildir", "ews"])
def box(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Box]:
    index = Index(tmp_path / "index.db")
    if request.param == "ews":
        ews: EwsServer = request.getfixturevalue("ews_server")
        ews.reset()
        ews.seed(large_mailbox(), cache=PARSED)
        b = Box(
            "ews",
            index,
            lambda: ews_connector(ews),
            # The server's own mailbox: items and bytes per folder, by list_folders' paths.
            ews.store.truth,
            ews=ews,
            inbox=ews.store.by_distinguished["inbox"].name,
        )
    elif request.param == "maildir":
        root = tmp_path / "Maildir"
        mailgen.write_maildir(root, large_mailbox())
        b = Box(
            "maildir",
            index,
            lambda: MaildirConnector(root),
            lambda: maildir_status(root),
            root=root,
        )
    else:
        server: Dovecot = request.getfixturevalue(request.param)
        server.reset_user(USER)
        server.seed(USER, large_mailbox())
        b = Box(
            request.param,
            index,
            lambda: ImapConnector(
                ImapSettings(server.host, USER, PASSWORD, port=server.port, security="none")
            ),
            lambda: server.status(USER),
            server=server,
        )
    b.sync()
    scan(index, ACCOUNT, load_rules())
    yield b
    index.close()


def _run(box: Box, kind: str, selection: actions.Selection, **kw: object) -> actions.Outcome:
    c = box.connector()
    try:
        p = actions.plan(box.index, ACCOUNT, kind, selection)
        return actions.execute(box.index, c, p, **kw)  # type: ignore[arg-type]
    finally:
        c.close()


NEWSLETTERS = actions.Selection(rules=("newsletters",))


def _expected_moves(
    box: Box, selection: actions.Selection
) -> tuple[dict[str, tuple[int, int]], actions.Plan]:
    p = actions.plan(box.index, ACCOUNT, "trash", selection)
    return dict(p.folders), p


def test_trash_moves_exactly_the_selection(box: Box) -> None:
    before = box.status()
    moves, p = _expected_moves(box, NEWSLETTERS)
    assert p.messages > 20 and len(moves) >= 2
    outcome = _run(box, "trash", NEWSLETTERS)
    after = box.status()
    assert outcome.action.state == "done"
    assert outcome.action.count("done") == (p.messages, p.bytes)
    for folder, (n, b) in before.items():
        if folder == p.target:
            assert after[folder] == (n + p.messages, b + p.bytes)
        else:
            dn, db = moves.get(folder, (0, 0))
            assert after[folder] == (n - dn, b - db), folder
    # The index followed the moves: a sync afterwards finds nothing removed.
    report = sync_account(box.index, ACCOUNT, box.connect(), sleep=lambda s: None)
    assert report.removed == 0
    stats = {f["name"]: (f["messages"], f["bytes"]) for f in box.index.stats(1)["folders"]}
    assert stats == after
    freed = Journal(box.index).freed(1)
    assert freed["trashed_bytes"] == p.bytes == freed["still_in_trash_bytes"]
    assert freed["deleted_bytes"] == 0 == freed["freed_on_server_bytes"]


def test_undo_restores_messages_byte_for_byte(box: Box) -> None:
    before = box.status()
    selection = actions.Selection(rules=("newsletters", "large-attachments"))
    p = actions.plan(box.index, ACCOUNT, "trash", selection)
    originals = {f: box.bodies(f) for f in p.folders}
    chosen = {i.message_id for i in p.items}
    outcome = _run(box, "trash", selection)
    assert box.status() != before
    # As if the server had not said where half of them went (no COPYUID): undo must find
    # those in the Trash by Message-ID and size.
    with box.index.db.atomic():
        box.index.conn.execute(
            "UPDATE action_items SET target_id = NULL WHERE action_id = ? AND id % 2 = 0",
            [outcome.action.id],
        )
    c = box.connector()
    try:
        _plan, undone = actions.undo(box.index, c, ACCOUNT, outcome.action.id)
    finally:
        c.close()
    assert undone is not None and undone.action.state == "done"
    assert undone.action.count("done") == (p.messages, p.bytes)
    assert box.status() == before
    for folder, bodies in originals.items():
        now = box.bodies(folder)
        for msgid, raw in bodies.items():
            if msgid in chosen:
                assert now[msgid] == raw
    freed = Journal(box.index).freed(1)
    assert freed["trashed_bytes"] == 0 and freed["restored_bytes"] == p.bytes
    assert Journal(box.index).action(outcome.action.id).state == "undone"  # type: ignore[union-attr]
    with pytest.raises(actions.ActionError):
        c = box.connector()
        try:
            actions.undo(box.index, c, ACCOUNT, outcome.action.id)
        finally:
            c.close()


def test_export_then_trash_reads_back_identical(box: Box, tmp_path: Path) -> None:
    selection = actions.Selection(rules=("large-attachments",))
    p = actions.plan(box.index, ACCOUNT, "trash", selection)
    originals = {}
    for folder in p.folders:
        originals.update(box.bodies(folder))
    chosen = {i.message_id for i in p.items}
    for fmt, target in (("mbox", tmp_path / "big.mbox"), ("eml", tmp_path / "eml")):
        c = box.connector()
        try:
            outcome = actions.execute(
                box.index,
                c,
                actions.plan(box.index, ACCOUNT, "export", selection),
                export_to=target,
            )
        finally:
            c.close()
        assert outcome.action.kind == "export" and outcome.action.state == "done"
        back = list(exporting.read(target, fmt))
        assert len(back) == p.messages
        assert sorted(exporting.digest(r) for r in back) == sorted(
            exporting.digest(originals[m]) for m in chosen
        )
        if fmt == "eml" and (box.server is not None or box.ews is not None):
            # .eml files hold the server's bytes exactly.
            assert sorted(hashlib.sha256(r).digest() for r in back) == sorted(
                hashlib.sha256(originals[m]).digest() for m in chosen
            )
    before = box.status()
    outcome = _run(box, "trash", selection, export_to=tmp_path / "then-trash.mbox")
    assert outcome.export_action is not None and outcome.export_action.state == "done"
    assert outcome.action.count("done") == (p.messages, p.bytes)
    assert box.status()[p.target][0] == before[p.target][0] + p.messages  # type: ignore[index]


def test_export_refuses_an_existing_file_and_removes_nothing(box: Box, tmp_path: Path) -> None:
    target = tmp_path / "exists.mbox"
    target.write_text("From x\n\nkeep me\n")
    before = box.status()
    with pytest.raises(actions.ActionError, match="already exists"):
        _run(box, "trash", NEWSLETTERS, export_to=target)
    assert box.status() == before
    assert target.read_text() == "From x\n\nkeep me\n"


def test_delete_from_trash_frees_and_counts_once(box: Box) -> None:
    trash = actions.trash_folder(box.index, 1)
    _run(box, "trash", NEWSLETTERS)
    before = box.status()
    p = actions.plan(box.index, ACCOUNT, "delete", actions.Selection(folders=(trash,)))
    assert p.outside_trash == 0 and p.frees_now
    outcome = _run(box, "delete", actions.Selection(folders=(trash,)))
    assert outcome.action.count("done") == (p.messages, p.bytes)
    assert box.status()[trash] == (0, 0)
    total_after = sum(n for n, _ in box.status().values())
    assert total_after == sum(n for n, _ in before.values()) - p.messages
    freed = Journal(box.index).freed(1)
    assert freed["deleted_bytes"] == p.bytes == freed["freed_on_server_bytes"]
    assert freed["still_in_trash_bytes"] == 0
    # Messages trashed by mailclean then deleted count once: every message deleted here
    # was in the Trash, so the messages taken out of the folders are exactly those deleted.
    assert freed["trashed_messages"] > 0
    assert freed["messages"] == freed["deleted_messages"]


def test_delete_outside_trash_needs_permanent(box: Box) -> None:
    sel = actions.Selection(folders=(box.inbox,), larger_than=1_000_000)
    p = actions.plan(box.index, ACCOUNT, "delete", sel)
    assert p.outside_trash == p.messages > 0
    before = box.status()
    with pytest.raises(actions.ActionError, match="--permanent"):
        _run(box, "delete", sel)
    assert box.status() == before
    c = box.connector()
    try:
        outcome = actions.execute(
            box.index, c, actions.plan(box.index, ACCOUNT, "delete", sel, permanent=True)
        )
    finally:
        c.close()
    assert outcome.action.count("done") == (p.messages, p.bytes)
    inbox = box.inbox
    assert box.status()[inbox] == (before[inbox][0] - p.messages, before[inbox][1] - p.bytes)


def test_a_message_that_changed_or_vanished_is_skipped(box: Box) -> None:
    p = actions.plan(box.index, ACCOUNT, "trash", NEWSLETTERS)
    gone, altered = p.items[0], p.items[1]
    # The index thinks the second message has another Message-ID: not the same message.
    altered.message_id = "someone-else@example.org"
    # Another program removes the first one after the plan was made.
    c = box.connector()
    try:
        from mailclean.model import ItemRef

        assert c.delete(gone.folder, [ItemRef(gone.server_id, gone.size, gone.message_id)])
        before = box.status()
        outcome = actions.execute(box.index, c, p)
    finally:
        c.close()
    reasons = {(f, s): r for f, s, r in outcome.skipped}
    assert reasons == {
        (gone.folder, gone.server_id): "vanished",
        (altered.folder, altered.server_id): "changed",
    }
    assert outcome.action.state == "partial"
    after = box.status()
    assert after[p.target][0] == before[p.target][0] + p.messages - 2  # type: ignore[index]


def test_dry_run_changes_nothing(box: Box, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from mailclean.cli import cli
    from mailclean.config import AccountConfig, Config

    config = Config(tmp_path / "config.toml")
    if box.ews is not None:
        config.add(
            AccountConfig(
                ACCOUNT,
                "ews",
                ews_url=box.ews.url,
                email=box.ews.email,
                user="MAIRIE\\agent",
                auth="basic",
                password="env",
                password_env="MC_TEST_PW",
            )
        )
    elif box.server is None:
        config.add(AccountConfig(ACCOUNT, "maildir", path=str(box.root)))
    else:
        config.add(
            AccountConfig(
                ACCOUNT,
                "imap",
                host=box.server.host,
                port=box.server.port,
                user=USER,
                security="none",
                password="env",
                password_env="MC_TEST_PW",
            )
        )
    config.save()
    before = box.status()
    flags_before = _flags(box)
    runner = CliRunner()
    env = {
        "MAILCLEAN_CONFIG": str(config.path),
        "MAILCLEAN_DB": str(box.index.path),
        "MC_TEST_PW": PASSWORD,
    }
    for args in (
        ["clean", ACCOUNT, "--rule", "newsletters"],
        ["clean", ACCOUNT, "--folder", box.inbox, "--action", "delete", "--permanent"],
        ["clean", ACCOUNT, "--rule", "large-attachments", "--export", str(tmp_path / "x.mbox")],
    ):
        result = runner.invoke(cli, args, env=env)
        assert result.exit_code == 0, result.output
        assert "Dry run" in result.output
    assert box.status() == before
    assert _flags(box) == flags_before
    assert not (tmp_path / "x.mbox").exists()
    result = runner.invoke(
        cli,
        ["clean", ACCOUNT, "--folder", box.inbox, "--action", "delete", "--permanent", "--yes"],
        env=env,
    )
    assert result.exit_code == 1 and "--confirm-count" in result.output
    assert box.status() == before
    result = runner.invoke(
        cli, ["clean", ACCOUNT, "--rule", "newsletters", "--yes", "--json"], env=env
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["freed", ACCOUNT, "--json"], env=env)
    import json

    data = json.loads(result.output)
    assert data["trashed_bytes"] > 0 and data["deleted_bytes"] == 0
    assert {"trashed_bytes", "deleted_bytes", "exported_bytes", "messages", "actions"} <= set(data)
    assert data["actions"][0]["kind"] == "trash"


def _flags(box: Box) -> dict:
    if box.ews is not None:
        # Ids, change keys (any modification), read state and follow-up flag of every item.
        store = box.ews.store
        with store.lock:
            return {
                store.path(f): sorted(
                    (i.id, i.change_key, i.is_read, i.flag_status) for i in f.items.values()
                )
                for f in store.mail_folders()
            }
    if box.server is None:
        return {
            p: sorted(x.name for x in (box.root.rglob("*")) if x.is_file())  # type: ignore[union-attr]
            for p in ["all"]
        }
    client = box.client()
    try:
        out = {}
        for _f, _d, name in client.list_folders():
            client.select_folder(name, readonly=True)
            out[name] = client.get_flags(client.search("ALL"))
        return out
    finally:
        client.logout()


# -- IMAP only ----------------------------------------------------------------------------


@pytest.fixture(params=["dovecot", "dovecot_nomove", "dovecot_minimal"])
def imapbox(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Box]:
    index = Index(tmp_path / "index.db")
    server: Dovecot = request.getfixturevalue(request.param)
    server.reset_user(USER)
    server.seed(USER, large_mailbox())
    b = Box(
        request.param,
        index,
        lambda: ImapConnector(
            ImapSettings(server.host, USER, PASSWORD, port=server.port, security="none")
        ),
        lambda: server.status(USER),
        server=server,
    )
    b.sync()
    scan(index, ACCOUNT, load_rules())
    yield b
    index.close()


def test_user_deleted_marks_and_new_mail_are_never_expunged(imapbox: Box) -> None:
    box = imapbox
    p = actions.plan(
        box.index, ACCOUNT, "trash", actions.Selection(folders=("INBOX",), rules=("newsletters",))
    )
    chosen = {int(i.server_id) for i in p.items}
    client = box.client()
    try:
        client.select_folder("INBOX")
        others = [u for u in client.search("ALL") if u not in chosen]
        marked = others[:2]
        client.add_flags(marked, [b"\\Deleted"])
        client.append(
            "INBOX",
            b"From: a@b.example\r\nSubject: arrived meanwhile\r\n"
            b"Message-ID: <new@b.example>\r\n\r\nhello\r\n",
        )
    finally:
        client.logout()
    before = box.status()
    c = box.connector()
    try:
        outcome = actions.execute(box.index, c, p)
    finally:
        c.close()
    after = box.status()
    client = box.client()
    try:
        client.select_folder("INBOX", readonly=True)
        still = set(client.search("ALL"))
        arrived = client.search(["HEADER", "Message-ID", "<new@b.example>"])
    finally:
        client.logout()
    assert set(marked) <= still, "a message the user had marked deleted was expunged"
    assert arrived
    if "UIDPLUS" in c.capabilities or "MOVE" in c.capabilities:  # type: ignore[attr-defined]
        assert outcome.action.count("done") == (p.messages, p.bytes)
        assert after["INBOX"] == (before["INBOX"][0] - p.messages, before["INBOX"][1] - p.bytes)
    else:
        # No MOVE, no UIDPLUS: expunging would take the user's marked messages too, so
        # mailclean refuses, explains, and leaves everything as it was.
        assert outcome.action.count("done") == (0, 0)
        assert outcome.action.error and "marked for deletion" in outcome.action.error
        assert after == before
        assert {r for _f, _s, r in outcome.skipped} == {"unsafe-expunge"}


def test_uidvalidity_change_acts_on_nothing(imapbox: Box) -> None:
    box = imapbox
    assert box.server is not None
    p = actions.plan(
        box.index, ACCOUNT, "trash", actions.Selection(folders=("INBOX",), rules=("newsletters",))
    )
    validity = box.index.folders(1, "INBOX")[0].uidvalidity
    box.server.doveadm(
        "mailbox", "update", "-u", USER, "--uid-validity", str(validity + 1000), "INBOX"
    )
    before = box.status()
    c = box.connector()
    try:
        outcome = actions.execute(box.index, c, p)
    finally:
        c.close()
    assert box.status() == before
    assert outcome.action.count("done") == (0, 0)
    assert {r for _f, _s, r in outcome.skipped} == {"reset"}


def test_a_dropped_connection_mid_action_is_resumed(imapbox: Box) -> None:
    box = imapbox
    assert box.server is not None
    server = box.server
    p = actions.plan(box.index, ACCOUNT, "trash", NEWSLETTERS)
    before = box.status()

    class KickOnce(actions.ActionProgress):
        kicked = False

        def advance(self, messages: int, size: int) -> None:
            if not self.kicked:
                self.kicked = True
                server.kick(USER)

    c = box.connector()
    try:
        outcome = actions.runner.drive(
            box.index,
            c,
            actions.runner.begin(box.index, p, "trash", target=p.target),
            KickOnce(),
            None,
            10,
            None,
            p.bytes,
            p.messages,
        )
    finally:
        c.close()
    assert outcome.action.state == "done"
    assert outcome.action.count("done") == (p.messages, p.bytes)
    after = box.status()
    assert after[p.target][0] == before[p.target][0] + p.messages  # type: ignore[index]
    assert sum(n for n, _ in after.values()) == sum(n for n, _ in before.values())


def test_crash_between_copy_and_expunge_is_reconciled_without_duplicates(
    tmp_path: Path, dovecot_nomove: Dovecot
) -> None:
    server = dovecot_nomove
    server.reset_user(USER)
    server.seed(USER, large_mailbox())
    index = Index(tmp_path / "index.db")
    def make() -> ImapConnector:
        return ImapConnector(
            ImapSettings(server.host, USER, PASSWORD, port=server.port, security="none")
        )

    sync_account(index, ACCOUNT, make())
    scan(index, ACCOUNT, load_rules())
    p = actions.plan(
        index, ACCOUNT, "trash", actions.Selection(folders=("INBOX",), rules=("newsletters",))
    )
    before = server.status(USER)
    journal = Journal(index)
    action_id = actions.runner.begin(index, p, "trash", target=p.target)
    items = journal.items(action_id)
    half = items[: len(items) // 2]
    client = server.client(USER)
    floor = str(client.folder_status(p.target, ["UIDNEXT"])[b"UIDNEXT"])
    journal.set_state([i.id for i in items], "sent", target_floor=floor)
    # What a process killed between COPY and EXPUNGE leaves behind: copies of half the
    # batch in the Trash, the originals still there and marked \Deleted.
    client.select_folder("INBOX")
    uids = [int(i.server_id) for i in half]
    client.copy(uids, p.target)
    client.add_flags(uids, [b"\\Deleted"])
    client.logout()
    with index.db.atomic():
        index.conn.execute("UPDATE actions SET pid = 999999999 WHERE id = ?", [action_id])
    c = make()
    c.connect()
    try:
        settled = actions.reconcile(index, c, ACCOUNT)
        assert [a.id for a in settled] == [action_id]
        row = journal.action(action_id)
        assert row is not None
        assert row.count("copied")[0] == len(half)
        assert row.count("pending")[0] == len(items) - len(half)
        assert row.count("sent")[0] == 0
        outcome = actions.resume(index, c, ACCOUNT, action_id)
    finally:
        c.close()
    assert outcome.action.state == "done"
    after = server.status(USER)
    assert after[p.target] == (before[p.target][0] + p.messages, before[p.target][1] + p.bytes)
    assert after["INBOX"] == (before["INBOX"][0] - p.messages, before["INBOX"][1] - p.bytes)
    index.close()


def synced_cli(server: Dovecot, tmp_path: Path) -> tuple[dict[str, str], Path]:
    """3,000 messages in the user's mailbox, an account for the real CLI, synced by it: the
    environment to run ``mailclean`` in, and the index file."""
    server.reset_user(USER)
    server.seed(USER, mailgen.generate_bulk(3000, seed=5))
    config = tmp_path / "config.toml"
    config.write_text(
        f'[accounts.{ACCOUNT}]\nkind = "imap"\nhost = "{server.host}"\nport = {server.port}\n'
        f'user = "{USER}"\nsecurity = "none"\npassword = "env"\npassword_env = "MC_TEST_PW"\n'
    )
    db = tmp_path / "index.db"
    env = {**os.environ, "MAILCLEAN_CONFIG": str(config), "MAILCLEAN_DB": str(db),
           "MC_TEST_PW": PASSWORD, "LANG": "C"}
    subprocess.run([sys.executable, "-m", "mailclean", "sync", ACCOUNT], env=env, check=True,
                   capture_output=True)
    return env, db


@pytest.mark.parametrize("server_name", ["dovecot", "dovecot_minimal"])
def test_kill_9_mid_action_then_reconcile_matches_the_server(
    request: pytest.FixtureRequest, tmp_path: Path, server_name: str
) -> None:
    server: Dovecot = request.getfixturevalue(server_name)
    env, db = synced_cli(server, tmp_path)
    before = server.status(USER)
    trash = "Trash"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mailclean",
            "clean",
            ACCOUNT,
            "--folder",
            "INBOX",
            "--larger-than",
            "0",
            "--yes",
            "--batch-size",
            "25",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    index = Index(db)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            row = index.conn.execute(
                "SELECT count(*) FROM action_items WHERE state = 'done'"
            ).fetchone()
            if row[0] >= 100:
                break
            assert proc.poll() is None, "the action ended before it could be killed"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        c = ImapConnector(
            ImapSettings(server.host, USER, PASSWORD, port=server.port, security="none")
        )
        c.connect()
        try:
            settled = actions.reconcile(index, c, ACCOUNT)
        finally:
            c.close()
        assert len(settled) == 1
        action = settled[0]
        planned = action.planned_messages
        assert action.state == "interrupted" and action.count("sent")[0] == 0
        mid = server.status(USER)
        done_n, done_b = action.count("done")
        copied_n, _ = action.count("copied")
        assert 0 < done_n < planned
        # The journal is the truth: what it says is done left INBOX and sits in Trash.
        assert mid["INBOX"][0] == before["INBOX"][0] - done_n
        assert mid["INBOX"][1] == before["INBOX"][1] - done_b
        assert mid[trash][0] == before[trash][0] + done_n + copied_n
        # Then the journal finishes the job without acting twice.
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "mailclean",
                "journal",
                "resume",
                str(action.id),
                "--yes",
                "--json",
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
    finally:
        if proc.poll() is None:
            proc.kill()
        index.close()
    after = server.status(USER)
    # Everything chosen moved exactly once; what protection left out (flagged) stayed.
    assert after["INBOX"] == (
        before["INBOX"][0] - planned,
        before["INBOX"][1] - action.planned_bytes,
    )
    assert after[trash] == (before[trash][0] + planned, before[trash][1] + action.planned_bytes)


def test_the_connection_is_never_used_by_two_threads_at_once(box: Box) -> None:
    """Moves run on a sender thread while the journal records the batch before: no other
    connector call may overlap a move in flight, and the outcome is the same."""
    p = actions.plan(box.index, ACCOUNT, "trash", NEWSLETTERS)
    before = box.status()
    c = box.connector()
    busy = threading.Lock()
    overlaps: list[str] = []
    move_threads: set[str] = set()
    for name in ("verify", "move", "next_id", "folder_validity", "delete", "create_folder"):
        real = getattr(c, name)

        def guarded(*args: object, _real: Callable = real, _name: str = name, **kw: object):  # type: ignore[no-untyped-def]
            if not busy.acquire(blocking=False):
                overlaps.append(_name)
                busy.acquire()
            try:
                if _name == "move":
                    move_threads.add(threading.current_thread().name)
                    time.sleep(0.01)  # long enough for the bookkeeping to run alongside
                return _real(*args, **kw)
            finally:
                busy.release()

        setattr(c, name, guarded)
    try:
        outcome = actions.execute(box.index, c, p, batch=3)
    finally:
        c.close()
    assert overlaps == []
    assert move_threads and threading.main_thread().name not in move_threads
    assert outcome.action.state == "done"
    assert outcome.action.count("done") == (p.messages, p.bytes)
    after = box.status()
    assert after[p.target] == (before[p.target][0] + p.messages, before[p.target][1] + p.bytes)


def test_ctrl_c_finishes_the_batch_in_flight_records_it_and_stops(
    dovecot: Dovecot, tmp_path: Path
) -> None:
    """The first Ctrl-C (SIGINT) lets the batch in flight end and be journalled, then the
    command stops with 130: the journal matches the server with no reconcile needed, and
    ``journal resume`` finishes the rest."""
    server = dovecot
    env, db = synced_cli(server, tmp_path)
    mailclean = [sys.executable, "-m", "mailclean"]
    before = server.status(USER)
    proc = subprocess.Popen(
        [*mailclean, "clean", ACCOUNT, "--folder", "INBOX", "--larger-than", "0", "--yes",
         "--batch-size", "25"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    index = Index(db)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            row = index.conn.execute(
                "SELECT count(*) FROM action_items WHERE state = 'done'").fetchone()
            if row[0] >= 100:
                break
            assert proc.poll() is None, "the action ended before Ctrl-C"
            time.sleep(0.005)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 130, (stdout, stderr)
        assert "Stopping after the batch in flight" in stderr
        (action,) = Journal(index).actions(1)
        assert action.state == "cancelled" and action.count("sent", "copied")[0] == 0
        done_n, done_b = action.count("done")
        assert 100 <= done_n < action.planned_messages
        assert f"journal resume {action.id} --yes" in stdout
        # Without any reconcile, the journal is the server's truth.
        mid = server.status(USER)
        assert mid["INBOX"] == (before["INBOX"][0] - done_n, before["INBOX"][1] - done_b)
        assert mid["Trash"] == (before["Trash"][0] + done_n, before["Trash"][1] + done_b)
        result = subprocess.run([*mailclean, "journal", "resume", str(action.id), "--yes"],
                                env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        (action,) = Journal(index).actions(1)
        assert action.state == "done"
    finally:
        if proc.poll() is None:
            proc.kill()
        index.close()
    after = server.status(USER)
    assert after["INBOX"] == (before["INBOX"][0] - action.planned_messages,
                              before["INBOX"][1] - action.planned_bytes)


def test_cancel_stops_between_batches_and_resume_finishes(imapbox: Box) -> None:
    box = imapbox
    p = actions.plan(box.index, ACCOUNT, "trash", NEWSLETTERS)
    stopping, cancel = stop_after_the_first_batch()

    c = box.connector()
    try:
        outcome = actions.execute(
            box.index, c, p, progress=stopping, cancel=cancel, batch=10
        )
        assert outcome.action.state == "cancelled"
        done = outcome.action.count("done")[0]
        assert 0 < done < p.messages and outcome.action.unfinished == p.messages - done
        resumed = actions.resume(box.index, c, ACCOUNT, outcome.action.id)
    finally:
        c.close()
    assert resumed.action.state == "done"
    assert resumed.action.count("done") == (p.messages, p.bytes)


def test_connection_refused_for_good_leaves_an_interrupted_action(imapbox: Box) -> None:
    box = imapbox
    p = actions.plan(box.index, ACCOUNT, "trash", NEWSLETTERS)
    before = box.status()

    class Broken(ImapConnector):
        def move(self, *a, **kw):  # type: ignore[no-untyped-def]
            raise ConnectionFailed("the connection to the server was lost: test")

    assert box.server is not None
    c = Broken(ImapSettings(box.server.host, USER, PASSWORD, port=box.server.port, security="none"))
    c.connect()
    action_id = actions.runner.begin(box.index, p, "trash", target=p.target)
    try:
        runner = actions.runner.Runner(
            box.index,
            c,
            action_id,
            actions.ActionProgress(),
            None,
            50,
            retries=1,
            sleep=lambda s: None,
        )
        with pytest.raises(ConnectionFailed):
            runner.run()
    finally:
        c.close()
    Journal(box.index).finish(action_id, "interrupted", "lost")
    assert box.status() == before
    c2 = box.connector()
    try:
        (settled,) = actions.reconcile(box.index, c2, ACCOUNT)
    finally:
        c2.close()
    # Nothing reached the server: the batch in flight is pending again, nothing is done.
    assert settled.id == action_id and settled.state == "interrupted"
    assert settled.count("pending")[0] == p.messages


def test_views_such_as_gmail_all_mail_are_never_acted_on(tmp_path: Path) -> None:
    """Gmail shows every message again in All Mail (and starred ones in Starred): trashing
    it there would trash it from every label. The same message in INBOX and All Mail is
    no duplicate, and no selection ever takes what a view shows."""
    from mailclean.model import AttachmentMeta, FolderInfo, FolderState, MessageMeta

    index = Index(tmp_path / "index.db")
    try:
        acc = index.ensure_account(ACCOUNT, "imap")
        folders = {
            path: index.add_folder(acc, FolderInfo(path=path, role=role))
            for path, role in [("INBOX", "inbox"), ("[Gmail]/All Mail", "all"),
                               ("[Gmail]/Starred", "flagged"), ("[Gmail]/Trash", "trash")]
        }
        big = [AttachmentMeta("2", "plan.pdf", "application/pdf", 9_000_000, 9_000_000)]
        for path in ("INBOX", "[Gmail]/All Mail", "[Gmail]/Starred"):
            index.add_messages(acc, folders[path], [
                MessageMeta(server_id="1", uid=1, size=9_100_000, message_id="big@x",
                            sender="a@x.example", date="2020-01-01T00:00:00+00:00",
                            attachments=big),
                MessageMeta(server_id="2", uid=2, size=4_000, message_id="news@x",
                            sender="news@x.example", list_id="news.x.example",
                            date="2026-01-01T00:00:00+00:00"),
            ], FolderState(uidvalidity=1))
        result = scan(index, ACCOUNT, load_rules())
        hits = index.conn.execute(
            "SELECT h.rule, f.path FROM hits h JOIN messages m ON m.id = h.message_id"
            " JOIN folders f ON f.id = m.folder_id").fetchall()
        assert {path for _, path in hits} == {"INBOX"}
        assert "duplicates" not in {rule for rule, _ in hits}
        assert {"large-attachments", "newsletters"} <= {rule for rule, _ in hits}
        assert result.reclaimable_messages == 2

        by_folder = actions.plan(index, ACCOUNT, "trash",
                                 actions.Selection(folders=("[Gmail]/All Mail",)))
        assert by_folder.items == [] and by_folder.in_views == 2
        assert any("All Mail" in note for note in by_folder.left_out())
        every_row = [r[0] for r in index.conn.execute("SELECT id FROM messages")]
        chosen = actions.plan(index, ACCOUNT, "trash", actions.Selection(message_ids=every_row))
        assert {i.folder for i in chosen.items} == {"INBOX"} and chosen.in_views == 4
    finally:
        index.close()


# -- every path that acts checks what the plan checked (issue 13) -------------------------


def _flag_on_server(box: Box, folder: str, server_ids: list[str]) -> None:
    """Another program flags (stars) these messages on the server."""
    if box.server is not None:
        client = box.client()
        try:
            client.select_folder(folder)
            client.add_flags([int(s) for s in server_ids], [b"\\Flagged"])
        finally:
            client.logout()
        return
    assert box.root is not None
    c = MaildirConnector(box.root)
    c.list_folders()
    for sub in ("cur", "new"):
        for f in (c._dirs[folder] / sub).iterdir():
            key = f.name.split(":", 1)[0]
            if key in server_ids:
                info = f.name.split(":2,", 1)[1] if ":2," in f.name else ""
                f.rename(f.parent.parent / "cur" / f"{key}:2,{''.join(sorted(info + 'F'))}")


@pytest.mark.parametrize("box", ["dovecot", "dovecot_minimal", "maildir"], indirect=True)
def test_resume_leaves_alone_what_was_flagged_meanwhile(box: Box) -> None:
    """Issue 13.4: after an interrupted trash, messages the user flagged in the meantime
    are not trashed by resume: flags come in the same FETCH as the identity check."""
    p = actions.plan(box.index, ACCOUNT, "trash", NEWSLETTERS)
    stopping, cancel = stop_after_the_first_batch()

    c = box.connector()
    try:
        outcome = actions.execute(box.index, c, p, progress=stopping, cancel=cancel,
                                  batch=5)
    finally:
        c.close()
    assert outcome.action.state == "cancelled"
    left = Journal(box.index).items(outcome.action.id, ["pending"])
    by_folder: dict[str, list[str]] = {}
    for item in left[:10]:
        by_folder.setdefault(item.folder, []).append(item.server_id)
    for folder, ids in by_folder.items():
        _flag_on_server(box, folder, ids)
    flagged = {(i.folder, i.server_id) for i in left[:10]}
    before = box.status()
    c = box.connector()
    try:
        resumed = actions.resume(box.index, c, ACCOUNT, outcome.action.id)
    finally:
        c.close()
    assert resumed.action.state == "partial"
    skipped = {(f, s): r for f, s, r in resumed.skipped}
    assert set(skipped) == flagged and set(skipped.values()) == {"flagged"}
    moved = len(left) - 10
    trash = p.target
    assert box.status()[trash][0] == before[trash][0] + moved  # type: ignore[index]
    for folder, ids in by_folder.items():
        assert box.status()[folder][0] >= len(ids)


@pytest.mark.parametrize("box", ["dovecot", "maildir", "ews"], indirect=True)
def test_resume_applies_the_protection_in_force(box: Box) -> None:
    """Issue 13.4: a sender protected in the config after the plan is left alone on
    resume, as the plan would have left it."""
    from mailclean.rules import Protection

    p = actions.plan(box.index, ACCOUNT, "trash", NEWSLETTERS)
    senders = sorted({r[0] for r in box.index.conn.execute(
        "SELECT m.sender FROM messages m JOIN hits h ON h.message_id = m.id"
        " WHERE h.rule = 'newsletters' AND m.sender IS NOT NULL")})
    protected = senders[0]
    n_protected = box.index.conn.execute(
        "SELECT count(*) FROM messages m JOIN hits h ON h.message_id = m.id"
        " JOIN folders f ON f.id = m.folder_id"
        " WHERE h.rule = 'newsletters' AND m.sender = ? AND f.role IS NOT 'trash'",
        [protected]).fetchone()[0]
    assert n_protected > 0
    action_id = actions.runner.begin(box.index, p, "trash", target=p.target)
    Journal(box.index).finish(action_id, "interrupted", "the process running it stopped")
    c = box.connector()
    try:
        resumed = actions.resume(box.index, c, ACCOUNT, action_id,
                                 protection=Protection(senders=(protected,)))
    finally:
        c.close()
    reasons = [r for _f, _s, r in resumed.skipped]
    assert reasons.count("protected") == n_protected
    assert resumed.action.count("done")[0] == p.messages - n_protected


@pytest.mark.parametrize("imapbox", ["dovecot", "dovecot_nomove", "dovecot_minimal"],
                         indirect=True)
def test_an_expunge_by_another_client_during_the_action_skips_only_those(imapbox: Box) -> None:
    """Issue 13.5: messages another client expunges after the identity check are skipped
    and reported; the rest are moved, the action is not aborted."""
    box = imapbox
    p = actions.plan(box.index, ACCOUNT, "trash", actions.Selection(folders=("INBOX",),
                                                                     rules=("newsletters",)))
    victims = [int(i.server_id) for i in p.items[3:8]]
    assert box.server is not None
    server = box.server
    before = box.status()

    class ExpungedUnderUs(ImapConnector):
        armed = True

        def verify(self, folder, validity, refs):  # type: ignore[no-untyped-def]
            problems = super().verify(folder, validity, refs)
            if self.armed and folder == "INBOX":
                self.armed = False
                other = server.client(USER)
                try:
                    other.select_folder("INBOX")
                    other.add_flags(victims, [b"\\Deleted"])
                    other.uid_expunge(victims) if "UIDPLUS" in other.capabilities() \
                        else other.expunge()
                finally:
                    other.logout()
            return problems

    c = ExpungedUnderUs(ImapSettings(server.host, USER, PASSWORD, port=server.port,
                                     security="none"))
    c.connect()
    try:
        outcome = actions.execute(box.index, c, p)
    finally:
        c.close()
    assert outcome.action.state == "partial"
    assert outcome.action.count("done")[0] == p.messages - len(victims)
    assert sorted(int(s) for _f, s, r in outcome.skipped if r == "vanished") == victims
    after = box.status()
    assert after["INBOX"][0] == before["INBOX"][0] - p.messages
    assert after["Trash"][0] == before["Trash"][0] + p.messages - len(victims)


@pytest.mark.parametrize("imapbox", ["dovecot", "dovecot_minimal"], indirect=True)
def test_a_hostile_message_id_never_locks_the_account(imapbox: Box) -> None:
    """Issue 13.6: reconcile (run before every command) must settle an interrupted trash
    of messages whose Message-ID is 100 KB long or holds 8-bit bytes: the server is only
    asked about UIDs, and the ids are compared here."""
    box = imapbox
    assert box.server is not None
    client = box.client()
    try:
        for i, msgid in enumerate((b"<" + b"x" * 100_000 + b"@long.example>",
                                   b"<caf\xc3\xa9-\xff\xfe@eight.example>")):
            raw = (b"From: a@example.org\r\nTo: b@example.org\r\nSubject: hostile " +
                   str(i).encode() + b"\r\nMessage-ID: " + msgid +
                   b"\r\nList-Id: <hostile.example>\r\n\r\nbody\r\n")
            client.append("INBOX", raw)
    finally:
        client.logout()
    box.sync()
    p = actions.plan(box.index, ACCOUNT, "trash",
                     actions.Selection(folders=("INBOX",), lists=("hostile.example",)))
    assert p.messages == 2
    # Killed with the first message moved by the command in flight, the second not.
    action_id = actions.runner.begin(box.index, p, "trash", target=p.target)
    journal = Journal(box.index)
    items = journal.items(action_id)
    c = box.connector()
    floor = c.next_id("Trash")
    journal.set_state([i.id for i in items], "sent", target_floor=floor)
    c.close()
    other = box.client()
    try:
        other.select_folder("INBOX")
        other.copy([int(items[0].server_id)], "Trash")
        other.add_flags([int(items[0].server_id)], [b"\\Deleted"])
        other.expunge()
    finally:
        other.logout()
    journal.finish(action_id, "interrupted", "killed")
    c = box.connector()
    try:
        notes = actions.reconcile_first(box.index, c, ACCOUNT)
    finally:
        c.close()
    assert len(notes) == 1 and "now matches the server" in notes[0]
    settled = journal.action(action_id)
    assert settled is not None and settled.count("done")[0] == 1 and settled.unfinished == 1
    box.sync()  # the account is not locked
    c = box.connector()
    try:
        resumed = actions.resume(box.index, c, ACCOUNT, action_id)
    finally:
        c.close()
    assert resumed.action.state == "done" and resumed.action.count("done")[0] == 2


def test_a_reconcile_that_cannot_finish_does_not_block_other_commands(imapbox: Box) -> None:
    """Issue 13.6: a reconcile the server refuses is said and left for later."""
    box = imapbox
    p = actions.plan(box.index, ACCOUNT, "trash", NEWSLETTERS)
    action_id = actions.runner.begin(box.index, p, "trash", target=p.target)
    journal = Journal(box.index)
    journal.set_state([i.id for i in journal.items(action_id)], "sent")
    journal.finish(action_id, "interrupted", "killed")

    class Refusing(ImapConnector):
        def locate(self, *a, **kw):  # type: ignore[no-untyped-def]
            raise ConnectorError("the server refused the question")

    assert box.server is not None
    c = Refusing(ImapSettings(box.server.host, USER, PASSWORD, port=box.server.port,
                              security="none"))
    c.connect()
    try:
        notes = actions.reconcile_first(box.index, c, ACCOUNT)
    finally:
        c.close()
    assert len(notes) == 1 and "could not be checked" in notes[0]
    assert journal.action(action_id).state == "interrupted"  # type: ignore[union-attr]
    box.sync()


def test_the_quota_is_measured_around_each_action(dovecot_trashfree: Dovecot,
                                                  tmp_path: Path) -> None:
    """Issue 13.2: where the quota does not count the Trash (Courier; here Dovecot's
    Trash:ignore), trashing lowers it and emptying the Trash does not: the journal has the
    measurements, and what mailclean says comes from them."""
    server = dovecot_trashfree
    server.reset_user(USER)
    server.seed(USER, large_mailbox())
    index = Index(tmp_path / "index.db")
    box = Box("dovecot", index,
              lambda: ImapConnector(ImapSettings(server.host, USER, PASSWORD,
                                                 port=server.port, security="none")),
              lambda: server.status(USER), server=server)
    box.sync()
    scan(index, ACCOUNT, load_rules())
    selection = actions.Selection(rules=("large-attachments",))
    p = actions.plan(index, ACCOUNT, "trash", selection)
    assert p.bytes > 1_000_000
    assert actions.quota_evidence(index, 1).trash_counts is None
    trashed = _run(box, "trash", selection).action
    assert trashed.quota_before is not None and trashed.quota_after is not None
    # Dovecot counts in KiB, rounded up: the drop is the moved size within a KiB a message.
    drop = trashed.quota_before - trashed.quota_after
    assert abs(drop - p.bytes) <= 1024 * p.messages
    evidence = actions.quota_evidence(index, 1)
    assert evidence == actions.QuotaEvidence(False, trashed.id)
    assert "does not count the Trash" in wording.trash_note(evidence)
    emptied = _run(box, "delete", actions.Selection(folders=(p.target,))).action  # type: ignore[arg-type]
    assert emptied.quota_before == emptied.quota_after
    assert "did not change" in (wording.quota_note(emptied) or "")
    index.close()


def test_the_quota_shows_the_trash_counts_on_most_servers(imapbox: Box) -> None:
    """Issue 13.2, the usual case: moving to the Trash leaves the quota as it was."""
    box = imapbox
    selection = actions.Selection(rules=("large-attachments",))
    trashed = _run(box, "trash", selection).action
    assert trashed.quota_before == trashed.quota_after is not None
    assert actions.quota_evidence(box.index, 1) == actions.QuotaEvidence(True, trashed.id)
