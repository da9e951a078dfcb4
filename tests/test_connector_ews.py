"""Exchange sync through the loopback EWS server: the index must equal the mailbox and the
generator's truth, through incremental changes, throttling, dropped connections and errors.

The same corpus as the IMAP tests (:func:`tests.support.corpora.standard_mailbox`) is
delivered into the server's mailbox; folders keep their roles under Exchange's names (Trash
is "Deleted Items", Sent is "Sent Items"...).
"""

from __future__ import annotations

import json
import re
import socket
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from exchangelib import IMPERSONATION, OAuth2Credentials
from exchangelib import errors as ews_errors
from exchangelib.transport import OAUTH2

from mailclean import actions, mailgen, mime
from mailclean import config as cfg
from mailclean.connectors import ews as ews_module
from mailclean.connectors.base import (
    AuthenticationError,
    ConnectionFailed,
    ConnectorError,
    FolderNotFound,
    TLSError,
)
from mailclean.connectors.ews import EwsConnector, EwsSettings
from mailclean.connectors.imap import ImapConnector, ImapSettings
from mailclean.index import Index
from mailclean.index.journal import Journal
from mailclean.model import FolderInfo, FolderState, ItemRef
from mailclean.plugins import connector_for
from mailclean.rules import load_rules, scan
from mailclean.sync import SyncReport, sync_account
from tests.dovecot import Dovecot, _make_certificate
from tests.ews import EwsServer
from tests.ews.mime import ParsedMessage
from tests.ews.store import FLAG_COMPLETE, FLAG_FLAGGED, Item
from tests.support.corpora import standard_mailbox

PARSED: dict[bytes, ParsedMessage] = {}


@pytest.fixture(scope="module")
def running() -> Iterator[EwsServer]:
    with EwsServer() as server:
        yield server


@pytest.fixture
def server(running: EwsServer) -> EwsServer:
    running.reset()
    running.credentials = None
    running.seed(standard_mailbox(), cache=PARSED)
    return running


@pytest.fixture
def index(tmp_path: Path) -> Iterator[Index]:
    idx = Index(tmp_path / "index.db")
    yield idx
    idx.close()


def connector(server: EwsServer, **kw: object) -> EwsConnector:
    settings: dict = dict(email=server.email, ews_url=server.url, auth="none", max_wait=5.0)
    settings.update(kw)
    return EwsConnector(EwsSettings(**settings))


def sync(index: Index, server: EwsServer, **kw: object) -> SyncReport:
    kw.setdefault("sleep", lambda s: None)
    conn = kw.pop("conn", None) or connector(server)
    return sync_account(index, "work", conn, **kw)  # type: ignore[arg-type]


def indexed_by_folder(index: Index) -> dict[str, tuple[int, int]]:
    acc = index.account("work")["id"]
    return {f["name"]: (f["messages"], f["bytes"]) for f in index.stats(acc)["folders"]}


def assert_matches_server(index: Index, server: EwsServer) -> None:
    assert indexed_by_folder(index) == server.store.truth()
    db = index.db
    assert (
        db.execute(
            "SELECT count(*) FROM (SELECT folder_id, server_id FROM messages GROUP BY 1, 2"
            " HAVING count(*) > 1)"
        ).fetchone()[0]
        == 0
    )
    assert (
        db.execute(
            "SELECT count(*) FROM attachments WHERE message_id NOT IN (SELECT id FROM messages)"
        ).fetchone()[0]
        == 0
    )
    # Every row carries the item's current change key, for the actions to check.
    keys = dict(db.execute("SELECT server_id, change_key FROM messages").fetchall())
    assert keys == {
        i.id: i.change_key for f in server.store.mail_folders() for i in f.items.values()
    }


# -- a cold sync ----------------------------------------------------------------------------------


def test_cold_sync_equals_server(index: Index, server: EwsServer) -> None:
    report = sync(index, server)
    assert_matches_server(index, server)
    total = sum(m.size for m in standard_mailbox())
    assert report.messages == len(standard_mailbox()) and report.bytes == total
    assert report.new == len(standard_mailbox()) and report.removed == 0 and report.problems == 0
    # Non-mail folders (calendar, contacts...) are not indexed.
    assert "Calendar" not in indexed_by_folder(index)


