"""The review app's reads of the index: figures per rule, a rule's groups and messages, one
message's details, and the selection.

Typed functions over a :class:`sqlite3.Connection`: the app's main-thread connection, or a
worker's own (a query built here can be run on another thread's connection). The caller
says what to show (which rule, which group, which folder to leave out); this module says
how to read it, and knows nothing of rules or languages. The selection is a TEMP table of
one connection (:class:`SelectionTable`): it lives as long as the app's connection and is
never written to the file.
"""

from __future__ import annotations

import sqlite3
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "GroupQuery", "GroupRows", "HitFilter", "MessageRow", "SelectionTable", "hits_per_rule",
    "like", "message_details", "message_filter", "message_ids", "message_rows",
    "not_in_folder", "read_only", "thread_subject",
]

#: How a message list may be ordered (the SQL ORDER BY of each).
MESSAGE_ORDERS = {
    "size": "h.bytes DESC, h.message_id",
    "date-asc": "coalesce(m.date, m.received_at), h.message_id",
    "date-desc": "coalesce(m.date, m.received_at) DESC, h.message_id DESC",
}
#: How a group list may be ordered (by key, count, volume: the columns of GroupQuery).
GROUP_ORDERS = {"size": "3 DESC, 2 DESC, 1", "count": "2 DESC, 3 DESC, 1", "name": "1"}


def read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection to the index at ``path``, for a worker thread (a connection
    belongs to the thread that opened it); the caller closes it."""
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def like(text: str) -> str:
    """A LIKE pattern (with ``ESCAPE '\\'``) that matches ``text`` anywhere, literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def not_in_folder(folder_id: int | None, column: str = "h.message_id") -> str:
    """A condition to append (`` AND ...``) leaving out the messages of ``folder_id``
    (nothing when None)."""
    if folder_id is None:
        return ""
    return (f" AND {column} NOT IN (SELECT id FROM messages WHERE folder_id ="
            f" {int(folder_id)})")


# -- figures per rule -------------------------------------------------------------------


def hits_per_rule(conn: sqlite3.Connection, account_id: int,
                  folder_id: int | None = None) -> dict[str, tuple[int, int]]:
    """Each rule's hits of the account: (messages, bytes); only those in ``folder_id``
    when given."""
    if folder_id is None:
        rows = conn.execute(
            "SELECT rule, count(*), coalesce(sum(bytes), 0) FROM hits"
            " WHERE account_id = ? GROUP BY rule", [account_id],
        )
    else:
        rows = conn.execute(
            "SELECT h.rule, count(*), coalesce(sum(h.bytes), 0) FROM hits h"
            " WHERE h.account_id = ? AND h.message_id IN"
            " (SELECT id FROM messages WHERE folder_id = ?) GROUP BY h.rule",
            [account_id, folder_id],
        )
    return {name: (int(n), int(b)) for name, n, b in rows}


# -- a rule's groups --------------------------------------------------------------------


@dataclass(slots=True)
class GroupRows:
    """A rule's groups as the query returns them: keys, message counts, volumes."""

    keys: list[str | None]
    counts: array[int]
    sizes: array[int]


@dataclass(frozen=True, slots=True)
class GroupQuery:
    """The SQL (and its arguments) of a rule's groups, to run on any connection."""

    sql: str
    args: tuple[Any, ...]

    @classmethod
    def of(cls, account_id: int, rule: str, *, hidden_folder: int | None = None,
           text: str = "", by_subject: bool = False, sort: str = "size") -> GroupQuery:
        """The groups of ``rule`` whose key contains ``text`` (with ``by_subject``: which
        hold a message whose subject or sender does, for threads shown by their subject),
        leaving out the messages of ``hidden_folder``, in ``sort`` order."""
        order = GROUP_ORDERS.get(sort, "3 DESC")
        where = "h.account_id = ? AND h.rule = ?" + not_in_folder(hidden_folder)
        args: list[Any] = [account_id, rule]
        join = ""
        if text:
            if by_subject:
                join = " JOIN messages m ON m.id = h.message_id"
                where += " AND (m.subject LIKE ? ESCAPE '\\' OR m.sender LIKE ? ESCAPE '\\')"
                args += [like(text), like(text)]
            else:
                where += " AND h.group_key LIKE ? ESCAPE '\\'"
                args.append(like(text))
        return cls(f"SELECT h.group_key, count(*), coalesce(sum(h.bytes), 0) FROM hits h{join}"
                   f" WHERE {where} GROUP BY h.group_key ORDER BY {order}", tuple(args))

    def fetch(self, conn: sqlite3.Connection) -> GroupRows:
        """Run the query on ``conn`` (any thread's own connection)."""
        out = GroupRows([], array("q"), array("q"))
        for key, n, b in conn.execute(self.sql, self.args):
            out.keys.append(key)
            out.counts.append(n)
            out.sizes.append(b)
        return out


