"""The snapshot store: its own SQLite file of volume aggregates, never of mail.

Separate from the index on purpose: the index holds subjects, senders and file names of the
user's own mailbox; this file holds, for many people's mailboxes, numbers only. Its tables
have no column where a subject, an address of a correspondent, a file name or a folder name
could go: folders are stored as aggregates per *role* (inbox, sent, drafts, trash, junk,
archive) plus one ``other`` bucket, because the names people give their own folders
("Candidatures/Dupont", "Arrêt maladie") can be personal data.

A folder that cannot be read (permissions, a server error on that folder only) does not
fail its mailbox: the rest is measured and the mailbox is recorded as measured *in part*,
with the number of such folders and their roles (``unreadable_folders``,
``unreadable_roles``), never their names. The names are shown on the admin's terminal
while the snapshot runs, and kept nowhere.

Each measured mailbox is written in its own transaction, so an interrupted run loses at most
the mailboxes being measured at that moment, and ``--resume`` carries on with the rest.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from mailclean.i18n import _
from mailclean.report import MailboxRow
from mailclean.sqlite import open_database

#: The cleanup categories a full snapshot measures: the built-in rules of the same names.
CATEGORIES = (
    "large-attachments",
    "newsletters",
    "old-threads",
    "trash-and-junk",
    "duplicates",
    "notifications",
    "sent-attachments",
)
#: Folder roles kept apart; every other folder is summed into "other".
ROLES = ("inbox", "sent", "drafts", "trash", "junk", "archive", "other")

migrations = Migrations("mailclean-snapshots")


def category_column(category: str) -> str:
    """The snapshot_mailboxes column of a category: ``large_attachments_bytes``..."""
    return category.replace("-", "_") + "_bytes"


@migrations()
def m001_snapshots(db: Database) -> None:
    """Snapshots, their mailboxes (aggregates per mailbox) and folder aggregates per role."""
    categories = "".join(f"            {category_column(c)} INTEGER,\n" for c in CATEGORIES)
    db.executescript(
        f"""
        CREATE TABLE snapshots (
            id INTEGER PRIMARY KEY,
            label TEXT NOT NULL UNIQUE,
            taken_at TEXT NOT NULL,
            finished_at TEXT,
            depth TEXT NOT NULL CHECK (depth IN ('quick', 'full')),
            scope TEXT,
            options TEXT,
            state TEXT NOT NULL DEFAULT 'running'
                CHECK (state IN ('running', 'interrupted', 'complete'))
        );
        CREATE TABLE snapshot_mailboxes (
            id INTEGER PRIMARY KEY,
            snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
            mailbox TEXT NOT NULL,
            login TEXT,
            team TEXT NOT NULL,
            display_name TEXT,
            state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
            error TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            measured_at TEXT,
            seconds REAL,
            messages INTEGER,
            bytes INTEGER,
            quota_used INTEGER,
            quota_limit INTEGER,
            size_source TEXT,
{categories}            reclaimable_messages INTEGER,
            reclaimable_bytes INTEGER,
            UNIQUE (snapshot_id, mailbox)
        );
        CREATE INDEX snapshot_mailboxes_state ON snapshot_mailboxes (snapshot_id, state, id);
        CREATE INDEX snapshot_mailboxes_team ON snapshot_mailboxes (snapshot_id, team);
        CREATE TABLE snapshot_folders (
            snapshot_id INTEGER NOT NULL,
            mailbox TEXT NOT NULL,
            role TEXT NOT NULL,
            folders INTEGER NOT NULL,
            messages INTEGER NOT NULL,
            bytes INTEGER NOT NULL,
            PRIMARY KEY (snapshot_id, mailbox, role),
            FOREIGN KEY (snapshot_id, mailbox)
                REFERENCES snapshot_mailboxes (snapshot_id, mailbox) ON DELETE CASCADE
        );
        """
    )


@migrations()
def m002_unreadable_folders(db: Database) -> None:
    """Mailboxes measured in part: how many folders could not be read, and their roles."""
    db.executescript(
        """
        ALTER TABLE snapshot_mailboxes ADD COLUMN unreadable_folders INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE snapshot_mailboxes ADD COLUMN unreadable_roles TEXT;
        """
    )


class SnapshotError(Exception):
    """A snapshot command cannot go on; the message says why, for the user."""


@dataclass(frozen=True, slots=True)
class FolderFigures:
    """The folders of one role in one mailbox: how many, their messages and bytes."""

    folders: int
    messages: int
    bytes: int


@dataclass(frozen=True, slots=True)
class UnreadableFolder:
    """A folder that could not be measured. Only its role is stored: its name and the
    error (which may quote the name) are for the admin's terminal."""

    role: str
    name: str
    error: str