def test_index_equals_generator_truth(index: Index, server: EwsServer) -> None:
    # Drafts never went through transport: no internet headers, so their rows come from
    # the EWS properties (subject, From, InternetMessageId, DateTimeSent...) instead.
    drafts = server.store.by_distinguished["drafts"].items.values()
    assert drafts and not any(i.has_internet_headers for i in drafts)
    sync(index, server)
    rows = index.db.execute(
        "SELECT f.path, m.message_id, m.subject, m.sender, m.sender_name, m.date, m.size,"
        " m.seen, m.flagged, m.thread_key, m.list_unsubscribe, m.precedence, m.auto_submitted,"
        " m.list_unsubscribe_post, m.id, m.received_at, m.list_id"
        " FROM messages m JOIN folders f ON f.id = m.folder_id"
    ).fetchall()
    by_key = {(r[0], r[1], r[6]): r for r in rows}
    assert len(by_key) == len(rows) == len(standard_mailbox())
    for msg in standard_mailbox():
        row = by_key[(server.path_for(msg.folder), msg.message_id, msg.size)]
        where = f"{msg.folder} {msg.message_id} ({msg.kind}/{msg.malformed})"
        assert row[2] == msg.subject, where
        assert row[3] == msg.sender, where
        assert row[4] == msg.sender_name, where
        assert row[5] == (msg.date.isoformat() if msg.date else None), where
        assert bool(row[7]) == ("\\Seen" in msg.flags), where
        assert bool(row[8]) == ("\\Flagged" in msg.flags), where
        assert row[9] == msg.thread_root, where
        assert row[10] == msg.list_unsubscribe, where
        assert row[11] == (msg.precedence.lower() if msg.precedence else None), where
        assert row[12] == (msg.auto_submitted.lower() if msg.auto_submitted else None), where
        assert row[13] == msg.list_unsubscribe_post, where
        assert row[15] == msg.internal_date.replace(microsecond=0).isoformat(), where
        inside = re.search(r"<([^<>]+)>", msg.list_id or "")
        assert row[16] == (inside.group(1).lower() if inside else msg.list_id), where
        attachments = index.db.execute(
            "SELECT filename, mime_type, size, decoded_size FROM attachments"
            " WHERE message_id = ? ORDER BY id",
            [row[14]],
        ).fetchall()
        # Exchange reports decoded sizes: exact, not estimated from the encoding.
        assert attachments == [
            (t.filename, t.mime_type, t.decoded_size, t.decoded_size) for t in msg.attachments
        ], where


def test_roles_from_distinguished_folders(index: Index, server: EwsServer) -> None:
    sync(index, server)
    roles = {f.path: f.role for f in index.folders(index.account("work")["id"])}
    assert roles["Inbox"] == "inbox"
    for path, role in [
        ("Sent Items", "sent"),
        ("Drafts", "drafts"),
        ("Deleted Items", "trash"),
        ("Junk Email", "junk"),
        ("Archives", "archive"),
    ]:
        assert roles[path] == role
    assert roles["Archives/2019"] is None and roles["Projets/Délibérations"] is None


def test_roles_do_not_depend_on_the_mailbox_language(tmp_path: Path) -> None:
    with EwsServer(locale="fr") as server:
        server.seed(standard_mailbox()[:150], cache=PARSED)
        idx = Index(tmp_path / "fr.db")
        try:
            sync(idx, server)
            roles = {f.path: f.role for f in idx.folders(idx.account("work")["id"])}
        finally:
            idx.close()
    assert roles["Boîte de réception"] == "inbox"
    assert roles["Éléments envoyés"] == "sent" and roles["Éléments supprimés"] == "trash"
    assert roles["Courrier indésirable"] == "junk"


def test_folder_sizes_are_64_bit(server: EwsServer) -> None:
    huge = 9 * 2**30 + 123  # over 2 and 4 GiB: a 32-bit Integer would wrap
    server.store.add(standard_mailbox()[0].raw, "Archives/Énorme", size=huge)
    conn = connector(server)
    conn.connect()
    try:
        folders = {f.path: f for f in conn.list_folders()}
    finally:
        conn.close()
    assert folders["Archives/Énorme"].bytes == huge
    assert folders["Inbox"].bytes == server.store.truth()["Inbox"][1]
    assert folders["Inbox"].messages == server.store.truth()["Inbox"][0]


def test_requests_needed_for_a_cold_and_an_unchanged_sync(index: Index, server: EwsServer) -> None:
    server.reset_counts()
    sync(index, server)
    counts = server.request_counts()
    mail_folders = len(server.store.mail_folders())
    # One page of changes per folder (none holds 512), one GetItem per folder with items.
    assert counts["SyncFolderItems"] == mail_folders
    assert counts["GetItem"] == sum(1 for f in server.store.mail_folders() if f.items)
    assert counts["FindFolder"] == 1
    server.reset_counts()
    report = sync(index, server)
    assert report.new == 0 and report.removed == 0 and report.flag_changes == 0
    assert server.request_counts() == {
        "ConvertId": 1,
        "GetFolder": 2,
        "FindFolder": 1,
        "SyncFolderItems": mail_folders,
    }


def test_quota_from_the_mailbox_root(index: Index, server: EwsServer) -> None:
    sync(index, server)
    assert index.account("work")["quota_limit"] is None
    server.store.quota_kb = 2 * 1024 * 1024
    sync(index, server)
    account = index.account("work")
    assert account["quota_limit"] == 2 * 2**30
    assert account["quota_used"] == sum(m.size for m in standard_mailbox())


# -- incremental ----------------------------------------------------------------------------------


def test_incremental_resync_follows_every_kind_of_change(index: Index, server: EwsServer) -> None:
    sync(index, server)
    store = server.store
    inbox = store.by_distinguished["inbox"]
    items = list(inbox.items.values())
    unread = [i for i in items if not i.is_read][:2]
    read = [i for i in items if i.is_read][:3]
    for item in unread:
        store.mark_read(item.id)
    store.set_flag(read[0].id, FLAG_FLAGGED)
    for gone in read[1:]:
        store.delete(gone.id)
    moved = store.move(items[-1].id, store.folder("Archives/2019"))
    new = store.add(mailgen.generate(99, messages=120)[0].raw, inbox)
    report = sync(index, server)
    # Added: the new and the moved message, and the re-flagged one fetched again with its
    # new change key; removed: the two deleted and the moved one's old id.
    assert report.new == 3 and report.removed == 3 and report.flag_changes == 2
    assert_matches_server(index, server)
    rows = dict(index.db.execute("SELECT server_id, seen || flagged FROM messages").fetchall())
    assert all(rows[i.id] == "10" for i in unread)
    assert rows[read[0].id] == "11"
    assert new.id in rows and moved.id in rows and items[-1].id not in rows


