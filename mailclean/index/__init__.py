"""The local SQLite index: opening it, its migrations, and typed read/write helpers.

This is the only module that writes SQL for the index's tables. It knows nothing of
protocols: connectors hand it plain :mod:`mailclean.connectors.base` data.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mailclean.i18n import _
from mailclean.index.migrations import migrations
from mailclean.model import FolderInfo, FolderState, MessageMeta, Quota
from mailclean.sqlite import open_database

__all__ = ["AccountNotIndexed", "FolderRow", "Index", "IndexFileError", "utcnow"]


class IndexFileError(Exception):
    """The index file cannot be opened or is not a mailclean index."""


class AccountNotIndexed(Exception):
    """The account has never been synced into this index."""

    def __init__(self, name: str) -> None:
        super().__init__(
            _("account {name} has not been synced yet: run 'mailclean sync {name}'").format(
                name=name
            )
        )


def utcnow() -> str:
    """Current time as UTC ISO-8601 with seconds."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


@dataclass(frozen=True, slots=True)
class FolderRow:
    """A folder as the index knows it."""

    id: int
    account_id: int
    path: str
    role: str | None
    uidvalidity: int | None
    state: FolderState
    server_messages: int | None
    server_bytes: int | None


_MESSAGE_COLUMNS = (
    "id", "account_id", "folder_id", "server_id", "uid", "change_key", "message_id",
    "thread_key", "subject", "sender", "sender_name", "sender_domain", "recipients", "date",
    "received_at", "size", "seen", "flagged", "attachment_count", "attachment_bytes",
    "list_id", "list_unsubscribe", "list_unsubscribe_post", "precedence", "auto_submitted",
    "feedback_id", "mailer", "problems",
)
_INSERT_MESSAGE = "INSERT INTO messages ({}) VALUES ({})".format(
    ", ".join(_MESSAGE_COLUMNS), ", ".join("?" * len(_MESSAGE_COLUMNS))
)
_INSERT_ATTACHMENT = (
    "INSERT INTO attachments (message_id, part, filename, mime_type, size, decoded_size,"
    " disposition, encoding) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


class Index:
    """A mailclean index file, migrated to the current schema on open."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.db = open_database(self.path)
            migrations.apply(self.db)
        except (sqlite3.DatabaseError, OSError) as exc:
            raise IndexFileError(f"cannot open the index {self.path}: {exc}") from exc
        self.conn: sqlite3.Connection = self.db.conn

    def close(self) -> None:
        """Close the database connection."""
        self.db.close()

    # -- accounts ---------------------------------------------------------------------

    def ensure_account(self, name: str, kind: str, address: str | None = None) -> int:
        """The id of account ``name``, created if the index does not know it yet."""
        with self.db.atomic():
            row = self.conn.execute("SELECT id FROM accounts WHERE name = ?", [name]).fetchone()
            if row:
                self.conn.execute(
                    "UPDATE accounts SET kind = ?, address = coalesce(?, address) WHERE id = ?",
                    [kind, address, row[0]],
                )
                return int(row[0])
            cur = self.conn.execute(
                "INSERT INTO accounts (name, kind, address) VALUES (?, ?, ?)",
                [name, kind, address],
            )
            return int(cur.lastrowid or 0)

    def account(self, name: str) -> dict | None:
        """The accounts row of ``name`` as a dict, or None."""
        rows = list(self.db["accounts"].rows_where("name = ?", [name]))
        return rows[0] if rows else None

    def require_account(self, name: str) -> dict:
        """The accounts row of ``name``; AccountNotIndexed when it was never synced."""
        row = self.account(name)
        if row is None:
            raise AccountNotIndexed(name)
        return row

    def remove_account(self, name: str) -> bool:
        """Forget everything indexed for ``name``; True if there was anything."""
        with self.db.atomic():
            cur = self.conn.execute("DELETE FROM accounts WHERE name = ?", [name])
        return cur.rowcount > 0

    def set_labels(self, account_id: int, labels: bool) -> None:
        """Record whether the server shows a message once per label (Gmail); a change
        stamps the account, so that rule results are computed again."""
        with self.db.atomic():
            self.conn.execute(
                "UPDATE accounts SET labels = ?, changed_at = ? WHERE id = ? AND labels != ?",
                [int(labels), utcnow(), account_id, int(labels)],
            )

    def set_quota(self, account_id: int, quota: Quota | None) -> None:
        """Remember the server's quota for the account (None: it reports none), and when
        it was asked."""
        with self.db.atomic():
            self.conn.execute(
                "UPDATE accounts SET quota_root = ?, quota_used = ?, quota_limit = ?,"
                " quota_at = ? WHERE id = ?",
                [
                    quota.root if quota else None,
                    quota.used if quota else None,
                    quota.limit if quota else None,
                    # When the server was last asked, whether it said or not.
                    utcnow(),
                    account_id,
                ],
            )

    def mark_account_synced(self, account_id: int) -> None:
        """Record that a sync of the whole account finished now."""
        with self.db.atomic():
            self.conn.execute(
                "UPDATE accounts SET synced_at = ? WHERE id = ?", [utcnow(), account_id]
            )

    # -- folders ----------------------------------------------------------------------

    def folders(self, account_id: int, path: str | None = None) -> list[FolderRow]:
        """Every folder the index knows for the account (or just ``path``), by path."""
        rows = self.conn.execute(
            "SELECT id, account_id, path, role, uidvalidity, uidnext, highestmodseq, cursor,"
            " sync_token, server_messages, server_bytes,"
            " (SELECT count(*) FROM messages m WHERE m.folder_id = folders.id)"
            " FROM folders WHERE account_id = ? AND (? IS NULL OR path = ?) ORDER BY path",
            [account_id, path, path],
        ).fetchall()
        return [
            FolderRow(
                id=r[0], account_id=r[1], path=r[2], role=r[3], uidvalidity=r[4],
                state=FolderState(
                    uidvalidity=r[4], uidnext=r[5], highestmodseq=r[6], cursor=r[7],
                    sync_token=r[8], indexed=r[11],
                ),
                server_messages=r[9], server_bytes=r[10],
            )
            for r in rows
        ]

    def add_folder(self, account_id: int, info: FolderInfo) -> int:
        """Create the row of a folder new to the index; its sync state starts empty."""
        with self.db.atomic():
            cur = self.conn.execute(
                "INSERT INTO folders (account_id, path, delimiter, role) VALUES (?, ?, ?, ?)",
                [account_id, info.path, info.delimiter, info.role],
            )
        return int(cur.lastrowid or 0)

    def update_folder(self, folder_id: int, info: FolderInfo) -> None:
        """Follow a folder's new path (rename), separator and role; its messages stay."""
        with self.db.atomic():
            self.conn.execute(
                "UPDATE folders SET path = ?, delimiter = ?, role = ? WHERE id = ?",
                [info.path, info.delimiter, info.role, folder_id],
            )
            self._touch(folder_id)

    def delete_folder(self, folder_id: int) -> int:
        """Drop a folder that no longer exists on the server; returns messages dropped."""
        with self.db.atomic():
            n = self.conn.execute(
                "SELECT count(*) FROM messages WHERE folder_id = ?", [folder_id]
            ).fetchone()[0]
            self._touch(folder_id)
            self.conn.execute("DELETE FROM folders WHERE id = ?", [folder_id])
        return int(n)

    def count_messages(self, folder_id: int) -> int:
        """How many messages the index holds for the folder."""
        return int(self.conn.execute(
            "SELECT count(*) FROM messages WHERE folder_id = ?", [folder_id]
        ).fetchone()[0])

    def known_ids(self, folder_id: int) -> set[str]:
        """Server ids of the messages indexed in the folder."""
        return {
            r[0]
            for r in self.conn.execute(
                "SELECT server_id FROM messages WHERE folder_id = ?", [folder_id]
            )
        }

    # -- writing changes: each call is one transaction, state included ----------------

    def reset_folder(self, folder_id: int, state: FolderState) -> int:
        """Drop every message of the folder and start its sync state anew."""
        with self.db.atomic():
            n = self.conn.execute(
                "DELETE FROM messages WHERE folder_id = ?", [folder_id]
            ).rowcount
            self._save_state(folder_id, state)
            if n:
                self._touch(folder_id)
        return n

    def add_messages(
        self, account_id: int, folder_id: int, messages: list[MessageMeta], state: FolderState
    ) -> None:
        """Store a batch of messages (replacing same server ids) and the folder state."""
        with self.db.atomic():
            conn = self.conn
            # A message already indexed under the same server id is replaced whole,
            # attachments included (ON DELETE CASCADE).
            conn.executemany(
                "DELETE FROM messages WHERE folder_id = ? AND server_id = ?",
                [(folder_id, m.server_id) for m in messages],
            )
            next_id = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM messages").fetchone()[0]
            rows = []
            attachment_rows = []
            for i, m in enumerate(messages):
                mid = next_id + i
                rows.append(_message_row(mid, account_id, folder_id, m))
                for a in m.attachments:
                    attachment_rows.append(
                        (mid, a.part, a.filename, a.mime_type, a.size, a.decoded_size,
                         a.disposition, a.encoding)
                    )
            conn.executemany(_INSERT_MESSAGE, rows)
            if attachment_rows:
                conn.executemany(_INSERT_ATTACHMENT, attachment_rows)
            self._save_state(folder_id, state)
            if messages:
                self._touch(folder_id)

    def remove_messages(self, folder_id: int, server_ids: Iterable[str]) -> int:
        """Drop messages gone from the server; returns how many rows went."""
        with self.db.atomic():
            cur = self.conn.executemany(
                "DELETE FROM messages WHERE folder_id = ? AND server_id = ?",
                [(folder_id, s) for s in server_ids],
            )
            if cur.rowcount:
                self._touch(folder_id)
        return cur.rowcount

    def follow_moves(
        self,
        folder_id: int,
        moves: dict[str, str | None],
        target_folder_id: int | None,
        change_keys: dict[str, str] | None = None,
    ) -> None:
        """Follow messages an action moved out of ``folder_id``.

        A row whose new server id is known moves to the target folder under it; the others
        are dropped, and the target's next sync indexes them.
        """
        with self.db.atomic():
            known = [(s, d) for s, d in moves.items() if d is not None]
            if known and target_folder_id is not None:
                # A sync may have indexed a moved message in the target already.
                for start in range(0, len(known), 500):
                    chunk = [d for _, d in known[start : start + 500]]
                    self.conn.execute(
                        "DELETE FROM messages WHERE folder_id = ?"
                        f" AND server_id IN ({', '.join('?' * len(chunk))})",
                        [target_folder_id, *chunk],
                    )
                self.conn.executemany(
                    "UPDATE messages SET folder_id = ?, server_id = ?,"
                    " uid = CASE WHEN uid IS NULL THEN NULL ELSE CAST(? AS INTEGER) END,"
                    " change_key = coalesce(?, change_key)"
                    " WHERE folder_id = ? AND server_id = ?",
                    [(target_folder_id, d, d, (change_keys or {}).get(s), folder_id, s)
                     for s, d in known],
                )
                self._touch(target_folder_id)
            else:
                known = []
            moved = {s for s, _ in known}
            self.conn.executemany(
                "DELETE FROM messages WHERE folder_id = ? AND server_id = ?",
                [(folder_id, s) for s in moves if s not in moved],
            )
            self._touch(folder_id)

    def update_flags(self, folder_id: int, flags: Iterable[tuple[str, bool, bool]]) -> int:
        """Apply new seen/flagged values; returns how many rows changed."""
        with self.db.atomic():
            cur = self.conn.executemany(
                "UPDATE messages SET seen = ?, flagged = ? WHERE folder_id = ? AND server_id = ?"
                " AND (seen != ? OR flagged != ?)",
                [(int(s), int(f), folder_id, sid, int(s), int(f)) for sid, s, f in flags],
            )
            if cur.rowcount:
                self._touch(folder_id)
        return cur.rowcount

    def finish_folder(
        self,
        folder_id: int,
        state: FolderState,
        server_messages: int | None,
        server_bytes: int | None,
    ) -> None:
        """Record the folder as up to date with ``state`` and the server's own counters."""
        with self.db.atomic():
            self._save_state(folder_id, state)
            self.conn.execute(
                "UPDATE folders SET server_messages = ?, server_bytes = ?, synced_at = ?"
                " WHERE id = ?",
                [server_messages, server_bytes, utcnow(), folder_id],
            )

    def _touch(self, folder_id: int) -> None:
        # Inside the caller's transaction: results computed before this are stale.
        self.conn.execute(
            "UPDATE accounts SET changed_at = ? WHERE id ="
            " (SELECT account_id FROM folders WHERE id = ?)",
            [datetime.now(UTC).isoformat(), folder_id],
        )

    def _save_state(self, folder_id: int, state: FolderState) -> None:
        self.conn.execute(
            "UPDATE folders SET uidvalidity = ?, uidnext = ?, highestmodseq = ?, cursor = ?,"
            " sync_token = ? WHERE id = ?",
            [state.uidvalidity, state.uidnext, state.highestmodseq, state.cursor,
             state.sync_token, folder_id],
        )

    # -- reading ----------------------------------------------------------------------

    def stats(self, account_id: int) -> dict:
        """Totals and per-folder figures of an account, from the index."""
        folders = [
            {
                "name": r[0],
                "role": r[1],
                "messages": r[2],
                "bytes": r[3],
                "attachment_bytes": r[4],
                "unread": r[5],
                "synced_at": r[6],
            }
            for r in self.conn.execute(
                """
                SELECT f.path, f.role, count(m.id), coalesce(sum(m.size), 0),
                       coalesce(sum(m.attachment_bytes), 0),
                       coalesce(sum(m.id IS NOT NULL AND m.seen = 0), 0), f.synced_at
                FROM folders f LEFT JOIN messages m ON m.folder_id = f.id
                WHERE f.account_id = ?
                GROUP BY f.id ORDER BY 4 DESC, f.path
                """,
                [account_id],
            )
        ]
        problems = self.conn.execute(
            "SELECT count(*) FROM messages WHERE account_id = ? AND problems IS NOT NULL",
            [account_id],
        ).fetchone()[0]
        return {
            "messages": sum(f["messages"] for f in folders),
            "bytes": sum(f["bytes"] for f in folders),
            "attachment_bytes": sum(f["attachment_bytes"] for f in folders),
            "messages_with_problems": problems,
            "folders": folders,
        }


def _message_row(mid: int, account_id: int, folder_id: int, m: MessageMeta) -> tuple:
    domain = m.sender.rpartition("@")[2] if m.sender and "@" in m.sender else None
    return (
        mid, account_id, folder_id, m.server_id, m.uid, m.change_key, m.message_id,
        m.thread_key, m.subject, m.sender, m.sender_name, domain, m.recipients, m.date,
        m.received_at, m.size, int(m.seen), int(m.flagged), len(m.attachments),
        sum(a.size for a in m.attachments), m.list_id, m.list_unsubscribe,
        m.list_unsubscribe_post, m.precedence, m.auto_submitted, m.feedback_id, m.mailer,
        "; ".join(m.problems) if m.problems else None,
    )
