"""The journal of actions: written before anything is sent to a server, updated after each
batch, closed at the end, and read back to say what was freed.

An action row carries what the user asked for; its items carry each message's identity
as the index knew it when the action was planned, and where the message went.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from mailclean.index import Index, utcnow
from mailclean.model import ItemRef

KINDS = ("trash", "delete", "export", "undo")
#: Item states. "sent" means a command was in flight: only the server knows the outcome.
PENDING, SENT, COPIED, DONE, SKIPPED, FAILED = (
    "pending", "sent", "copied", "done", "skipped", "failed"
)
#: Action states.
RUNNING, FINISHED, PARTIAL, INTERRUPTED, CANCELLED, ABORTED, UNDONE = (
    "running", "done", "partial", "interrupted", "cancelled", "failed", "undone"
)


@dataclass(slots=True)
class PlannedItem:
    """A message an action will touch, with its identity as the index knows it now."""

    folder: str
    validity: int | None
    server_id: str
    size: int
    message_id: str | None = None
    change_key: str | None = None
    target_folder: str | None = None
    origin: int | None = None
    flagged: bool = False
    """Flagged when planned: only a message picked one by one can be (see ItemRef)."""


@dataclass(slots=True)
class JournalItem:
    """One message of an action, as the journal knows it."""

    id: int
    action_id: int
    folder: str
    validity: int | None
    server_id: str
    message_id: str | None
    change_key: str | None
    size: int
    state: str
    target_folder: str | None
    target_validity: int | None
    target_floor: str | None
    target_id: str | None
    origin: int | None
    reason: str | None
    target_change_key: str | None = None
    flagged: bool = False

    def ref(self) -> ItemRef:
        """The identity the server must still hold."""
        return ItemRef(self.server_id, self.size, self.message_id, self.change_key,
                       bool(self.flagged))


@dataclass(slots=True)
class ActionRow:
    """An action with its items counted by state: ``{state: (messages, bytes)}``."""

    id: int
    account_id: int
    kind: str
    state: str
    selection: dict
    target: str | None
    export_format: str | None
    undo_of: int | None
    after: int | None
    pid: int | None
    host: str | None
    started_at: str
    finished_at: str | None
    planned_messages: int
    planned_bytes: int
    error: str | None
    delete_mode: str | None = None
    """For a delete: "permanent", or Exchange's "soft" (recoverable for a while) / "hard"."""
    quota_before: int | None = None
    quota_after: int | None = None
    """The server's quota usage in bytes before and after the action, where it has one."""
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)
    skip_reasons: list[tuple[str, int, int]] = field(default_factory=list)
    """``(reason, messages, bytes)`` of the items skipped or failed, by the reason
    recorded (``vanished``, ``changed``, ``flagged``, ``protected``...)."""

    def count(self, *states: str) -> tuple[int, int]:
        """Messages and bytes of the items in ``states``."""
        n = sum(self.counts.get(s, (0, 0))[0] for s in states)
        b = sum(self.counts.get(s, (0, 0))[1] for s in states)
        return n, b

    @property
    def unfinished(self) -> int:
        """Items still to do or whose outcome is unknown (pending, sent, copied)."""
        return self.count(PENDING, SENT, COPIED)[0]

    def as_dict(self) -> dict:
        """JSON-ready summary."""
        done, done_bytes = self.count(DONE)
        skipped, skipped_bytes = self.count(SKIPPED, FAILED)
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "target": self.target,
            "undo_of": self.undo_of,
            "planned_messages": self.planned_messages,
            "planned_bytes": self.planned_bytes,
            "messages": done,
            "bytes": done_bytes,
            "skipped_messages": skipped,
            "skipped_bytes": skipped_bytes,
            "unfinished_messages": self.unfinished,
            "delete_mode": self.delete_mode,
            "quota_before": self.quota_before,
            "quota_after": self.quota_after,
            "error": self.error,
        }


_ITEM_COLUMNS = (
    "id, action_id, folder, validity, server_id, message_id, change_key, size, state,"
    " target_folder, target_validity, target_floor, target_id, origin, reason,"
    " target_change_key, flagged"
)
_ACTION_COLUMNS = (
    "id, account_id, kind, state, selection, target, export_format, undo_of, after, pid,"
    " host, started_at, finished_at, planned_messages, planned_bytes, error, delete_mode,"
    " quota_before, quota_after"
)