def test_invalid_sync_state_reindexes_the_folder(index: Index, server: EwsServer) -> None:
    sync(index, server)
    server.store.invalidate_sync_states()
    report = sync(index, server)
    assert sorted(report.reset_folders) == sorted(p for p, (n, _) in server.store.truth().items())
    assert report.new == len(standard_mailbox())
    assert_matches_server(index, server)


def test_folder_recreated_under_the_same_name_is_reset(index: Index, server: EwsServer) -> None:
    sync(index, server)
    before = server.store.truth()["Projets/Budget 2026"][0]
    server.store.delete_folder("Projets/Budget 2026")
    server.store.add(standard_mailbox()[3].raw, "Projets/Budget 2026")
    report = sync(index, server)
    assert report.reset_folders == ["Projets/Budget 2026"]
    assert report.removed == before and report.new == 1
    assert_matches_server(index, server)


def test_renamed_folder_is_followed_not_refetched(index: Index, server: EwsServer) -> None:
    sync(index, server)
    before = indexed_by_folder(index)["Archives/2021"]
    server.store.rename_folder("Archives/2021", "Ancien")
    report = sync(index, server)
    assert report.folders_renamed == [("Archives/2021", "Archives/Ancien")]
    assert report.new == 0 and report.removed == 0
    assert indexed_by_folder(index)["Archives/Ancien"] == before
    assert_matches_server(index, server)


def test_only_some_folders_and_unknown_folder(index: Index, server: EwsServer) -> None:
    report = sync(index, server, folders=["Sent Items"])
    assert report.folders == 1 and report.new == server.store.truth()["Sent Items"][0]
    with pytest.raises(FolderNotFound, match="Nope"):
        sync(index, server, folders=["Nope"])
    conn = connector(server)
    conn.connect()
    try:
        with pytest.raises(FolderNotFound, match="no folder 'Nope'"):
            list(conn.sync_folder(FolderInfo(path="Nope"), FolderState(), set))
        info = next(f for f in conn.list_folders() if f.path == "Projets/Délibérations")
        server.store.delete_folder("Projets")
        with pytest.raises(FolderNotFound, match="disappeared"):
            list(conn.sync_folder(info, FolderState(), set))
    finally:
        conn.close()


# -- interruptions and faults ------------------------------------------------------------------


def test_dropped_connection_mid_sync_resumes(index: Index, server: EwsServer) -> None:
    server.drop(1, operation="GetItem", after=3)
    waits: list[float] = []
    report = sync(
        index, server, conn=connector(server, page_size=50, fetch_chunk=20), sleep=waits.append
    )
    assert report.reconnections == 1 and waits == [1.0]
    # The page cut short was fetched again, and nothing twice.
    assert report.new == len(standard_mailbox())
    assert_matches_server(index, server)


def test_server_busy_is_waited_out(index: Index, server: EwsServer) -> None:
    server.busy(3, back_off_ms=20, operation="SyncFolderItems")
    server.busy(2, back_off_ms=20, operation="GetItem", after=1)
    server.reset_counts()
    report = sync(index, server)
    assert report.reconnections == 0 and report.new == len(standard_mailbox())
    counts = server.request_counts()
    mail_folders = len(server.store.mail_folders())
    assert counts["SyncFolderItems"] == mail_folders + 3
    assert_matches_server(index, server)


def test_server_that_keeps_refusing_is_reported(index: Index, server: EwsServer) -> None:
    server.busy(10_000, back_off_ms=40, operation="GetItem")
    waits: list[float] = []
    with pytest.raises(ConnectionFailed, match="keeps asking to slow down"):
        sync(index, server, conn=connector(server, max_wait=0.15), sleep=waits.append)
    # Each attempt gave up after its budget (about 4 back-offs), then sync retried 4 times.
    assert waits == [1.0, 2.0, 4.0, 8.0]
    assert server.request_counts()["GetItem"] <= 5 * 5
    server.clear_faults()
    report = sync(index, server)
    assert report.new == len(standard_mailbox())
    assert_matches_server(index, server)


# -- errors ---------------------------------------------------------------------------------------


def test_wrong_password(server: EwsServer) -> None:
    server.credentials = ("MAIRIE\\agent", "right")
    with pytest.raises(AuthenticationError, match=r"refused the login of MAIRIE\\agent"):
        connector(server, auth="basic", user="MAIRIE\\agent", password="wrong").connect()
    conn = connector(server, auth="basic", user="MAIRIE\\agent", password="right")
    conn.connect()
    try:
        assert any(f.role == "inbox" for f in conn.list_folders())
    finally:
        conn.close()


def test_unreachable_server() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    conn = EwsConnector(
        EwsSettings(
            email="a@b.fr",
            ews_url=f"http://127.0.0.1:{port}/EWS/Exchange.asmx",
            auth="none",
            timeout=5,
        )
    )
    with pytest.raises(
        ConnectionFailed, match=r"cannot connect to 127\.0\.0\.1:\d+: Connection refused"
    ):
        conn.connect()