def thread_subject(conn: sqlite3.Connection, account_id: int, thread_key: str) -> str | None:
    """The subject of a thread's latest message (None: none has one)."""
    row = conn.execute(
        "SELECT subject FROM messages WHERE account_id = ? AND thread_key = ?"
        " ORDER BY coalesce(date, received_at) DESC LIMIT 1",
        [account_id, thread_key],
    ).fetchone()
    return row[0] if row and row[0] else None


# -- a rule's messages ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HitFilter:
    """Which hits a message list holds: the join (``h`` is hits, ``m`` messages when
    joined), the condition and its arguments."""

    join: str
    where: str
    args: tuple[Any, ...]


def message_filter(account_id: int, rule: str, group: str | None = None, *,
                   everything: bool = True, hidden_folder: int | None = None, text: str = "",
                   sort: str = "size") -> HitFilter:
    """The hits of ``rule`` (of one of its groups unless ``everything``) whose subject,
    sender or sender's name contains ``text``, leaving out the messages of
    ``hidden_folder``; joined to the messages when ``text`` or ``sort`` needs them."""
    where = "h.account_id = ? AND h.rule = ?" + not_in_folder(hidden_folder)
    args: list[Any] = [account_id, rule]
    if not everything:
        where += " AND h.group_key IS ?"
        args.append(group)
    join = ""
    if text or sort != "size":
        join = " JOIN messages m ON m.id = h.message_id"
    if text:
        where += (" AND (m.subject LIKE ? ESCAPE '\\' OR m.sender LIKE ? ESCAPE '\\'"
                  " OR m.sender_name LIKE ? ESCAPE '\\')")
        args += [like(text)] * 3
    return HitFilter(join, where, tuple(args))


def message_ids(conn: sqlite3.Connection, hits: HitFilter, sort: str = "size"
                ) -> tuple[array[int], int]:
    """The ids of the messages ``hits`` picks, in ``sort`` order (a key of
    :data:`MESSAGE_ORDERS`; the filter must have been made with it), and their volume."""
    ids = array("q")
    total = 0
    cur = conn.execute(
        f"SELECT h.message_id, h.bytes FROM hits h{hits.join} WHERE {hits.where}"
        f" ORDER BY {MESSAGE_ORDERS[sort]}", hits.args,
    )
    while True:
        chunk = cur.fetchmany(10_000)
        if not chunk:
            break
        ids.extend(r[0] for r in chunk)
        total += sum(r[1] for r in chunk)
    return ids, total


@dataclass(slots=True)
class MessageRow:
    """One line of a message list."""

    id: int
    date: str
    sender: str
    subject: str
    size: int
    attachments: int
    folder: str
    selected: bool


_ROW_SQL = (
    "SELECT m.id, coalesce(m.date, m.received_at), coalesce(m.sender_name, m.sender, ''),"
    " m.sender, coalesce(m.subject, ''), m.size, m.attachment_count, f.path,"
    " s.id IS NOT NULL"
    " FROM messages m JOIN folders f ON f.id = m.folder_id"
    " LEFT JOIN temp.selected s ON s.id = m.id WHERE m.id IN ({})"
)


def message_rows(conn: sqlite3.Connection, ids: Sequence[int]) -> dict[int, MessageRow]:
    """The rows of the messages ``ids`` still in the index (a page of a list: the ids go
    into one statement), the day of their date and whether they are selected (the
    connection's selection: see :class:`SelectionTable`)."""
    return {
        r[0]: MessageRow(r[0], (r[1] or "")[:10], r[2] or r[3] or "", r[4], r[5], r[6],
                         r[7], bool(r[8]))
        for r in conn.execute(_ROW_SQL.format(", ".join("?" * len(ids))), list(ids))
    }


# -- one message ------------------------------------------------------------------------

_DETAIL_COLUMNS = (
    "id", "folder", "role", "subject", "sender", "sender_name", "recipients", "date",
    "received_at", "size", "seen", "flagged", "message_id", "list_id", "list_unsubscribe",
    "list_unsubscribe_post", "attachment_count", "attachment_bytes", "problems",
)


def message_details(conn: sqlite3.Connection, message_id: int) -> dict[str, Any] | None:
    """One message's headers, folder (path and role) and attachments (largest first:
    filename, mime_type, size); None when it is no longer in the index."""
    row = conn.execute(
        "SELECT m.id, f.path, f.role, m.subject, m.sender, m.sender_name, m.recipients,"
        " m.date, m.received_at, m.size, m.seen, m.flagged, m.message_id, m.list_id,"
        " m.list_unsubscribe, m.list_unsubscribe_post, m.attachment_count,"
        " m.attachment_bytes, m.problems"
        " FROM messages m JOIN folders f ON f.id = m.folder_id WHERE m.id = ?",
        [message_id],
    ).fetchone()
    if row is None:
        return None
    out: dict[str, Any] = dict(zip(_DETAIL_COLUMNS, row, strict=True))
    out["attachments"] = [
        {"filename": r[0], "mime_type": r[1], "size": r[2]}
        for r in conn.execute(
            "SELECT filename, mime_type, size FROM attachments WHERE message_id = ?"
            " ORDER BY size DESC, part", [message_id],
        )
    ]
    return out