@dataclass(slots=True)
class MailboxFigures:
    """What a snapshot keeps of one mailbox: numbers only."""

    messages: int
    bytes: int
    roles: dict[str, FolderFigures] = field(default_factory=dict)
    quota_used: int | None = None
    quota_limit: int | None = None
    size_source: str = "status"
    """How folder sizes were read: "status" (STATUS=SIZE), "fetch" (sum of RFC822.SIZE)."""
    categories: dict[str, int] | None = None
    """Bytes per cleanup category (full snapshots only)."""
    reclaimable_messages: int | None = None
    reclaimable_bytes: int | None = None
    unreadable: list[UnreadableFolder] = field(default_factory=list)
    """Folders left out because they could not be read: the figures are the rest's."""


@dataclass(frozen=True, slots=True)
class PendingMailbox:
    """A mailbox still to measure in a snapshot."""

    id: int
    mailbox: str
    login: str | None
    team: str


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """A snapshot and how far it got."""

    id: int
    label: str
    taken_at: str
    finished_at: str | None
    depth: str
    scope: str | None
    options: dict
    state: str
    total: int = 0
    done: int = 0
    failed: int = 0
    messages: int = 0
    bytes: int = 0
    partial: int = 0
    """Mailboxes measured in part: some of their folders could not be read."""

    @property
    def pending(self) -> int:
        """Mailboxes not measured yet."""
        return self.total - self.done - self.failed

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "id": self.id,
            "label": self.label,
            "taken_at": self.taken_at,
            "finished_at": self.finished_at,
            "depth": self.depth,
            "scope": self.scope,
            "state": self.state,
            "mailboxes": self.total,
            "done": self.done,
            "failed": self.failed,
            "partial": self.partial,
            "pending": self.pending,
            "messages": self.messages,
            "bytes": self.bytes,
            "options": self.options,
        }


def utcnow() -> str:
    """Current time as UTC ISO-8601 with seconds."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


_INFO_SQL = """
    SELECT s.id, s.label, s.taken_at, s.finished_at, s.depth, s.scope, s.options, s.state,
           count(m.id), coalesce(sum(m.state = 'done'), 0), coalesce(sum(m.state = 'failed'), 0),
           coalesce(sum(m.messages), 0), coalesce(sum(m.bytes), 0),
           coalesce(sum(m.state = 'done' AND m.unreadable_folders > 0), 0)
    FROM snapshots s LEFT JOIN snapshot_mailboxes m ON m.snapshot_id = s.id