def test_tls_is_verified_unless_told_otherwise(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    _make_certificate(cert, key)
    with EwsServer(tls=(cert, key)) as server:
        server.seed(standard_mailbox()[:130], cache=PARSED)
        with pytest.raises(TLSError, match=r"not trusted .*--insecure-tls"):
            connector(server).connect()
        for kw in ({"insecure_tls": True}, {"cafile": str(cert)}):
            conn = connector(server, **kw)
            conn.connect()
            assert conn.list_folders()
            conn.close()
        # Trusting one endpoint trusts no other: the same server under another name is
        # verified, and fails.
        other = server.url.replace("127.0.0.1", "localhost")
        with pytest.raises(TLSError):
            connector(server, ews_url=other).connect()
        # Nor does it outlive a connector that no longer asks for it.
        with pytest.raises(TLSError):
            connector(server).connect()


def test_autodiscover_failure_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict = {}

    def no_autodiscover(**kw: object) -> None:
        seen.update(kw)
        raise ews_errors.AutoDiscoverFailed("All steps in the autodiscover protocol failed")

    monkeypatch.setattr("mailclean.connectors.ews.session.Account", no_autodiscover)
    conn = EwsConnector(
        EwsSettings(
            email="j.dupont@example.org",
            ews_url="autodiscover",
            user="EXAMPLE\\jdupont",
            password="pw",
        )
    )
    with pytest.raises(
        ConnectionFailed,
        match=r"autodiscover found no Exchange server for j\.dupont@example\.org .*EWS URL",
    ):
        conn.connect()
    assert seen["autodiscover"] is True and seen["config"].service_endpoint is None


# -- configuration and wiring --------------------------------------------------------------------


def ews_account(**kw: object) -> cfg.AccountConfig:
    base: dict = dict(
        name="work",
        kind="ews",
        ews_url="https://mail.example.org/EWS/Exchange.asmx",
        email="j.dupont@example.org",
        user="EXAMPLE\\jdupont",
        password="env",
        password_env="MAIL_PW",
    )
    base.update(kw)
    return cfg.AccountConfig(**base)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ews_url": None}, "'ews_url' is missing"),
        ({"ews_url": "mail.example.org"}, "must be an http\\(s\\) URL"),
        ({"email": None}, "'email'"),
        ({"auth": "kerberos"}, "auth must be one of ntlm, basic, oauth2"),
        ({"auth": "oauth2", "client_id": "abc"}, "needs 'client_id' and 'tenant_id'"),
        ({"password": "hunter2"}, "the password itself never goes in this file"),
        ({"password": "env", "password_env": None}, "needs 'password_env'"),
    ],
)
def test_ews_account_validation(changes: dict, message: str) -> None:
    with pytest.raises(cfg.ConfigError, match=message):
        ews_account(**changes).validate()


def test_ews_account_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAIL_PW", "s3cr3t")
    config = cfg.load(tmp_path / "c.toml")
    config.add(ews_account())
    config.add(
        ews_account(
            name="cloud", ews_url="autodiscover", auth="oauth2", client_id="app", tenant_id="tenant"
        )
    )
    config.save()
    again = cfg.load(tmp_path / "c.toml")
    assert again.account("work") == ews_account()
    assert again.account("cloud").auth == "oauth2"
    assert "s3cr3t" not in (tmp_path / "c.toml").read_text()
    conn = connector_for(again.account("work"), lambda: cfg.get_password(again.account("work")))
    assert isinstance(conn, EwsConnector)
    assert conn.settings == EwsSettings(
        email="j.dupont@example.org",
        ews_url="https://mail.example.org/EWS/Exchange.asmx",
        user="EXAMPLE\\jdupont",
        password="s3cr3t",
        auth="ntlm",
    )
    assert [ep.load() for ep in entry_points(group="mailclean.connectors") if ep.name == "ews"] == [
        EwsConnector
    ]


