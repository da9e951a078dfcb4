"""One way to open mailclean's SQLite files (the index, the snapshot store).

Each is a private file (0600 in a 0700 directory, see :mod:`mailclean.private`; SQLite
gives its WAL and shared-memory files the database's own permissions), opened with the
same pragmas: a busy timeout, WAL, foreign keys, and ``synchronous = NORMAL`` (with WAL,
durable across application crashes; only a power cut can lose the last transactions,
never corrupt the file). sqlite-utils plugins are not loaded: nothing else touches the
connection, and loading them scans every installed package's entry points.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlite_utils import Database

from mailclean.private import private_file, tighten


def open_database(path: Path, check: Callable[[Database], None] | None = None) -> Database:
    """Open (creating it private) the SQLite file at ``path``.

    ``check`` runs before WAL is enabled and may raise to refuse the file (a snapshot
    store given an index). Raises sqlite3.DatabaseError and OSError.
    """
    private_file(path)
    for suffix in ("-wal", "-shm"):
        tighten(path.with_name(path.name + suffix))
    db = Database(path, execute_plugins=False)
    db.execute("PRAGMA busy_timeout = 10000")
    if check is not None:
        check(db)
    db.enable_wal()
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA synchronous = NORMAL")
    return db
