"""IMAP sync against a real Dovecot: the index must equal the server and the generator's truth,
through every incremental case and interruption, with and without the optional extensions."""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailclean import mailgen
from mailclean.connectors import imap as imap_module
from mailclean.connectors import imapwire
from mailclean.connectors.base import (
    AuthenticationError,
    ConnectionFailed,
    FolderNotFound,
    TLSError,
)
from mailclean.connectors.imap import ImapConnector, ImapSettings
from mailclean.connectors.imap import limits as imap_limits
from mailclean.index import Index
from mailclean.sync import SyncReport, sync_account
from tests.dovecot import Dovecot
from tests.support.corpora import standard_mailbox
from tests.support.imap import PASSWORD, USER, imap_connector


@pytest.fixture(params=["dovecot", "dovecot_minimal"])
def server(request: pytest.FixtureRequest) -> Dovecot:
    """Each test runs against the full server and the one without optional extensions."""
    srv: Dovecot = request.getfixturevalue(request.param)
    srv.reset_user(USER)
    srv.seed(USER, standard_mailbox())
    return srv


@pytest.fixture
def index(tmp_path: Path) -> Iterator[Index]:
    idx = Index(tmp_path / "index.db")
    yield idx
    idx.close()


def sync(index: Index, server: Dovecot, **kw: object) -> SyncReport:
    kw.setdefault("sleep", lambda s: None)
    return sync_account(index, "work", imap_connector(server), **kw)  # type: ignore[arg-type]


def indexed_by_folder(index: Index) -> dict[str, tuple[int, int]]:
    acc = index.account("work")["id"]
    return {f["name"]: (f["messages"], f["bytes"]) for f in index.stats(acc)["folders"]}


