"""The index: migrations, WAL, transactional writes, replacement semantics, stats."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mailclean.index import Index, IndexFileError
from mailclean.model import FolderInfo, FolderState, Quota
from tests.support.messages import meta


def inbox_totals(index: Index, account: int) -> tuple[int, int]:
    folder = next(f for f in index.stats(account)["folders"] if f["name"] == "INBOX")
    return folder["messages"], folder["bytes"]


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
    assert applied[-1] == "m009_flags_and_quota"
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


def test_index_files_are_private(tmp_path: Path) -> None:
    """Issue 13.13: the index holds subjects, senders and attachment names: 0600 files
    (the WAL and shared-memory files too) in 0700 directories, a stricter umask kept, and an
    index left readable by others by an older version is tightened when opened."""
    import os
    import stat

    def mode(p: Path) -> int:
        return stat.S_IMODE(p.stat().st_mode)

    path = tmp_path / "data" / "mailclean" / "index.db"
    index = Index(path)
    index.ensure_account("a", "maildir")
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    assert mode(path.parent.parent) == 0o700
    assert mode(path.with_name("index.db-wal")) == 0o600
    assert mode(path.with_name("index.db-shm")) == 0o600
    index.close()
    os.chmod(path, 0o644)
    Index(path).close()
    assert mode(path) == 0o600
    old = os.umask(0o277)
    try:
        strict = Index(tmp_path / "strict" / "index.db")
        strict.close()
    finally:
        os.umask(old)
    assert mode(tmp_path / "strict") == 0o500 and mode(tmp_path / "strict" / "index.db") == 0o400