class Journal:
    """Reads and writes the ``actions`` and ``action_items`` tables of an index."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self.conn = index.conn

    def begin(
        self,
        account_id: int,
        kind: str,
        items: Sequence[PlannedItem],
        *,
        selection: dict | None = None,
        target: str | None = None,
        export_format: str | None = None,
        undo_of: int | None = None,
        after: int | None = None,
        delete_mode: str | None = None,
    ) -> int:
        """Record an action and all its items (pending) in one transaction; its id."""
        now = utcnow()
        with self.index.db.atomic():
            cur = self.conn.execute(
                "INSERT INTO actions (account_id, kind, state, selection, target,"
                " export_format, undo_of, after, pid, host, started_at, planned_messages,"
                " planned_bytes, delete_mode) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    account_id, kind, RUNNING, json.dumps(selection or {}), target,
                    export_format, undo_of, after, os.getpid(), socket.gethostname(), now,
                    len(items), sum(i.size for i in items), delete_mode,
                ],
            )
            action_id = int(cur.lastrowid or 0)
            self.conn.executemany(
                "INSERT INTO action_items (action_id, folder, validity, server_id, message_id,"
                " change_key, size, state, target_folder, origin, updated_at, flagged)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (action_id, i.folder, i.validity, i.server_id, i.message_id, i.change_key,
                     i.size, PENDING, i.target_folder, i.origin, now, int(i.flagged))
                    for i in items
                ],
            )
        return action_id

    def claim(self, action_id: int) -> None:
        """This process takes the action over (a resume): state running, our pid."""
        with self.index.db.atomic():
            self.conn.execute(
                "UPDATE actions SET state = ?, pid = ?, host = ?, finished_at = NULL"
                " WHERE id = ?",
                [RUNNING, os.getpid(), socket.gethostname(), action_id],
            )

    def items(self, action_id: int, states: Iterable[str] | None = None) -> list[JournalItem]:
        """The action's items (only those in ``states`` when given), in journal order."""
        sql = f"SELECT {_ITEM_COLUMNS} FROM action_items WHERE action_id = ?"
        args: list = [action_id]
        if states is not None:
            states = list(states)
            sql += f" AND state IN ({', '.join('?' * len(states))})"
            args += states
        return [JournalItem(*row) for row in self.conn.execute(sql + " ORDER BY id", args)]

    def set_state(
        self,
        item_ids: Iterable[int],
        state: str,
        *,
        reason: str | None = None,
        target_floor: str | None = None,
        target_validity: int | None = None,
    ) -> None:
        """Move items to ``state`` in one transaction (floor/validity kept unless given)."""
        now = utcnow()
        ids = list(item_ids)
        with self.index.db.atomic():
            for start in range(0, len(ids), 900):
                chunk = ids[start : start + 900]
                self.conn.execute(
                    "UPDATE action_items SET state = ?, reason = ?, updated_at = ?,"
                    " target_floor = coalesce(?, target_floor),"
                    " target_validity = coalesce(?, target_validity)"
                    f" WHERE id IN ({', '.join('?' * len(chunk))})",
                    [state, reason, now, target_floor, target_validity, *chunk],
                )

    def set_outcomes(
        self, outcomes: Iterable[tuple[int, str, str | None, str | None]],
        target_validity: int | None = None,
    ) -> None:
        """``(item id, state, target id, reason)`` for several items, one transaction."""
        now = utcnow()
        rows = list(outcomes)
        with self.index.db.atomic():
            # One statement per few hundred items (UPDATE ... FROM VALUES) rather than one
            # per item: this runs after every batch of an action.
            for start in range(0, len(rows), 300):
                chunk = rows[start : start + 300]
                values = ", ".join("(?, ?, ?, ?)" for _ in chunk)
                self.conn.execute(
                    "UPDATE action_items SET state = v.column2,"
                    " target_id = coalesce(v.column3, action_items.target_id),"
                    " reason = v.column4,"
                    " target_validity = coalesce(?, action_items.target_validity),"
                    f" updated_at = ? FROM (VALUES {values}) AS v"
                    " WHERE action_items.id = v.column1",
                    [target_validity, now, *(x for row in chunk for x in row)],
                )

    def set_target_keys(self, keys: Iterable[tuple[int, str]]) -> None:
        """``(item id, change key)``: the key each moved message has in its new folder."""
        with self.index.db.atomic():
            self.conn.executemany(
                "UPDATE action_items SET target_change_key = ? WHERE id = ?",
                [(k, i) for i, k in keys],
            )

    def set_quota(self, action_id: int, *, before: int | None = None,
                  after: int | None = None) -> None:
        """Record the server's quota usage measured before or after the action."""
        with self.index.db.atomic():
            self.conn.execute(
                "UPDATE actions SET quota_before = coalesce(?, quota_before),"
                " quota_after = coalesce(?, quota_after) WHERE id = ?",
                [before, after, action_id],
            )

    def finish(self, action_id: int, state: str, error: str | None = None) -> None:
        """Close the action."""
        with self.index.db.atomic():
            self.conn.execute(
                "UPDATE actions SET state = ?, finished_at = ?, error = ? WHERE id = ?",
                [state, utcnow(), error, action_id],
            )

    def action(self, action_id: int) -> ActionRow | None:
        """One action with its counts, or None."""
        rows = self._actions("a.id = ?", [action_id])
        return rows[0] if rows else None

    def actions(self, account_id: int, since: str | None = None) -> list[ActionRow]:
        """The account's actions, oldest first (from ``since``, an ISO date, when given)."""
        return self._actions(
            "a.account_id = ? AND (? IS NULL OR a.started_at >= ?)", [account_id, since, since]
        )

    def _actions(self, where: str, args: list) -> list[ActionRow]:
        rows = self.conn.execute(
            f"SELECT {_ACTION_COLUMNS} FROM actions a WHERE {where} ORDER BY a.id", args
        ).fetchall()
        out = []
        for r in rows:
            values = list(r)  # in the order of _ACTION_COLUMNS, ActionRow's fields
            values[4] = json.loads(values[4] or "{}")  # selection
            row = ActionRow(*values)
            for state, n, b in self.conn.execute(
                "SELECT state, count(*), coalesce(sum(size), 0) FROM action_items"
                " WHERE action_id = ? GROUP BY state",
                [row.id],
            ):
                row.counts[state] = (n, b)
            if row.counts.get(SKIPPED) or row.counts.get(FAILED):
                row.skip_reasons = [
                    (reason or "", int(n), int(b)) for reason, n, b in self.conn.execute(
                        "SELECT reason, count(*), coalesce(sum(size), 0) FROM action_items"
                        " WHERE action_id = ? AND state IN (?, ?) GROUP BY reason",
                        [row.id, SKIPPED, FAILED],
                    )
                ]
            out.append(row)
        return out

    def trash_origins(
        self, account_id: int, folder: str, validity: int | None, server_ids: Sequence[str]
    ) -> dict[str, int]:
        """For messages now in ``folder``: the done trash item that put each one there."""
        out: dict[str, int] = {}
        for i in range(0, len(server_ids), 500):
            chunk = list(server_ids[i : i + 500])
            for item_id, target_id in self.conn.execute(
                "SELECT i.id, i.target_id FROM action_items i JOIN actions a"
                " ON a.id = i.action_id WHERE a.account_id = ? AND a.kind = 'trash'"
                " AND i.state = 'done' AND i.target_folder = ?"
                " AND (? IS NULL OR i.target_validity = ?)"
                f" AND i.target_id IN ({', '.join('?' * len(chunk))})",
                [account_id, folder, validity, validity, *chunk],
            ):
                out[target_id] = item_id
        return out

    def settle_targets(self, account_id: int) -> int:
        """Find where moved messages went when the server did not say (no UIDPLUS).

        A trash or undo item done without a target id is matched, in the index's copy of
        its target folder, with a message of the same Message-ID (or the same lack of one)
        and size that arrived at or above the floor recorded before the command, each
        message answering one item only. Called after a sync, so the index holds what the
        server holds. Returns how many items were settled.
        """
        rows = self.conn.execute(
            "SELECT i.id, i.target_folder, i.target_floor, i.message_id, i.size"
            " FROM action_items i JOIN actions a ON a.id = i.action_id"
            " WHERE a.account_id = ? AND a.kind IN ('trash', 'undo') AND i.state = 'done'"
            " AND i.target_id IS NULL AND i.target_folder IS NOT NULL ORDER BY i.id",
            [account_id],
        ).fetchall()
        by_folder: dict[str, list[tuple]] = {}
        for row in rows:
            by_folder.setdefault(row[1], []).append(row)
        settled: list[tuple[str, int | None, int]] = []
        for path, items in by_folder.items():
            folder = self.conn.execute(
                "SELECT id, uidvalidity FROM folders WHERE account_id = ? AND path = ?",
                [account_id, path],
            ).fetchone()
            if folder is None:
                continue
            taken = {
                r[0] for r in self.conn.execute(
                    "SELECT i.target_id FROM action_items i JOIN actions a"
                    " ON a.id = i.action_id WHERE a.account_id = ? AND i.target_folder = ?"
                    " AND i.target_id IS NOT NULL AND i.state = 'done'"
                    " AND (i.target_validity IS NULL OR ? IS NULL OR i.target_validity = ?)",
                    [account_id, path, folder[1], folder[1]],
                )
            }
            candidates: dict[tuple[str | None, int], list[tuple[int, str]]] = {}
            for sid, uid, msgid, size in self.conn.execute(
                "SELECT server_id, uid, message_id, size FROM messages WHERE folder_id = ?"
                " ORDER BY uid, server_id",
                [folder[0]],
            ):
                if sid not in taken:
                    candidates.setdefault((msgid, size), []).append((uid or 0, sid))
            for item_id, _path, floor, msgid, size in items:
                low = int(floor) if floor and floor.isdigit() else 0
                pool = candidates.get((msgid, size), [])
                match = next((c for c in pool if c[0] >= low), None)
                if match is not None:
                    pool.remove(match)
                    settled.append((match[1], folder[1], item_id))
        if settled:
            with self.index.db.atomic():
                self.conn.executemany(
                    "UPDATE action_items SET target_id = ?,"
                    " target_validity = coalesce(?, target_validity) WHERE id = ?",
                    settled,
                )
        return len(settled)

    def freed(self, account_id: int, since: str | None = None) -> dict:
        """What mailclean's actions did to the account, counted honestly.

        Every message mailclean moved to the Trash is, message for message, in exactly one
        of four places: put back (undo), deleted from the Trash by mailclean, still in the
        Trash (the index's copy of it, as of the last sync), or gone from the Trash some
        other way (another program emptied it or moved the message out, or the server
        purged it). Trashed bytes take server space until the Trash is emptied on most
        servers; deleted bytes were removed for good.
        """
        self.settle_targets(account_id)
        args = [account_id, since, since]
        scope = "a.account_id = ? AND (? IS NULL OR a.started_at >= ?)"

        def total(sql: str) -> tuple[int, int]:
            n, b = self.conn.execute(
                "SELECT count(*), coalesce(sum(i.size), 0) FROM action_items i"
                f" JOIN actions a ON a.id = i.action_id WHERE {scope} AND {sql}",
                args,
            ).fetchone()
            return int(n), int(b)

        # EXISTS, never NOT IN: a delete of a message mailclean did not put in the Trash
        # has no origin, and one NULL in a NOT IN list makes it false for every row.
        undone = (
            "EXISTS (SELECT 1 FROM action_items u JOIN actions ua ON ua.id = u.action_id"
            " WHERE u.origin = i.id AND ua.kind = 'undo' AND u.state = 'done')"
        )
        emptied = (
            "EXISTS (SELECT 1 FROM action_items d JOIN actions da ON da.id = d.action_id"
            " WHERE d.origin = i.id AND da.kind = 'delete' AND d.state = 'done')"
        )
        present = (
            "EXISTS (SELECT 1 FROM folders f JOIN messages m ON m.folder_id = f.id"
            " WHERE f.account_id = a.account_id AND f.path = i.target_folder"
            " AND m.server_id = i.target_id AND (i.target_validity IS NULL"
            " OR f.uidvalidity IS NULL OR f.uidvalidity = i.target_validity))"
        )
        trash_done = "a.kind = 'trash' AND i.state = 'done'"
        trashed = total(f"{trash_done} AND NOT {undone}")
        deleted_from_trash = total(f"{trash_done} AND NOT {undone} AND {emptied}")
        in_trash = total(f"{trash_done} AND NOT {undone} AND NOT {emptied} AND {present}")
        left_trash = total(
            f"{trash_done} AND NOT {undone} AND NOT {emptied} AND NOT {present}"
        )
        deleted = total("a.kind = 'delete' AND i.state = 'done'")
        deleted_direct = total("a.kind = 'delete' AND i.state = 'done' AND i.origin IS NULL")
        exported = total("a.kind = 'export' AND i.state = 'done'")
        recoverable = total(
            "a.kind = 'delete' AND a.delete_mode = 'soft' AND i.state = 'done'"
        )
        restored = total("a.kind = 'undo' AND i.state = 'done'")
        return {
            "trashed_messages": trashed[0],
            "trashed_bytes": trashed[1],
            "still_in_trash_messages": in_trash[0],
            "still_in_trash_bytes": in_trash[1],
            "deleted_from_trash_messages": deleted_from_trash[0],
            "deleted_from_trash_bytes": deleted_from_trash[1],
            # Gone from the Trash without mailclean: emptied by another program, moved
            # out of it, or purged by the server (Gmail after 30 days).
            "left_trash_messages": left_trash[0],
            "left_trash_bytes": left_trash[1],
            "deleted_messages": deleted[0],
            "deleted_bytes": deleted[1],
            # Exchange's soft delete: out of the mailbox (and its quota), but an admin can
            # still recover them from Recoverable Items until the retention period ends.
            "recoverable_messages": recoverable[0],
            "recoverable_bytes": recoverable[1],
            "exported_messages": exported[0],
            "exported_bytes": exported[1],
            "restored_messages": restored[0],
            "restored_bytes": restored[1],
            # Messages taken out of the mailbox's folders: trashed ones (not put back)
            # and ones deleted without passing through mailclean's trash.
            "messages": trashed[0] + deleted_direct[0],
            "bytes": trashed[1] + deleted_direct[1],
            "freed_on_server_bytes": deleted[1],
            "actions": [a.as_dict() for a in self.actions(account_id, since)],
        }