def message_folder(conn: sqlite3.Connection, message_id: int) -> int | None:
    """The folder the message is in (None: no longer in the index)."""
    row = conn.execute("SELECT folder_id FROM messages WHERE id = ?", [message_id]).fetchone()
    return int(row[0]) if row is not None else None


def message_rules(conn: sqlite3.Connection, account_id: int, message_id: int) -> list[str]:
    """The rules that flag the message."""
    return [r[0] for r in conn.execute(
        "SELECT rule FROM hits WHERE message_id = ? AND account_id = ?",
        [message_id, account_id])]


# -- the selection ----------------------------------------------------------------------


class SelectionTable:
    """The messages selected on one connection: ``temp.selected (id, size)``.

    Every change is committed at once (the app's main-thread connection holds no other
    transaction open).
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS selected (id INTEGER PRIMARY KEY, size INTEGER)"
        )
        conn.commit()

    def totals(self) -> tuple[int, int]:
        """How many messages are selected, and their volume."""
        n, b = self.conn.execute(
            "SELECT count(*), coalesce(sum(size), 0) FROM temp.selected"
        ).fetchone()
        return int(n), int(b)

    def count(self) -> int:
        """How many messages are selected."""
        return int(self.conn.execute("SELECT count(*) FROM temp.selected").fetchone()[0])

    def empty(self) -> bool:
        """Whether nothing is selected."""
        return self.conn.execute("SELECT 1 FROM temp.selected LIMIT 1").fetchone() is None

    def ids(self) -> tuple[int, ...]:
        """The selected messages' index row ids, in order."""
        return tuple(r[0] for r in self.conn.execute("SELECT id FROM temp.selected ORDER BY id"))

    def toggle(self, message_id: int) -> bool:
        """Select or unselect one message; True if it is now selected."""
        cur = self.conn.execute("DELETE FROM temp.selected WHERE id = ?", [message_id])
        if cur.rowcount:
            self.conn.commit()
            return False
        self.conn.execute(
            "INSERT INTO temp.selected SELECT id, size FROM messages WHERE id = ?", [message_id]
        )
        self.conn.commit()
        return True

    def select(self, hits: HitFilter, on: bool = True) -> None:
        """Select (or unselect) every message ``hits`` picks, however many."""
        if on:
            # A hit's bytes are its message's size.
            self.conn.execute(
                "INSERT OR IGNORE INTO temp.selected (id, size) SELECT h.message_id, h.bytes"
                f" FROM hits h{hits.join} WHERE {hits.where}", hits.args,
            )
        else:
            self.conn.execute(
                "DELETE FROM temp.selected WHERE id IN (SELECT h.message_id FROM"
                f" hits h{hits.join} WHERE {hits.where})", hits.args,
            )
        self.conn.commit()

    def selected_in(self, hits: HitFilter) -> int:
        """How many of the messages ``hits`` picks are selected."""
        return int(self.conn.execute(
            f"SELECT count(*) FROM hits h{hits.join} JOIN temp.selected s"
            f" ON s.id = h.message_id WHERE {hits.where}", hits.args,
        ).fetchone()[0])

    def per_rule(self, account_id: int, folder_id: int | None) -> list[tuple[str, int, int]]:
        """Per rule of the account: how many selected messages it flags, and how many of
        those are in ``folder_id`` (the Trash)."""
        # Driven by the selection, each hit found through hits_message: one pass.
        return [(name, int(n), int(in_folder)) for name, n, in_folder in self.conn.execute(
            "SELECT h.rule, count(*), coalesce(sum(m.folder_id = ?), 0)"
            " FROM temp.selected s CROSS JOIN hits h ON h.message_id = s.id"
            " AND h.account_id = ? JOIN messages m ON m.id = s.id GROUP BY h.rule",
            [folder_id if folder_id is not None else -1, account_id],
        )]

    def per_group(self, account_id: int, rule: str, hidden_folder: int | None
                  ) -> dict[str | None, int]:
        """Per group of ``rule``: how many of its selected messages (outside
        ``hidden_folder``) it holds."""
        # Driven by the selection, each hit found by its primary key: one pass, however
        # many groups the rule has.
        return {group: int(n) for group, n in self.conn.execute(
            "SELECT h.group_key, count(*) FROM temp.selected s CROSS JOIN hits h"
            " ON h.account_id = ? AND h.rule = ? AND h.message_id = s.id"
            f" WHERE 1{not_in_folder(hidden_folder)} GROUP BY h.group_key",
            [account_id, rule],
        )}

    def clear(self) -> None:
        """Unselect everything."""
        self.conn.execute("DELETE FROM temp.selected")
        self.conn.commit()

    def prune(self) -> None:
        """Forget selected messages that are no longer in the index (after a sync)."""
        self.conn.execute(
            "DELETE FROM temp.selected WHERE id NOT IN (SELECT id FROM messages)"
        )
        self.conn.commit()