"""


class SnapshotStore:
    """The snapshots file, migrated on open. Only one thread uses it: the runner's.

    Opened as the index is (:func:`mailclean.sqlite.open_database`): private, 0600 in a
    0700 directory (its WAL and shared-memory files too), busy timeout, WAL, foreign keys,
    ``synchronous = NORMAL``; an index given instead is refused before WAL is enabled."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            # Private (0600 in a 0700 directory), with the index's pragmas: mailclean.sqlite.
            self.db = open_database(self.path, check=self._refuse_an_index)
            migrations.apply(self.db)
        except sqlite3.DatabaseError as exc:
            raise SnapshotError(
                _("cannot open the snapshots file {path}: {error}").format(
                    path=self.path, error=exc
                )
            ) from exc
        except OSError as exc:
            raise SnapshotError(
                _("cannot open the snapshots file {path}: {error}").format(
                    path=self.path, error=exc.strerror or exc
                )
            ) from exc
        self.conn: sqlite3.Connection = self.db.conn

    def _refuse_an_index(self, db: Database) -> None:
        """An index given as the snapshots file: it must never receive snapshots, nor this
        file ever receive messages."""
        if {"messages", "attachments"} & set(db.table_names()):
            raise SnapshotError(
                _(
                    "{path} is a mailclean index, not a snapshots file: give another "
                    "file with --snapshots"
                ).format(path=self.path)
            )

    def close(self) -> None:
        """Close the file."""
        self.db.close()

    def __enter__(self) -> SnapshotStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- snapshots ----------------------------------------------------------------------

    def create(
        self,
        label: str,
        depth: str,
        scope: str | None,
        options: dict,
        entries: Iterable[tuple[str, str | None, str, str | None]],
    ) -> SnapshotInfo:
        """A new snapshot of ``entries`` (mailbox, login, team, display name), all pending."""
        with self.db.atomic():
            if self.conn.execute("SELECT 1 FROM snapshots WHERE label = ?", [label]).fetchone():
                raise SnapshotError(
                    _(
                        "a snapshot labelled {label} exists already: choose another --label, "
                        "or continue it with --resume"
                    ).format(label=label)
                )
            cur = self.conn.execute(
                "INSERT INTO snapshots (label, taken_at, depth, scope, options)"
                " VALUES (?, ?, ?, ?, ?)",
                [label, utcnow(), depth, scope, json.dumps(options, sort_keys=True)],
            )
            sid = int(cur.lastrowid or 0)
            self.conn.executemany(
                "INSERT INTO snapshot_mailboxes (snapshot_id, mailbox, login, team, display_name)"
                " VALUES (?, ?, ?, ?, ?)",
                ((sid, m, login, team, name) for m, login, team, name in entries),
            )
        return self.get(label)

    def _info(self, where: str, args: list) -> list[SnapshotInfo]:
        rows = self.conn.execute(
            f"{_INFO_SQL} {where} GROUP BY s.id ORDER BY s.taken_at, s.id", args
        ).fetchall()
        return [
            SnapshotInfo(
                id=r[0],
                label=r[1],
                taken_at=r[2],
                finished_at=r[3],
                depth=r[4],
                scope=r[5],
                options=json.loads(r[6] or "{}"),
                state=r[7],
                total=r[8],
                done=r[9],
                failed=r[10],
                messages=r[11],
                bytes=r[12],
                partial=r[13],
            )
            for r in rows
        ]

    def list(self) -> list[SnapshotInfo]:
        """Every snapshot, oldest first."""
        return self._info("", [])

    def find(self, name: str) -> SnapshotInfo | None:
        """The snapshot labelled ``name`` (or numbered, or ``latest``), or None."""
        found = self._info("WHERE s.label = ?", [name])
        if not found and name.isdigit():
            found = self._info("WHERE s.id = ?", [int(name)])
        if not found and name == "latest":
            everything = self.list()
            found = everything[-1:] if everything else []
        return found[0] if found else None

    def get(self, name: str) -> SnapshotInfo:
        """The snapshot ``name``; SnapshotError lists the labels when there is none."""
        info = self.find(name)
        if info is None:
            labels = [s.label for s in self.list()]
            known = ", ".join(labels[-10:]) if labels else _("none yet")
            raise SnapshotError(
                _("no snapshot {name} in {path} (snapshots: {known})").format(
                    name=name, path=self.path, known=known
                )
            )
        return info

    def set_state(self, snapshot_id: int, state: str) -> None:
        """Mark a snapshot running, interrupted or complete."""
        with self.db.atomic():
            self.conn.execute(
                "UPDATE snapshots SET state = ?, finished_at = ? WHERE id = ?",
                [state, utcnow() if state == "complete" else None, snapshot_id],
            )

    def remove(self, snapshot_id: int) -> None:
        """Delete a snapshot and everything measured in it."""
        with self.db.atomic():
            self.conn.execute("DELETE FROM snapshots WHERE id = ?", [snapshot_id])

    # -- mailboxes ----------------------------------------------------------------------

    def retry_failed(self, snapshot_id: int) -> int:
        """Put the failed mailboxes of a snapshot back in the queue; how many."""
        with self.db.atomic():
            cur = self.conn.execute(
                "UPDATE snapshot_mailboxes SET state = 'pending', error = NULL"
                " WHERE snapshot_id = ? AND state = 'failed'",
                [snapshot_id],
            )
        return cur.rowcount

    def pending(
        self, snapshot_id: int, after: int = 0, limit: int = 200
    ) -> builtins.list[PendingMailbox]:
        """Up to ``limit`` pending mailboxes with an id above ``after``, in id order: the
        runner reads the queue page by page, so memory does not grow with its length."""
        rows = self.conn.execute(
            "SELECT id, mailbox, login, team FROM snapshot_mailboxes"
            " WHERE snapshot_id = ? AND state = 'pending' AND id > ? ORDER BY id LIMIT ?",
            [snapshot_id, after, limit],
        ).fetchall()
        return [PendingMailbox(*r) for r in rows]

    def record(
        self,
        snapshot_id: int,
        mailbox: str,
        figures: MailboxFigures | None,
        *,
        error: str | None = None,
        attempts: int = 1,
        seconds: float = 0.0,
    ) -> None:
        """Store one mailbox's figures (or its error), folders included, in one transaction."""
        cats = {category_column(c): None for c in CATEGORIES}
        values: dict[str, object] = {
            "state": "failed" if figures is None else "done",
            "error": error,
            "attempts": attempts,
            "measured_at": utcnow(),
            "seconds": round(seconds, 3),
            "messages": None,
            "bytes": None,
            "quota_used": None,
            "quota_limit": None,
            "size_source": None,
            "reclaimable_messages": None,
            "reclaimable_bytes": None,
            "unreadable_folders": 0,
            "unreadable_roles": None,
            **cats,
        }
        if figures is not None:
            values.update(
                messages=figures.messages,
                bytes=figures.bytes,
                quota_used=figures.quota_used,
                quota_limit=figures.quota_limit,
                size_source=figures.size_source,
                reclaimable_messages=figures.reclaimable_messages,
                reclaimable_bytes=figures.reclaimable_bytes,
                unreadable_folders=len(figures.unreadable),
                unreadable_roles=",".join(sorted({u.role for u in figures.unreadable})) or None,
            )
            if figures.categories is not None:
                for c in CATEGORIES:
                    values[category_column(c)] = int(figures.categories.get(c, 0))
        assign = ", ".join(f"{k} = ?" for k in values)
        with self.db.atomic():
            self.conn.execute(
                f"UPDATE snapshot_mailboxes SET {assign} WHERE snapshot_id = ? AND mailbox = ?",
                [*values.values(), snapshot_id, mailbox],
            )
            self.conn.execute(
                "DELETE FROM snapshot_folders WHERE snapshot_id = ? AND mailbox = ?",
                [snapshot_id, mailbox],
            )
            if figures is not None:
                self.conn.executemany(
                    "INSERT INTO snapshot_folders (snapshot_id, mailbox, role, folders,"
                    " messages, bytes) VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (snapshot_id, mailbox, role, f.folders, f.messages, f.bytes)
                        for role, f in sorted(figures.roles.items())
                    ],
                )

    def failures(
        self, snapshot_id: int, limit: int | None = None
    ) -> builtins.list[tuple[str, str]]:
        """(mailbox, error) of the mailboxes that could not be measured."""
        sql = (
            "SELECT mailbox, coalesce(error, '') FROM snapshot_mailboxes"
            " WHERE snapshot_id = ? AND state = 'failed' ORDER BY id"
        )
        args: list = [snapshot_id]
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [(r[0], r[1]) for r in self.conn.execute(sql, args)]

    def partials(
        self, snapshot_id: int, limit: int | None = None
    ) -> builtins.list[tuple[str, int, str]]:
        """(mailbox, folders that could not be read, their roles) of the mailboxes measured
        in part."""
        sql = (
            "SELECT mailbox, unreadable_folders, coalesce(unreadable_roles, '')"
            " FROM snapshot_mailboxes WHERE snapshot_id = ? AND state = 'done'"
            " AND unreadable_folders > 0 ORDER BY id"
        )
        args: list = [snapshot_id]
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [(r[0], r[1], r[2]) for r in self.conn.execute(sql, args)]

    def mailboxes(self, snapshot_id: int) -> Iterator[MailboxRow]:
        """Every mailbox of a snapshot as the report reads it, in id order."""
        cats = ", ".join(category_column(c) for c in CATEGORIES)
        folders: dict[str, dict[str, tuple[int, int]]] = {}
        for mailbox, role, messages, size in self.conn.execute(
            "SELECT mailbox, role, messages, bytes FROM snapshot_folders WHERE snapshot_id = ?",
            [snapshot_id],
        ):
            folders.setdefault(mailbox, {})[role] = (messages, size)
        for r in self.conn.execute(
            f"SELECT mailbox, team, display_name, state, error, messages, bytes, quota_used,"
            f" quota_limit, reclaimable_bytes, unreadable_folders, unreadable_roles, {cats}"
            f" FROM snapshot_mailboxes WHERE snapshot_id = ? ORDER BY id",
            [snapshot_id],
        ):
            values = r[12:]
            categories = (
                None
                if all(v is None for v in values)
                else {c: int(v or 0) for c, v in zip(CATEGORIES, values, strict=True)}
            )
            yield MailboxRow(
                mailbox=r[0],
                team=r[1],
                display_name=r[2],
                state=r[3],
                error=r[4],
                messages=r[5] or 0,
                bytes=r[6] or 0,
                quota_used=r[7],
                quota_limit=r[8],
                reclaimable_bytes=r[9],
                roles=folders.get(r[0], {}),
                categories=categories,
                unreadable_folders=r[10] or 0,
                unreadable_roles=tuple(r[11].split(",")) if r[11] else (),
            )
