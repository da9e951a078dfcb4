"""The index: migrations, WAL, transactional writes, replacement semantics, stats."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mailclean.connectors.base import AttachmentMeta, FolderInfo, FolderState, MessageMeta, Quota
from mailclean.index import Index, IndexFileError


def inbox_totals(index: Index, account: int) -> tuple[int, int]:
    folder = next(f for f in index.stats(account)["folders"] if f["name"] == "INBOX")
    return folder["messages"], folder["bytes"]


def meta(uid: int, size: int = 100, attachments: int = 0, **kw: object) -> MessageMeta:
    return MessageMeta(
        server_id=str(uid),
        uid=uid,
        size=size,
        sender="a@example.org",
        attachments=[
            AttachmentMeta(
                part=str(i + 2),
                filename=f"f{i}.pdf",
                mime_type="application/pdf",
                size=40,
                decoded_size=30,
            )
            for i in range(attachments)
        ],
        **kw,
    )


@pytest.fixture
def index(tmp_path: Path) -> Index:
    idx = Index(tmp_path / "index.db")
    yield idx
    idx.close()


def test_schema_wal_and_migrations_recorded(index: Index, tmp_path: Path) -> None:
    assert {"accounts", "folders", "messages", "attachments"} <= set(index.db.table_names())
    assert index.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    applied = [r["name"] for r in index.db["_sqlite_migrations"].rows]
    assert applied[:3] == ["m001_accounts_folders_messages", "m002_hits_and_scans",
                           "m003_journal"]
    assert applied[-1] == "m007_threads_and_copies"
    assert {"hits", "scans", "actions", "action_items"} <= set(index.db.table_names())
    index.close()
    again = Index(tmp_path / "index.db")  # reopening applies nothing twice
    assert len(list(again.db["_sqlite_migrations"].rows)) == len(applied)
    again.close()


def test_not_an_index(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(IndexFileError, match="cannot open the index"):
        Index(bad)


def test_add_replace_remove_flags(index: Index) -> None:
    acc = index.ensure_account("work", "imap", "me@example.org")
    assert index.ensure_account("work", "imap") == acc
    fid = index.add_folder(acc, FolderInfo(path="INBOX", role="inbox"))
    index.add_messages(acc, fid, [meta(1, 100, 2), meta(2, 200)], FolderState(1, cursor=2))
    assert inbox_totals(index, acc) == (2, 300)
    assert index.known_ids(fid) == {"1", "2"}
    row = index.folders(acc)[0]
    assert row.state.cursor == 2 and row.state.uidvalidity == 1 and row.state.indexed == 2
    # Same server id again: replaced whole, attachments included, no duplicates.
    index.add_messages(acc, fid, [meta(1, 150, 1)], FolderState(1, cursor=2))
    assert inbox_totals(index, acc) == (2, 350)
    n_att = index.db.execute("SELECT count(*) FROM attachments").fetchone()[0]
    assert n_att == 1
    assert index.update_flags(fid, [("1", True, True), ("2", False, False)]) == 1
    assert index.db.execute("SELECT seen, flagged FROM messages WHERE uid = 1").fetchone() == (1, 1)
    assert index.remove_messages(fid, ["1", "99"]) == 1
    assert index.db.execute("SELECT count(*) FROM attachments").fetchone()[0] == 0
    assert index.reset_folder(fid, FolderState(7)) == 1
    assert index.folders(acc)[0].state == FolderState(uidvalidity=7)


def test_failed_batch_leaves_nothing(index: Index) -> None:
    acc = index.ensure_account("work", "imap")
    fid = index.add_folder(acc, FolderInfo(path="INBOX"))
    bad = meta(2)
    bad.size = None  # type: ignore[assignment]  # NOT NULL: the whole batch must roll back
    with pytest.raises(sqlite3.IntegrityError):
        index.add_messages(acc, fid, [meta(1), bad], FolderState(1, cursor=2))
    assert inbox_totals(index, acc) == (0, 0)
    assert index.folders(acc)[0].state.cursor == 0


def test_stats_quota_and_folders(index: Index) -> None:
    acc = index.ensure_account("work", "imap")
    inbox = index.add_folder(acc, FolderInfo(path="INBOX", role="inbox"))
    big = index.add_folder(acc, FolderInfo(path="Archives", role="archive"))
    index.add_folder(acc, FolderInfo(path="Empty"))
    index.add_messages(acc, inbox, [meta(1, 10, problems=["bad"]), meta(2, 20)], FolderState())
    index.add_messages(acc, big, [meta(1, 1000, 3)], FolderState())
    index.set_quota(acc, Quota(used=2048, limit=4096, root="User quota"))
    stats = index.stats(acc)
    assert stats["messages"] == 3 and stats["bytes"] == 1030
    assert stats["attachment_bytes"] == 120
    assert stats["messages_with_problems"] == 1
    assert [f["name"] for f in stats["folders"]] == ["Archives", "INBOX", "Empty"]
    assert stats["folders"][2]["messages"] == 0
    assert index.account("work")["quota_limit"] == 4096
    assert index.delete_folder(big) == 1
    assert index.stats(acc)["messages"] == 2
    assert index.remove_account("work") is True
    assert index.db.execute("SELECT count(*) FROM messages").fetchone()[0] == 0


# -- threads and copies: counted by the index, always what a GROUP BY would say -----------

_op = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(["INBOX", "Archive"]), st.lists(
        st.tuples(
            st.integers(1, 6),                                       # server id
            st.sampled_from([None, "t1", "t2", "t3"]),               # thread
            st.sampled_from([None, "a@x", "b@x"]),                   # Message-ID
            st.sampled_from([100, 200]),                             # size
            st.sampled_from([None, "2020-01-01T00:00:00+00:00", "2024-05-01T00:00:00+00:00"]),
            st.sampled_from([None, "2021-03-01T00:00:00+00:00"]),  # received
        ), max_size=4, unique_by=lambda m: m[0])),
    st.tuples(st.just("remove"), st.sampled_from(["INBOX", "Archive"]),
              st.lists(st.integers(1, 6), max_size=4)),
    st.tuples(st.just("move"), st.sampled_from(["INBOX", "Archive"]),
              st.lists(st.integers(1, 6), max_size=4)),
    st.tuples(st.just("reset"), st.sampled_from(["INBOX", "Archive"]), st.just([])),
    st.tuples(st.just("drop account"), st.just("INBOX"), st.just([])),
)


@settings(max_examples=80, deadline=None)
@given(st.lists(_op, max_size=12))
@example([("add", "INBOX", [(1, "t1", "a@x", 100, "2020-01-01T00:00:00+00:00", None),
                            (2, "t1", "a@x", 100, "2024-05-01T00:00:00+00:00", None)]),
          ("remove", "INBOX", [2])])  # the latest message of a thread goes
def test_threads_and_copies_follow_every_write(tmp_path_factory, ops: list) -> None:  # type: ignore[no-untyped-def]
    """Whatever the sync and the actions do to the messages (add, replace, remove, move,
    reset a folder, remove the account), the tables the rules read instead of grouping
    every message hold exactly what grouping would give."""
    index = Index(tmp_path_factory.mktemp("t") / "index.db")
    try:
        def folders() -> tuple[int, dict[str, int]]:
            acc = index.ensure_account("a", "imap")
            return acc, {p: index.add_folder(acc, FolderInfo(path=p)) for p in ("INBOX", "Archive")}

        acc, ids = folders()
        other = index.ensure_account("b", "imap")  # never touched: must keep its rows
        index.add_messages(other, index.add_folder(other, FolderInfo(path="INBOX")),
                           [meta(1, thread_key="t1", message_id="a@x")], FolderState())
        for kind, folder, args in ops:
            if kind == "add":
                index.add_messages(acc, ids[folder], [
                    meta(uid, size=size, thread_key=thread, message_id=mid, date=date,
                         received_at=received)
                    for uid, thread, mid, size, date, received in args], FolderState())
            elif kind == "remove":
                index.remove_messages(ids[folder], [str(u) for u in args])
            elif kind == "move":
                target = ids["Archive" if folder == "INBOX" else "INBOX"]
                index.follow_moves(ids[folder], {str(u): str(100 + u) for u in args}, target)
            elif kind == "reset":
                index.reset_folder(ids[folder], FolderState())
            else:
                index.remove_account("a")
                acc, ids = folders()
            assert sorted(index.conn.execute("SELECT * FROM threads")) == sorted(
                index.conn.execute(
                    "SELECT account_id, thread_key, max(coalesce(date, received_at)), count(*)"
                    " FROM messages WHERE thread_key IS NOT NULL GROUP BY 1, 2"))
            assert sorted(index.conn.execute("SELECT * FROM copies")) == sorted(
                index.conn.execute(
                    "SELECT account_id, message_id, size, count(*) FROM messages"
                    " WHERE message_id IS NOT NULL GROUP BY 1, 2, 3"))
    finally:
        index.close()


def test_m007_counts_the_threads_and_copies_of_an_older_index(tmp_path: Path) -> None:
    from sqlite_utils import Database

    from mailclean.index.migrations import migrations

    db = Database(tmp_path / "old.db")
    migrations.apply(db, stop_before="m007_threads_and_copies")
    db.executescript(
        """
        INSERT INTO accounts (id, name, kind) VALUES (1, 'a', 'imap');
        INSERT INTO folders (id, account_id, path) VALUES (1, 1, 'INBOX'), (2, 1, 'Archive');
        INSERT INTO messages (id, account_id, folder_id, server_id, size, thread_key,
                              message_id, date, received_at) VALUES
            (1, 1, 1, '1', 100, 't', 'a@x', '2020-01-01', NULL),
            (2, 1, 2, '1', 100, 't', 'a@x', NULL, '2022-01-01'),
            (3, 1, 1, '2', 300, NULL, 'b@x', '2024-01-01', NULL);
        """
    )
    db.close()
    index = Index(tmp_path / "old.db")
    try:
        assert index.conn.execute("SELECT * FROM threads").fetchall() == [(1, "t", "2022-01-01", 2)]
        assert sorted(index.conn.execute("SELECT * FROM copies")) == [
            (1, "a@x", 100, 2), (1, "b@x", 300, 1)]
        index.remove_messages(2, ["1"])  # the thread's latest goes: its date is recomputed
        assert index.conn.execute("SELECT * FROM threads").fetchall() == [(1, "t", "2020-01-01", 1)]
        assert index.conn.execute(
            "SELECT copies FROM copies WHERE message_id = 'a@x'").fetchone() == (1,)
    finally:
        index.close()
