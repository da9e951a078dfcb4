"""The snapshots file is opened as the index is (:mod:`mailclean.sqlite`): private files in
private directories, and the same pragmas."""

from __future__ import annotations

import stat
from pathlib import Path

from mailclean.snapshot import SnapshotStore


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_snapshots_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "admin" / "data" / "snapshots.db"
    with SnapshotStore(path) as store:
        store.create("jan", "quick", None, {}, [("a@x.org", None, "Finances", None)])
        assert mode(path) == 0o600
        assert mode(path.parent) == 0o700 and mode(path.parent.parent) == 0o700
        assert mode(path.with_name("snapshots.db-wal")) == 0o600
        assert mode(path.with_name("snapshots.db-shm")) == 0o600


def test_an_existing_file_loses_group_and_other_permissions(tmp_path: Path) -> None:
    path = tmp_path / "snapshots.db"
    SnapshotStore(path).close()
    path.chmod(0o644)
    with SnapshotStore(path) as store:
        assert [s.label for s in store.list()] == []
    assert mode(path) == 0o600


def test_the_pragmas_of_the_index(tmp_path: Path) -> None:
    with SnapshotStore(tmp_path / "snapshots.db") as store:
        pragmas = {
            name: store.conn.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")
        }
    assert pragmas == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "synchronous": 1,  # NORMAL
        "busy_timeout": 10000,
    }
