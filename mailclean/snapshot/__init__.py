"""Organisation-wide mailbox volume snapshots, for cleanup challenges and their reports.

An admin measures every mailbox listed in an accounts file (mailbox, team), through an IMAP
master user, proxy authorization or per-mailbox passwords, or Exchange (EWS) impersonation,
before, during and after a cleanup; :mod:`mailclean.report` compares two snapshots per
team and per mailbox.

- :mod:`~mailclean.snapshot.accounts`: the accounts and credentials CSV files.
- :mod:`~mailclean.snapshot.store`: the snapshots file (SQLite, aggregates only).
- :mod:`~mailclean.snapshot.measure`: how one mailbox is reached and measured, read-only.
- :mod:`~mailclean.snapshot.runner`: many mailboxes, bounded concurrency, timeouts,
  retries, resumable.
- :mod:`~mailclean.snapshot.options`: what ``take`` and ``compare`` were asked, merged with
  what a resumed snapshot remembers and the defaults, and checked (no click).
- :mod:`~mailclean.snapshot.cli`: the ``mailclean snapshot`` group; its commands are in
  ``take_command``, ``browse_commands`` (list, show, remove), ``compare_command`` and
  ``demo_command``, what they print in ``summaries``.

Privacy by construction: what a snapshot stores has no place for a subject, an address of
a correspondent, a file name, a message id or a folder name (folders are summed per role).
"""

from __future__ import annotations

import os
from pathlib import Path

from mailclean.snapshot.accounts import (
    AccountsFileError,
    Credential,
    MailboxEntry,
    read_accounts,
    read_credentials,
)
from mailclean.snapshot.measure import Access, Attempt, EwsAccess, EwsMeasure, ImapMeasure
from mailclean.snapshot.runner import LoginsRefused, RunOptions, RunSummary, SnapshotProgress, run
from mailclean.snapshot.store import (
    CATEGORIES,
    MailboxFigures,
    SnapshotError,
    SnapshotInfo,
    SnapshotStore,
)

__all__ = [
    "CATEGORIES",
    "Access",
    "AccountsFileError",
    "Attempt",
    "Credential",
    "EwsAccess",
    "EwsMeasure",
    "ImapMeasure",
    "LoginsRefused",
    "MailboxEntry",
    "MailboxFigures",
    "RunOptions",
    "RunSummary",
    "SnapshotError",
    "SnapshotInfo",
    "SnapshotProgress",
    "SnapshotStore",
    "default_snapshots_path",
    "read_accounts",
    "read_credentials",
    "run",
]


def default_snapshots_path(index_path: Path | None = None) -> Path:
    """``$MAILCLEAN_SNAPSHOTS``, else ``snapshots.db`` beside the index."""
    env = os.environ.get("MAILCLEAN_SNAPSHOTS")
    if env:
        return Path(env).expanduser()
    if index_path is None:
        from mailclean.config import default_db_path

        index_path = default_db_path()
    return index_path.with_name("snapshots.db")
