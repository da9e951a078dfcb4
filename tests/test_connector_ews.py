"""Exchange sync through the loopback EWS server: the index must equal the mailbox and the
generator's truth, through incremental changes, throttling, dropped connections and errors.

The same corpus as the IMAP tests (``mailgen.generate(7, messages=300)``) is delivered into
the server's mailbox; folders keep their roles under Exchange's names (Trash is "Deleted
Items", Sent is "Sent Items"...).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from dataclasses import replace
from functools import lru_cache
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from exchangelib import IMPERSONATION, OAuth2Credentials
from exchangelib import errors as ews_errors
from exchangelib.transport import OAUTH2

from mailclean import config as cfg
from mailclean import mailgen
from mailclean.connectors import connector_for
from mailclean.connectors import ews as ews_module
from mailclean.connectors.base import (
    AuthenticationError,
    ConnectionFailed,
    ConnectorError,
    FolderInfo,
    FolderNotFound,
    FolderState,
    MessagesAdded,
    TLSError,
)
from mailclean.connectors.ews import EwsConnector, EwsSettings
from mailclean.index import Index
from mailclean.sync import SyncReport, sync_account
from tests.dovecot import _make_certificate
from tests.ews import EwsServer
from tests.ews.mime import ParsedMessage
from tests.ews.store import FLAG_FLAGGED

PARSED: dict[bytes, ParsedMessage] = {}


@lru_cache(maxsize=1)
def corpus() -> tuple[mailgen.GeneratedMessage, ...]:
    return tuple(mailgen.generate(7, messages=300))


@pytest.fixture(scope="module")
def running() -> Iterator[EwsServer]:
    with EwsServer() as server:
        yield server


@pytest.fixture
def server(running: EwsServer) -> EwsServer:
    running.reset()
    running.credentials = None
    running.seed(corpus(), cache=PARSED)
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
    total = sum(m.size for m in corpus())
    assert report.messages == len(corpus()) and report.bytes == total
    assert report.new == len(corpus()) and report.removed == 0 and report.problems == 0
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
    assert len(by_key) == len(rows) == len(corpus())
    for msg in corpus():
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
        server.seed(corpus()[:150], cache=PARSED)
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
    server.store.add(corpus()[0].raw, "Archives/Énorme", size=huge)
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
    assert account["quota_used"] == sum(m.size for m in corpus())


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
    assert report.new == len(corpus())
    assert_matches_server(index, server)


def test_folder_recreated_under_the_same_name_is_reset(index: Index, server: EwsServer) -> None:
    sync(index, server)
    before = server.store.truth()["Projets/Budget 2026"][0]
    server.store.delete_folder("Projets/Budget 2026")
    server.store.add(corpus()[3].raw, "Projets/Budget 2026")
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


def test_interrupted_sync_resumes_from_the_last_page(
    index: Index, server: EwsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = EwsConnector.sync_folder
    batches = 0

    def stop_after_three(self, *args, **kw):  # type: ignore[no-untyped-def]
        nonlocal batches
        for change in original(self, *args, **kw):
            yield change
            if isinstance(change, MessagesAdded):
                batches += 1
                if batches == 3:
                    raise KeyboardInterrupt

    monkeypatch.setattr(EwsConnector, "sync_folder", stop_after_three)
    with pytest.raises(KeyboardInterrupt):
        sync(index, server, conn=connector(server, page_size=40))
    assert index.db.execute("SELECT count(*) FROM messages").fetchone()[0] == 120
    monkeypatch.setattr(EwsConnector, "sync_folder", original)
    report = sync(index, server, conn=connector(server, page_size=40))
    assert report.new == len(corpus()) - 120
    assert_matches_server(index, server)


def test_dropped_connection_mid_sync_resumes(index: Index, server: EwsServer) -> None:
    server.drop(1, operation="GetItem", after=3)
    waits: list[float] = []
    report = sync(
        index, server, conn=connector(server, page_size=50, fetch_chunk=20), sleep=waits.append
    )
    assert report.reconnections == 1 and waits == [1.0]
    # The page cut short was fetched again, and nothing twice.
    assert report.new == len(corpus())
    assert_matches_server(index, server)


def test_server_busy_is_waited_out(index: Index, server: EwsServer) -> None:
    server.busy(3, back_off_ms=20, operation="SyncFolderItems")
    server.busy(2, back_off_ms=20, operation="GetItem", after=1)
    server.reset_counts()
    report = sync(index, server)
    assert report.reconnections == 0 and report.new == len(corpus())
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
    assert report.new == len(corpus())
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
        server.seed(corpus()[:130], cache=PARSED)
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

    monkeypatch.setattr(ews_module, "Account", no_autodiscover)
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

    monkeypatch.setattr(ews_module, "Account", capture)
    with pytest.raises(AuthenticationError):
        EwsConnector(settings).connect()
    assert seen["access_type"] == IMPERSONATION


def _with(settings: EwsSettings, **changes: object) -> EwsSettings:
    return replace(settings, **changes)  # type: ignore[arg-type]