def test_oauth2_credentials_are_wired(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = EwsSettings(
        email="j.dupont@example.org",
        ews_url="https://outlook.office365.com/EWS/Exchange.asmx",
        auth="oauth2",
        client_id="app",
        tenant_id="tenant",
        password="secret",
    )
    creds = EwsConnector(settings).credentials()
    assert isinstance(creds, OAuth2Credentials)
    assert (creds.client_id, creds.client_secret, creds.tenant_id) == ("app", "secret", "tenant")
    assert creds.identity.primary_smtp_address == "j.dupont@example.org"
    assert EwsConnector(settings).configuration().auth_type == OAUTH2
    # With a token from the authorization-code flow, refreshed tokens go to the callback.
    kept: list[dict] = []
    token = {"access_token": "a", "refresh_token": "r", "token_type": "Bearer"}
    coded = EwsConnector(_with(settings, oauth2_token=token), on_token=kept.append).credentials()
    assert coded.access_token == token
    coded.on_token_auto_refreshed({"access_token": "b", "refresh_token": "r2"})
    assert kept == [{"access_token": "b", "refresh_token": "r2"}]
    with pytest.raises(ConnectorError, match="client id"):
        EwsConnector(_with(settings, client_id=None)).credentials()
    # Application (client-credentials) access goes through impersonation.
    seen: dict = {}

    def capture(**kw: object) -> None:
        seen.update(kw)
        raise ews_errors.UnauthorizedError("no")

    monkeypatch.setattr("mailclean.connectors.ews.session.Account", capture)
    with pytest.raises(AuthenticationError):
        EwsConnector(settings).connect()
    assert seen["access_type"] == IMPERSONATION


def _with(settings: EwsSettings, **changes: object) -> EwsSettings:
    return replace(settings, **changes)  # type: ignore[arg-type]


# -- actions --------------------------------------------------------------------------------------


def _synced(index: Index, server: EwsServer) -> None:
    sync(index, server)


def _inbox_plan(index: Index, server: EwsServer, kind: str = "trash") -> actions.Plan:
    inbox = server.store.by_distinguished["inbox"].name
    return actions.plan(index, "work", kind, actions.Selection(folders=(inbox,)))


def _run_action(
    index: Index,
    conn: EwsConnector,
    p: actions.Plan,
    *,
    batch: int = actions.BATCH,
    waits: list[float] | None = None,
) -> actions.Outcome:
    """Execute ``p`` like actions.execute, with the runner's back-off sleeps recorded
    instead of slept (a reconnection waits 1 s, 2 s... otherwise)."""
    journal = Journal(index)
    action_id = actions.runner.begin(index, p, p.kind, target=p.target)
    runner = actions.runner.Runner(
        index,
        conn,
        action_id,
        actions.ActionProgress(),
        None,
        batch,
        sleep=(waits if waits is not None else []).append,
    )
    try:
        state = runner.run()
    except ConnectorError as exc:
        journal.finish(action_id, "interrupted", str(exc))
        raise
    journal.finish(action_id, state, runner.row.error)
    row = journal.action(action_id)
    assert row is not None
    return actions.Outcome(row, None, runner.skipped)


def test_trash_then_undo_go_through_the_new_item_ids(index: Index, server: EwsServer) -> None:
    _synced(index, server)
    store = server.store
    inbox, trash = store.by_distinguished["inbox"], store.by_distinguished["deleteditems"]
    before = store.truth()
    p = _inbox_plan(index, server)
    originals = {i.id: i.msg for i in inbox.items.values()}
    conn = connector(server)
    conn.connect()
    server.reset_counts()
    try:
        outcome = actions.execute(index, conn, p)
    finally:
        conn.close()
    assert outcome.action.state == "done" and outcome.action.count("done") == (p.messages, p.bytes)
    counts = server.request_counts()
    # One GetItem of identities and one MoveItem per 500 items, and a GetFolder per folder.
    chunks = -(-p.messages // ews_module.ACTION_CHUNK)
    assert counts["MoveItem"] == chunks and counts["GetItem"] == chunks
    # Flagged messages are protected: they stay.
    assert len(inbox.items) == p.protected > 0
    assert len(trash.items) == before[trash.name][0] + p.messages
    # The journal holds each message's new id, which is where the server put it.
    items = Journal(index).items(outcome.action.id)
    assert all(trash.items[i.target_id].msg is originals[i.server_id] for i in items)  # type: ignore[index]
    conn = connector(server)
    conn.connect()
    try:
        _plan, undone = actions.undo(index, conn, "work", outcome.action.id)
    finally:
        conn.close()
    assert undone is not None and undone.action.count("done") == (p.messages, p.bytes)
    assert store.truth() == before
    assert sorted(id(i.msg) for i in inbox.items.values()) == sorted(map(id, originals.values()))
    assert_matches_server_after_sync(index, server)


def assert_matches_server_after_sync(index: Index, server: EwsServer) -> None:
    """The index followed every move: a sync afterwards changes nothing but change keys."""
    report = sync(index, server)
    assert report.removed == 0
    assert indexed_by_folder(index) == server.store.truth()


def test_a_change_key_changed_by_another_client_is_skipped(index: Index, server: EwsServer) -> None:
    _synced(index, server)
    store = server.store
    p = _inbox_plan(index, server)
    first, second, third = p.items[:3]
    # Another client marks a follow-up flag "complete" (a modification: a new change key),
    # reads another message (the change key stays, as in Exchange), moves a third away.
    store.set_flag(first.server_id, FLAG_COMPLETE)
    store.mark_read(second.server_id)
    store.move(third.server_id, store.folder("Archives/2019"))
    before = store.truth()
    conn = connector(server)
    conn.connect()
    try:
        outcome = actions.execute(index, conn, p)
    finally:
        conn.close()
    reasons = {s: r for _f, s, r in outcome.skipped}
    assert reasons == {first.server_id: "changed", third.server_id: "vanished"}
    assert outcome.action.state == "partial"
    assert outcome.action.count("done")[0] == p.messages - 2
    after = store.truth()
    inbox = store.by_distinguished["inbox"]
    assert len(inbox.items) == p.protected + 1 and first.server_id in inbox.items
    trash = store.by_distinguished["deleteditems"].name
    assert after[trash][0] == before[trash][0] + p.messages - 2


def test_server_busy_during_a_move_is_waited_out(index: Index, server: EwsServer) -> None:
    _synced(index, server)
    p = _inbox_plan(index, server)
    before = server.store.truth()
    server.busy(2, back_off_ms=20, operation="MoveItem")
    server.busy(1, back_off_ms=20, operation="GetItem")
    server.reset_counts()
    waits: list[float] = []
    conn = connector(server, action_chunk=40)
    conn.connect()
    try:
        outcome = _run_action(index, conn, p, batch=100, waits=waits)
    finally:
        conn.close()
    assert outcome.action.state == "done" and outcome.action.count("done") == (p.messages, p.bytes)
    assert waits == []  # exchangelib waited each BackOffMilliseconds; no reconnection
    assert server.request_counts()["MoveItem"] == -(-p.messages // 40) + 2
    trash = server.store.by_distinguished["deleteditems"].name
    inbox = server.store.by_distinguished["inbox"].name
    assert server.store.truth()[trash] == (
        before[trash][0] + p.messages,
        before[trash][1] + p.bytes,
    )
    assert server.store.truth()[inbox][0] == p.protected


def test_a_server_that_keeps_refusing_interrupts_the_action(
    index: Index, server: EwsServer
) -> None:
    _synced(index, server)
    p = _inbox_plan(index, server)
    before = server.store.truth()
    server.busy(10_000, back_off_ms=40, operation="MoveItem")
    conn = connector(server, max_wait=0.1)
    conn.connect()
    waits: list[float] = []
    try:
        with pytest.raises(ConnectionFailed, match="keeps asking to slow down"):
            _run_action(index, conn, p, waits=waits)
    finally:
        conn.close()
    assert waits == [1.0, 2.0, 4.0]  # the runner's three reconnections, then it gave up
    assert server.store.truth() == before
    server.clear_faults()
    conn = connector(server)
    conn.connect()
    try:
        (settled,) = actions.reconcile(index, conn, "work")
        assert settled.count("pending")[0] == p.messages  # nothing was moved
        outcome = actions.resume(index, conn, "work", settled.id)
    finally:
        conn.close()
    assert outcome.action.state == "done" and outcome.action.count("done") == (p.messages, p.bytes)


@pytest.mark.parametrize("processed", [False, True], ids=["request-lost", "answer-lost"])
def test_a_dropped_connection_mid_action_is_reconciled(
    index: Index, server: EwsServer, processed: bool
) -> None:
    _synced(index, server)
    store = server.store
    p = _inbox_plan(index, server)
    before = store.truth()
    # The second MoveItem never gets an answer: lost on the way there (nothing moved), or on
    # the way back (moved, new ids unknown: reconcile finds them in Deleted Items by
    # Message-ID and size).
    server.drop(1, operation="MoveItem", after=1, processed=processed)
    waits: list[float] = []
    conn = connector(server, action_chunk=30)
    conn.connect()
    try:
        outcome = _run_action(index, conn, p, batch=30, waits=waits)
    finally:
        conn.close()
    assert waits == [1.0]
    assert outcome.action.state == "done" and outcome.action.count("done") == (p.messages, p.bytes)
    trash = store.by_distinguished["deleteditems"]
    after = store.truth()
    assert after[trash.name] == (
        before[trash.name][0] + p.messages,
        before[trash.name][1] + p.bytes,
    )
    assert len(store.by_distinguished["inbox"].items) == p.protected
    # Every item's new id in the journal is where the server holds it, each id once.
    items = Journal(index).items(outcome.action.id)
    targets = [i.target_id for i in items]
    assert len(set(targets)) == len(targets) and all(t in trash.items for t in targets)
    assert all(
        mime.normalize_message_id(trash.items[i.target_id].msg.message_id) == i.message_id  # type: ignore[index]
        for i in items
    )
    assert_matches_server_after_sync(index, server)


def test_a_delete_whose_answer_is_lost_is_reconciled(index: Index, server: EwsServer) -> None:
    _synced(index, server)
    store = server.store
    trash = store.by_distinguished["deleteditems"]
    p = actions.plan(index, "work", "delete", actions.Selection(folders=(trash.name,)))
    recoverable = store.by_distinguished["recoverableitemsdeletions"]
    server.drop(1, operation="DeleteItem", after=1, processed=True)
    waits: list[float] = []
    conn = connector(server, action_chunk=10)
    conn.connect()
    try:
        outcome = _run_action(index, conn, p, batch=10, waits=waits)
    finally:
        conn.close()
    assert waits == [1.0]
    assert outcome.action.state == "done" and outcome.action.count("done") == (p.messages, p.bytes)
    assert trash.items == {} and len(recoverable.items) == p.messages  # each deleted once
    assert_matches_server_after_sync(index, server)


@pytest.mark.parametrize("hard", [False, True], ids=["soft", "hard"])
def test_soft_and_hard_delete_are_what_they_say(
    index: Index, server: EwsServer, hard: bool
) -> None:
    store = server.store
    store.quota_kb = 1024 * 1024
    _synced(index, server)
    trash = store.by_distinguished["deleteditems"]
    recoverable = store.by_distinguished["recoverableitemsdeletions"]
    p = actions.plan(index, "work", "delete", actions.Selection(folders=(trash.name,)))
    assert p.messages > 0 and p.outside_trash == 0
    conn = connector(server, hard_delete=hard)
    conn.connect()
    try:
        conn.list_folders()  # quota() counts the folders as last listed
        used_before = conn.quota().used  # type: ignore[union-attr]
        msgs = [i.msg for i in trash.items.values()]
        items_before = len(store.items)
        outcome = actions.execute(index, conn, p)
        conn.list_folders()
        used_after = conn.quota().used  # type: ignore[union-attr]
    finally:
        conn.close()
    assert conn.delete_mode == ("hard" if hard else "soft")
    assert outcome.action.count("done") == (p.messages, p.bytes)
    assert trash.items == {}
    # Either way the bytes left the mailbox's folders and its quota...
    assert used_before - used_after == p.bytes
    freed = Journal(index).freed(1)
    assert freed["deleted_bytes"] == p.bytes == freed["freed_on_server_bytes"]
    # Soft-deleted items are still recoverable by an admin: the journal says so.
    assert freed["recoverable_bytes"] == (0 if hard else p.bytes)
    assert Journal(index).action(outcome.action.id).delete_mode == ("hard" if hard else "soft")
    # ...but a soft delete keeps them in Recoverable Items (still in the mailbox database,
    # recoverable until the retention period ends); a hard delete purges them.
    if hard:
        assert recoverable.items == {}
        assert len(store.items) == items_before - p.messages
    else:
        assert len(store.items) == items_before
        assert sorted(map(id, (i.msg for i in recoverable.items.values()))) == sorted(map(id, msgs))
        assert sum(i.size for i in recoverable.items.values()) == p.bytes


def test_undo_into_a_folder_deleted_meanwhile_creates_it(index: Index, server: EwsServer) -> None:
    _synced(index, server)
    store = server.store
    path = "Projets/Budget 2026"
    before = store.truth()[path]
    p = actions.plan(index, "work", "trash", actions.Selection(folders=(path,)))
    assert p.messages == before[0] > 0
    conn = connector(server)
    conn.connect()
    try:
        trashed = actions.execute(index, conn, p)
        store.delete_folder("Projets")  # its subfolders go with it
        _plan, undone = actions.undo(index, conn, "work", trashed.action.id)
    finally:
        conn.close()
    assert undone is not None and undone.action.state == "done"
    assert store.truth()[path] == before
    assert server.request_counts()["CreateFolder"] == 2  # "Projets", then "Budget 2026"


def test_export_fetches_only_what_is_exported_in_bounded_requests(
    server: EwsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = server.store
    items = list(store.by_distinguished["inbox"].items.values())[:12]
    refs = [ItemRef(i.id, i.size, None, i.change_key) for i in items]
    limit = sum(r.size for r in refs[:4])
    monkeypatch.setattr("mailclean.connectors.ews.limits.EXPORT_BYTES", limit)
    expected_requests, weight = 1, 0
    for r in refs:
        if weight and weight + r.size > limit:
            expected_requests, weight = expected_requests + 1, 0
        weight += r.size
    gone = refs[5]
    store.delete(gone.server_id)
    conn = connector(server)
    conn.connect()
    server.reset_counts()
    try:
        got = list(conn.fetch("Inbox", refs))
    finally:
        conn.close()
    assert [sid for sid, _ in got] == [r.server_id for r in refs if r is not gone]
    assert all(raw == store.items[sid].msg.raw for sid, raw in got)
    assert server.request_counts() == {"GetItem": expected_requests}


def test_verify_and_folder_validity(server: EwsServer) -> None:
    store = server.store
    inbox = store.by_distinguished["inbox"]
    a, b, c, d = list(inbox.items.values())[:4]

    def ref(i: Item, **kw: object) -> ItemRef:
        fields: dict = dict(
            server_id=i.id,
            size=i.size,
            message_id=mime.normalize_message_id(i.msg.message_id),
            change_key=i.change_key,
        )
        fields.update(kw)
        return ItemRef(**fields)

    conn = connector(server)
    conn.connect()
    try:
        validity = conn.folder_validity("Inbox")
        assert validity == ews_module.folder_identity(inbox.id)
        copy = store.copy(d.id, store.folder("Archives"))
        refs = [ref(a), ref(b, size=b.size + 1), ref(c, message_id="x@y"), ref(copy)]
        assert conn.verify("Inbox", validity, refs) == {
            b.id: "changed",
            c.id: "changed",
            copy.id: "vanished",  # there is such an item, but in another folder
        }
        assert conn.verify("Inbox", validity + 1, refs[:1]) == {a.id: "reset"}
        # Index rows without a change key (undo) are checked by size and Message-ID.
        assert conn.verify("Inbox", None, [ref(a, change_key=None)]) == {}
        store.delete_folder("Projets/Budget 2026")
        with pytest.raises(FolderNotFound):
            conn.folder_validity("Projets/Budget 2026")
        store.create_folder("Projets/Budget 2026")
        recreated = conn.folder_validity("Projets/Budget 2026")
        assert recreated == ews_module.folder_identity(store.folder("Projets/Budget 2026").id)
        store.rename_folder("Archives/2019", "Vieux")
        with pytest.raises(FolderNotFound):
            conn.folder_validity("Archives/2019")
        assert conn.folder_validity("Archives/Vieux")
        assert conn.next_id("Inbox") is None
    finally:
        conn.close()


def test_locate_finds_each_message_once(server: EwsServer) -> None:
    store = server.store
    archives = store.folder("Archives")
    one = next(iter(store.by_distinguished["inbox"].items.values()))
    # Two identical copies in Archives, one of another message with the same Message-ID.
    first, second = store.copy(one.id, archives), store.copy(one.id, archives)
    raw = one.msg.raw.replace(b"\r\n\r\n", b"\r\nX-Other: 1\r\n\r\n", 1)
    store.add(raw, archives)
    gone = store.move(store.copy(one.id, archives).id, store.by_distinguished["junkemail"])
    del store.items[gone.id], gone.folder.items[gone.id]  # an original that no longer exists
    msgid = mime.normalize_message_id(one.msg.message_id)
    refs = [
        ItemRef(gone.id, one.size, msgid),
        ItemRef(gone.id[:-4] + "AAA=", one.size, msgid),
        ItemRef("AAAA" + gone.id[4:], one.size, msgid),
    ]
    conn = connector(server)
    conn.connect()
    server.reset_counts()
    try:
        found = conn.locate("Archives", refs, None)
        # An original still in the mailbox was not moved: nothing is looked for it.
        assert conn.locate("Archives", [ItemRef(one.id, one.size, msgid)], None) == {}
    finally:
        conn.close()
    assert sorted(found.values()) == sorted([first.id, second.id])
    assert server.request_counts()["FindItem"] == 1


# -- the same figures as IMAP ----------------------------------------------------------------------


def _hits(index: Index) -> dict[str, Counter[tuple[str | None, int]]]:
    """Per rule, the messages it flags as (Message-ID, size): folder names differ between
    the two servers ("INBOX"/"Inbox", "Trash"/"Deleted Items"), messages do not."""
    out: dict[str, Counter[tuple[str | None, int]]] = {}
    for rule, message_id, size in index.db.execute(
        "SELECT h.rule, m.message_id, m.size FROM hits h JOIN messages m ON m.id = h.message_id"
    ):
        out.setdefault(rule, Counter())[(message_id, size)] += 1
    return out


def _attachment_bytes(index: Index) -> dict[tuple[str | None, int], int]:
    return {
        (r[0], r[1]): r[2]
        for r in index.db.execute("SELECT message_id, size, attachment_bytes FROM messages")
    }


def test_rules_give_the_same_figures_as_for_dovecot(
    index: Index, server: EwsServer, dovecot: Dovecot, tmp_path: Path
) -> None:
    """The corpus synced from Exchange and from Dovecot scans to the same figures, rule by
    rule, with one difference the protocols explain.

    Message sizes agree: the generator writes CRLF messages, whose RFC822.SIZE (Dovecot) is
    their length, which is the item size the loopback server reports. (A real Exchange
    reports its own item size, MIME plus MAPI properties: there bytes would differ and only
    message counts compare.) Attachment sizes do not: IMAP's BODYSTRUCTURE gives the
    *encoded* size of a part (base64: 4/3 of the file, plus line ends), Exchange the
    *decoded* size it stores. Each is that server's on-disk weight, so a rule with an
    attachment-size threshold (large-attachments) may flag, in IMAP only, a message whose
    file is just under the threshold and its base64 just over it. Every other rule flags
    exactly the same messages.
    """
    now = datetime(2026, 3, 1, tzinfo=UTC)
    rules = load_rules()
    sync(index, server)
    from_ews = scan(index, "work", rules, now=now)
    dovecot.reset_user("user1")
    dovecot.seed("user1", standard_mailbox())
    imap_index = Index(tmp_path / "imap.db")
    try:
        imap = ImapConnector(
            ImapSettings(dovecot.host, "user1", "secret1", port=dovecot.port, security="none")
        )
        sync_account(imap_index, "work", imap, sleep=lambda s: None)
        from_imap = scan(imap_index, "work", rules, now=now)
        imap_hits, imap_attachments = _hits(imap_index), _attachment_bytes(imap_index)
    finally:
        imap_index.close()
    ews_hits, ews_attachments = _hits(index), _attachment_bytes(index)
    assert from_ews.total_messages == from_imap.total_messages == len(standard_mailbox())
    assert from_ews.total_bytes == from_imap.total_bytes
    assert sum(len(h) for h in ews_hits.values()) > 0
    explained = 0
    for name, rule in rules.items():
        ews, imap = ews_hits.get(name, Counter()), imap_hits.get(name, Counter())
        if rule.type != "large-attachments":
            assert ews == imap, name
            continue
        threshold = rule.params.get("min_size", 5_000_000)
        assert not ews - imap, name  # decoded <= encoded: EWS never flags more
        for key in imap - ews:
            assert ews_attachments[key] < threshold <= imap_attachments[key], (name, key)
            explained += 1
    ews_rules = {r["rule"]: (r["messages"], r["bytes"]) for r in from_ews.rules}
    imap_rules = {r["rule"]: (r["messages"], r["bytes"]) for r in from_imap.rules}
    differing = {n for n in ews_rules if ews_rules[n] != imap_rules[n]}
    assert all(rules[n].type == "large-attachments" for n in differing)
    # The figures differ by exactly the messages explained above.
    assert sum(imap_rules[n][0] - ews_rules[n][0] for n in differing) == explained


def test_oauth2_tokens_come_from_and_go_to_the_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    from mailclean import config as cfg
    from mailclean.config import AccountConfig

    kept: dict[str, str] = {"work:oauth2-token": '{"access_token": "a1", "expires_in": 60}'}
    monkeypatch.setattr(cfg, "_keyring_get", kept.get)
    monkeypatch.setattr(cfg, "store_password", lambda name, pw: kept.__setitem__(name, pw))
    account = AccountConfig(name="work", kind="ews", ews_url="https://x/EWS/Exchange.asmx",
                            email="j@example.org", auth="oauth2", client_id="app",
                            tenant_id="t", password="env", password_env="X")
    # Through the plugin bridge, as the CLI builds it: the connector never reads the keyring.
    conn = connector_for(account, lambda: "client-secret")
    assert isinstance(conn, EwsConnector)
    assert conn.settings.oauth2_token == {"access_token": "a1", "expires_in": 60}
    assert conn.on_token is not None
    conn.on_token({"access_token": "a2", "refresh_token": "r"})
    assert json.loads(kept["work:oauth2-token"]) == {"access_token": "a2", "refresh_token": "r"}
    basic = connector_for(
        AccountConfig(name="b", kind="ews", ews_url="https://x/EWS/Exchange.asmx",
                      email="b@example.org", user="b", password="env", password_env="X"),
        lambda: "pw",
    )
    assert isinstance(basic, EwsConnector)
    assert basic.settings.oauth2_token is None and basic.on_token is None