def assert_matches_server(index: Index, server: Dovecot) -> None:
    truth = server.status(USER)
    assert indexed_by_folder(index) == truth
    # No duplicate rows, no orphan attachments.
    db = index.db
    assert (
        db.execute(
            "SELECT count(*) FROM (SELECT folder_id, uid FROM messages GROUP BY 1, 2"
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


# -- a cold sync ----------------------------------------------------------------------------


def test_cold_sync_equals_server(index: Index, server: Dovecot) -> None:
    report = sync(index, server)
    assert_matches_server(index, server)
    total = sum(m.size for m in standard_mailbox())
    assert report.messages == len(standard_mailbox()) and report.bytes == total
    assert report.new == len(standard_mailbox()) and report.removed == 0


def test_index_equals_generator_truth(index: Index, server: Dovecot) -> None:
    sync(index, server)
    rows = index.db.execute(
        "SELECT f.path, m.message_id, m.subject, m.sender, m.sender_name, m.date, m.size,"
        " m.seen, m.flagged, m.thread_key, m.list_unsubscribe, m.precedence, m.auto_submitted,"
        " m.list_unsubscribe_post, m.id, m.received_at, m.problems"
        " FROM messages m JOIN folders f ON f.id = m.folder_id"
    ).fetchall()
    by_key = {(r[0], r[1], r[6]): r for r in rows}
    assert len(by_key) == len(rows) == len(standard_mailbox())
    for msg in standard_mailbox():
        row = by_key[(msg.folder, msg.message_id, msg.size)]
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
        attachments = index.db.execute(
            "SELECT filename, mime_type, size, decoded_size, encoding FROM attachments"
            " WHERE message_id = ? ORDER BY id",
            [row[14]],
        ).fetchall()
        assert [(a[0], a[1]) for a in attachments] == [
            (t.filename, t.mime_type) for t in msg.attachments
        ], where
        for got, want in zip(attachments, msg.attachments, strict=True):
            if want.encoding == "base64":
                assert abs(got[3] - want.decoded_size) <= want.decoded_size * 0.005 + 3, where
            elif want.encoding in ("7bit", "8bit") and want.mime_type != "message/rfc822":
                assert got[3] == want.decoded_size, where


def test_roles_and_names(index: Index, server: Dovecot) -> None:
    sync(index, server)
    roles = {f.path: f.role for f in index.folders(index.account("work")["id"])}
    assert roles["INBOX"] == "inbox"
    for path, role in [
        ("Sent", "sent"),
        ("Drafts", "drafts"),
        ("Trash", "trash"),
        ("Junk", "junk"),
        ("Archives", "archive"),
    ]:
        assert roles[path] == role
    assert "Projets/Délibérations" in roles


def test_malformed_messages_are_kept_with_their_size(index: Index, server: Dovecot) -> None:
    report = sync(index, server)
    malformed = [m for m in standard_mailbox() if m.malformed]
    assert {m.malformed for m in malformed} >= set(mailgen.MALFORMED_KINDS)
    for m in malformed:
        size = index.db.execute(
            "SELECT size FROM messages WHERE size = ? AND coalesce(message_id, '') = ?",
            [m.size, m.message_id or ""],
        ).fetchone()
        assert size is not None, m.malformed
    problems = index.db.execute(
        "SELECT count(*) FROM messages WHERE problems IS NOT NULL"
    ).fetchone()[0]
    assert report.problems == problems


# -- incremental cases ----------------------------------------------------------------------


def test_unchanged_resync_does_nothing(index: Index, server: Dovecot) -> None:
    sync(index, server)
    again = sync(index, server)
    assert (again.new, again.removed, again.flag_changes) == (0, 0, 0)
    assert again.folders_added == again.folders_removed == again.reset_folders == []
    assert_matches_server(index, server)


def test_new_flags_and_expunges(index: Index, server: Dovecot) -> None:
    sync(index, server)
    c = server.client(USER)
    c.select_folder("INBOX")
    uids = sorted(c.search("ALL"))
    c.remove_flags(uids[:5], [b"\\Seen", b"\\Flagged"])
    c.add_flags(uids[5:8], [b"\\Flagged"])
    c.delete_messages(uids[-4:])
    c.expunge()
    for i in range(3):
        c.append("INBOX", b"From: x@example.org\r\nSubject: new %d\r\n\r\nbody\r\n" % i)
    c.logout()
    report = sync(index, server)
    assert report.new == 3
    assert report.removed == 4
    assert report.flag_changes >= 3  # the first five may already have been unseen/unflagged
    assert_matches_server(index, server)
    flagged = index.db.execute(
        "SELECT uid FROM messages m JOIN folders f ON f.id = m.folder_id"
        " WHERE f.path = 'INBOX' AND flagged = 1"
    ).fetchall()
    assert sorted(u for (u,) in flagged if u in uids[:8]) == uids[5:8]


def test_uidvalidity_change_reindexes_the_folder(index: Index, server: Dovecot) -> None:
    sync(index, server)
    c = server.client(USER)
    c.select_folder("Junk")
    junk = c.search("ALL")
    c.close_folder()
    c.delete_folder("Junk")
    c.create_folder("Junk")
    c.append("Junk", b"From: spam@example.net\r\nSubject: only one\r\n\r\nx\r\n")
    c.logout()
    report = sync(index, server)
    assert report.reset_folders == ["Junk"]
    assert report.removed == len(junk)
    assert_matches_server(index, server)


def test_folders_created_deleted_renamed(index: Index, server: Dovecot) -> None:
    sync(index, server)
    year = sorted(p for p in indexed_by_folder(index) if p.startswith("Archives/"))[-1]
    before = indexed_by_folder(index)[year]
    c = server.client(USER)
    c.create_folder("Nouveau dossier")
    c.rename_folder(year, "Archives/Ancien")
    c.delete_folder("Drafts")
    c.logout()
    report = sync(index, server)
    assert report.folders_added == ["Nouveau dossier"]
    assert report.folders_removed == ["Drafts"]
    assert report.folders_renamed == [(year, "Archives/Ancien")]
    assert report.new == 0  # a renamed folder keeps its messages: nothing is fetched again
    assert indexed_by_folder(index)["Archives/Ancien"] == before
    assert_matches_server(index, server)


def test_only_some_folders_and_unknown_folder(index: Index, server: Dovecot) -> None:
    report = sync(index, server, folders=["Sent"])
    assert report.folders == 1
    assert report.new == server.status(USER)["Sent"][0]
    with pytest.raises(FolderNotFound, match="Nope"):
        sync(index, server, folders=["Nope"])


def test_full_resync_starts_over(index: Index, server: Dovecot) -> None:
    sync(index, server)
    report = sync(index, server, full=True)
    assert report.new == len(standard_mailbox())
    assert_matches_server(index, server)


# -- interruptions --------------------------------------------------------------------------
# A sync stopped by Ctrl-C or a lost connection and resumed: the connector contract
# (tests/test_contract.py, test_interrupted_sync_resumes_from_the_last_batch), on every
# connector; here, what only IMAP has (retries, worker processes, a killed transaction).


def test_dropped_connection_is_retried(
    index: Index, server: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imap_limits, "FETCH_CHUNK", 50)
    original = ImapConnector._fetch_raw
    calls = 0

    def drop_once(self, uids):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 2:
            self.client._imap.sock.shutdown(2)  # the network goes away under the client
        return original(self, uids)

    monkeypatch.setattr(ImapConnector, "_fetch_raw", drop_once)
    waits: list[float] = []
    report = sync(index, server, sleep=waits.append)
    assert report.reconnections == 1 and waits == [1.0]
    assert report.new == len(standard_mailbox())
    assert_matches_server(index, server)


def test_connection_that_stays_down_is_reported(index: Index, server: Dovecot) -> None:
    conn = imap_connector(server)

    def always_down() -> None:
        raise ConnectionFailed("down")

    conn.list_folders = always_down  # type: ignore[method-assign]
    waits: list[float] = []
    with pytest.raises(ConnectionFailed):
        sync_account(index, "work", conn, retries=3, sleep=waits.append)
    assert waits == [1.0, 2.0, 4.0]


def test_killed_mid_transaction_leaves_a_consistent_index(
    index: Index, server: Dovecot, tmp_path: Path
) -> None:
    """kill -9 inside the third batch's transaction: SQLite rolls it back on next open."""
    index.close()
    script = textwrap.dedent(f"""
        import os, signal
        from mailclean.connectors.imap import limits
        from mailclean.connectors.imap import ImapConnector, ImapSettings
        from mailclean.index import Index
        from mailclean.sync import sync_account
        limits.FETCH_CHUNK = 40
        calls = 0
        original = Index._save_state
        def die_in_third(self, folder_id, state):
            global calls
            original(self, folder_id, state)
            if state.cursor:
                calls += 1
                if calls == 3:
                    os.kill(os.getpid(), signal.SIGKILL)  # rows inserted, not committed
        Index._save_state = die_in_third
        idx = Index({str(tmp_path / "index.db")!r})
        sync_account(idx, "work", ImapConnector(ImapSettings(
            host="127.0.0.1", port={server.port}, user="{USER}", password="{PASSWORD}",
            security="none")), folders=["INBOX"])
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    idx = Index(tmp_path / "index.db")
    try:
        assert idx.db.execute("SELECT count(*) FROM messages").fetchone()[0] == 80
        assert idx.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        report = sync_account(idx, "work", imap_connector(server))
        assert report.new == len(standard_mailbox()) - 80
        assert_matches_server(idx, server)
    finally:
        idx.close()


def test_parallel_parsing_gives_the_same_index(
    dovecot: Dovecot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large folders are parsed by worker processes: same rows as inline parsing."""
    dovecot.reset_user(USER)
    dovecot.seed(USER, standard_mailbox())
    monkeypatch.setattr(imap_limits, "FETCH_CHUNK", 25)
    contents = []
    for threshold in (10**9, 1):
        monkeypatch.setattr(imap_limits, "PARALLEL_FROM", threshold)
        idx = Index(tmp_path / f"p{threshold}.db")
        conn = imap_connector(dovecot)
        sync_account(idx, "work", conn)
        assert conn._pool is None  # closed with the connector
        contents.append(
            idx.db.execute(
                "SELECT folder_id, uid, subject, size, date, thread_key, attachment_count"
                " FROM messages ORDER BY folder_id, uid"
            ).fetchall()
        )
        idx.close()
    assert contents[0] == contents[1] and len(contents[0]) == len(standard_mailbox())


def test_interrupted_parallel_sync_resumes(
    index: Index, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    dovecot.reset_user(USER)
    dovecot.seed(USER, standard_mailbox())
    monkeypatch.setattr(imap_limits, "FETCH_CHUNK", 20)
    monkeypatch.setattr(imap_limits, "PARALLEL_FROM", 1)
    original = Index.add_messages
    calls = 0

    def interrupt_on_fourth(self, *args, **kw):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 4:
            raise KeyboardInterrupt
        return original(self, *args, **kw)

    monkeypatch.setattr(Index, "add_messages", interrupt_on_fourth)
    with pytest.raises(KeyboardInterrupt):
        sync(index, dovecot, folders=["INBOX"])
    assert index.db.execute("SELECT count(*) FROM messages").fetchone()[0] == 60
    monkeypatch.setattr(Index, "add_messages", original)
    report = sync(index, dovecot)
    assert report.new == len(standard_mailbox()) - 60
    assert_matches_server(index, dovecot)


# -- both servers give the same index --------------------------------------------------------


def test_minimal_server_gives_identical_results(
    dovecot: Dovecot, dovecot_minimal: Dovecot, tmp_path: Path
) -> None:
    contents = []
    for srv, name in ((dovecot, "full"), (dovecot_minimal, "minimal")):
        srv.reset_user(USER)
        srv.seed(USER, standard_mailbox())
        idx = Index(tmp_path / f"{name}.db")
        sync_account(idx, "work", imap_connector(srv))
        contents.append(
            sorted(
                idx.db.execute(
                    "SELECT f.path, f.role, m.message_id, m.subject, m.size, m.seen, m.flagged,"
                    " m.date, m.thread_key, m.attachment_count, m.attachment_bytes,"
                    " (SELECT group_concat(a.filename || ':' || a.decoded_size, '|')"
                    "  FROM attachments a WHERE a.message_id = m.id)"
                    " FROM messages m JOIN folders f ON f.id = m.folder_id"
                ).fetchall(),
                key=repr,
            )
        )
        idx.close()
    assert contents[0] == contents[1]


# -- errors ---------------------------------------------------------------------------------


def test_wrong_password(dovecot: Dovecot) -> None:
    with pytest.raises(AuthenticationError, match="refused the login of user1"):
        imap_connector(dovecot, password="wrong").connect()


def test_unreachable_server(dovecot: Dovecot) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    with pytest.raises(ConnectionFailed, match="cannot connect"):
        imap_connector(dovecot, port=port, timeout=5).connect()


def test_tls_is_verified_unless_told_otherwise(dovecot: Dovecot) -> None:
    assert dovecot.tls_port
    with pytest.raises(TLSError, match="--insecure-tls"):
        imap_connector(dovecot, port=dovecot.tls_port, security="ssl").connect()
    # The self-signed certificate names localhost.
    for kw in ({"cafile": str(dovecot.cafile)}, {"insecure_tls": True}):
        conn = imap_connector(dovecot, host="localhost", port=dovecot.tls_port, security="ssl",
                              **kw)
        conn.connect()
        assert conn.list_folders()
        conn.close()


def test_quota_matches_dovecot_rule(index: Index, server: Dovecot) -> None:
    """STORAGE is the sum of RFC822.SIZE in KiB, rounded up; the index keeps bytes."""
    sync(index, server)
    account = index.account("work")
    vsize = sum(b for _, b in server.status(USER).values())
    assert account["quota_used"] == math.ceil(vsize / 1024) * 1024
    assert account["quota_limit"] == 1024**3


def test_list_status_gives_the_same_folders_in_one_command(dovecot: Dovecot) -> None:
    """With LIST-STATUS the counters of every folder come with LIST: no STATUS per folder."""
    dovecot.reset_user(USER)
    dovecot.seed(USER, standard_mailbox())
    conn = imap_connector(dovecot)
    conn.connect()
    try:
        assert "LIST-STATUS" in conn.capabilities
        per_folder = conn.client.folder_status  # type: ignore[union-attr]

        def refuse(*args: object) -> None:
            raise AssertionError("STATUS sent although LIST-STATUS is advertised")

        conn.client.folder_status = refuse  # type: ignore[union-attr, method-assign]
        combined = conn.list_folders()
        conn.client.folder_status = per_folder  # type: ignore[union-attr, method-assign]
        conn.capabilities = conn.capabilities - {"LIST-STATUS"}
        assert conn.list_folders() == combined
        assert "Projets/Délibérations" in {f.path for f in combined}
        assert all(f.messages is not None for f in combined if f.selectable)
    finally:
        conn.close()


# -- a server that reads a command otherwise must be loud (issue 13.1) ---------------------


class _MisreadsUidSets(ImapConnector):
    """A server like GNU Mailutils, which reads the set of ``UID SEARCH UID`` as message
    numbers: its list of new UIDs lacks some (here, every other one)."""

    def _list_uids(self, low: int, high: int | None = None) -> list[int]:
        return super()._list_uids(low, high)[::2]


def test_a_folder_the_index_disagrees_with_is_reported(index: Index, server: Dovecot) -> None:
    c = _MisreadsUidSets(ImapSettings(server.host, USER, PASSWORD, port=server.port,
                                      security="none"))
    report = sync_account(index, "work", c, sleep=lambda s: None)
    truth = server.status(USER)
    mismatched = {f: (n, i) for f, n, i in report.count_mismatches}
    assert "INBOX" in mismatched
    assert mismatched["INBOX"][0] == truth["INBOX"][0] > mismatched["INBOX"][1]
    assert all(n == truth[f][0] for f, (n, _i) in mismatched.items())
    assert report.as_dict()["count_mismatches"][0]["server_messages"] == mismatched[
        report.count_mismatches[0][0]][0]
    # A sync that indexes everything reports nothing.
    assert not sync(index, server).count_mismatches


def test_a_listed_uid_the_server_answers_bad_for_is_skipped_alone(
    index: Index, server: Dovecot
) -> None:
    """Issue 13.1: Mailutils answers BAD to a UID FETCH naming a UID that no longer
    exists, which failed the whole batch: the batch is split and only that one skipped."""
    victim = 17

    class BadOnOne(ImapConnector):
        folder = ""

        def _select(self, path: str) -> dict:
            self.folder = path
            return super()._select(path)

        def _uid_command(self, *args: str) -> list:
            if self.folder == "INBOX" and args[0] == "FETCH" and "BODYSTRUCTURE" in args[-1]:
                uids = imapwire.expand_sequence_set(args[1].encode())
                if victim in uids:
                    raise imap_module.Refused(self.settings.host, "UID FETCH", "BAD",
                                              [b"Invalid uidset"])
            return super()._uid_command(*args)

    c = BadOnOne(ImapSettings(server.host, USER, PASSWORD, port=server.port, security="none"))
    report = sync_account(index, "work", c, sleep=lambda s: None)
    truth = server.status(USER)
    indexed = {f: n for f, (n, _b) in indexed_by_folder(index).items()}
    assert indexed == {f: n - (f == "INBOX") for f, (n, _b) in truth.items()}
    # The one message left out is said loudly: its folder's count disagrees.
    assert [(f, n - i) for f, n, i in report.count_mismatches] == [("INBOX", 1)]


def test_the_first_connection_is_retried_and_a_dead_server_is_bounded(
    index: Index, server: Dovecot
) -> None:
    """Issue 13.8: a cut during the greeting is retried like any dropped connection; a
    server that never answers is given up on within the deadline, saying when it stopped
    and what was stored."""
    attempts = []

    class FlakyGreeting(ImapConnector):
        def connect(self) -> None:
            attempts.append(1)
            if len(attempts) < 3:
                raise ConnectionFailed("cannot connect: the server closed the connection")
            super().connect()

    c = FlakyGreeting(ImapSettings(server.host, USER, PASSWORD, port=server.port,
                                   security="none"))
    waits: list[float] = []
    report = sync_account(index, "work", c, sleep=waits.append)
    assert len(attempts) == 3 and waits == [1.0, 2.0] and report.reconnections == 1
    assert_matches_server(index, server)

    class Dead(ImapConnector):
        def connect(self) -> None:
            raise ConnectionFailed("cannot connect to x: the server stopped answering")

    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds + 30.0  # each attempt also waits its 30 s read timeout

    import mailclean.retry as retry_module

    real = retry_module.time.monotonic
    retry_module.time.monotonic = lambda: clock[0]  # type: ignore[assignment]
    try:
        with pytest.raises(ConnectionFailed) as caught:
            sync_account(index, "work", Dead(ImapSettings(server.host, USER, PASSWORD,
                                                          port=server.port)),
                         sleep=sleep, retries=10)
    finally:
        retry_module.time.monotonic = real  # type: ignore[assignment]
    message = str(caught.value)
    assert "the server stopped answering" in message and "since" in message
    assert "run the sync again" in message
    assert clock[0] <= retry_module.DEFAULT_DEADLINE + 30
