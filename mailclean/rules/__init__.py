"""The rules engine: rules are data (TOML), compiled to SQL, run over the index.

Built-in rules ship in ``builtin.toml``; a user rules file overrides them by name (any key,
or ``enabled = false``) and adds rules of the same types. :func:`scan` writes the ``hits``
table; :func:`summary`, :func:`groups` and :func:`explain` read it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from mailclean.index import Index
from mailclean.rules.loading import BUILTIN, Protection, Rule, fingerprint, load_rules, sql_literal
from mailclean.rules.reading import ScanResult, explain, groups, summary
from mailclean.rules.types import GROUPS, TYPES, RuleError

__all__ = ["BUILTIN", "Protection", "Rule", "RuleError", "ScanResult", "count", "explain",
           "fingerprint", "groups", "load_rules", "scan", "summary"]


#: The index migration m004 creates on ``hits`` (clustered by account, rule, message): by
#: message, for ON DELETE CASCADE, ``explain`` and the reclaimable total (it covers them).
HITS_INDEX = "CREATE INDEX hits_message ON hits (message_id, bytes)"

def scan(
    index: Index,
    account: str,
    rules: dict[str, Rule],
    protection: Protection | None = None,
    *,
    now: datetime | None = None,
    force: bool = False,
    only: list[str] | None = None,
) -> ScanResult:
    """Run every enabled rule over the account's messages into ``hits``, one transaction.

    Hits are reused when nothing changed since the last scan (same rules and protection,
    no sync since), unless ``force``. ``only`` limits the figures to those rules.
    """
    protection = protection or Protection()
    row = index.require_account(account)
    account_id = row["id"]
    started = time.monotonic()
    mark = fingerprint(rules, protection)
    last = index.conn.execute(
        "SELECT fingerprint, scanned_at, summary FROM scans WHERE account_id = ?", [account_id]
    ).fetchone()
    fresh = (
        not force and now is None and last is not None and last[0] == mark
        and (row["changed_at"] or "") < last[1]
    )
    if fresh and not only and last[2]:
        # Nothing changed since the last scan: its figures stand.
        result = ScanResult(**json.loads(last[2]))
        result.seconds = time.monotonic() - started
        result.cached = True
        return result
    # Microsecond stamps, taken before the rules run: a write during the scan is newer.
    scanned_at = datetime.now(UTC).isoformat()
    if not fresh:
        _run(index, account_id, rules, protection, now or datetime.now(UTC))
    result = summary(index, account, rules, only)
    result.seconds = time.monotonic() - started
    result.cached = fresh
    if not fresh or not only:
        stored = None if only else json.dumps(
            {k: v for k, v in result.as_dict().items() if k not in ("seconds", "cached")}
        )
        with index.db.atomic():
            # The type of each rule behind the hits: explain() renders their facts with it.
            types = json.dumps({r.name: r.type for r in rules.values() if r.enabled})
            index.conn.execute(
                "INSERT OR REPLACE INTO scans (account_id, fingerprint, scanned_at, seconds,"
                " summary, rules) VALUES (?, ?, ?, ?, ?, ?)",
                [account_id, mark, scanned_at, result.seconds, stored, types],
            )
    return result


def _run(
    index: Index, account_id: int, rules: dict[str, Rule], protection: Protection, now: datetime
) -> None:
    conn = index.conn
    aid = int(account_id)
    protected = protection.sql()
    with _foreign_keys_off(conn), _scan_memory(conn), index.db.atomic():
        # Building the index once at the end is several times cheaper than maintaining it
        # row by row for hundreds of thousands of hits.
        conn.execute("DROP INDEX IF EXISTS hits_message")
        low, high = conn.execute(
            "SELECT (SELECT min(account_id) FROM hits), (SELECT max(account_id) FROM hits)"
        ).fetchone()
        if low is None or low == high == aid:
            conn.execute("DELETE FROM hits")  # SQLite empties the table at once
        else:
            conn.execute("DELETE FROM hits WHERE account_id = ?", [aid])
        count(conn, aid)
        # Rule by rule in name order, so that the rows go to the end of the table,
        # clustered by (account, rule, message). "+m.account_id" keeps SQLite from walking
        # an index on account_id (a random read of every message): it reads the table in
        # order, or goes through an index the rule's own condition can use (the folder,
        # attachment weight, the ids of duplicates, a thread). No ORDER BY: a sort would
        # cost more than it saves; most rules give the messages in id order, or nearly.
        for rule in sorted((r for r in rules.values() if r.enabled), key=lambda r: r.name):
            roles = ""
            if rule.folder_roles:
                # "+": the rule's own condition chooses the index, not this filter.
                roles = (
                    " AND +m.folder_id IN (SELECT id FROM folders WHERE role IN ("
                    + ", ".join(sql_literal(r) for r in rule.folder_roles) + "))"
                )
            for part in TYPES[rule.type].parts(rule.params, now):
                source, where = (
                    sql.replace(":account", str(aid)).replace(":protected", protected)
                    for sql in (part.source, part.where)
                )
                conn.execute(
                    f"""INSERT INTO hits (account_id, rule, message_id, group_key, bytes)
                        SELECT m.account_id, {sql_literal(rule.name)}, m.id,
                               {GROUPS[rule.group_by]}, m.size
                        FROM {source}
                        WHERE +m.account_id = {aid} AND ({where}) AND NOT {protected}{roles}""",
                    part.args,
                )
        conn.execute(HITS_INDEX)


def count(conn: sqlite3.Connection, account_id: int) -> None:
    """Bring the account's ``threads`` and ``copies`` (m008) up to date: count the messages
    added since the last count, or everything again when a counted message went or
    changed since. Called by a scan, in its transaction."""
    aid = int(account_id)
    row = conn.execute("SELECT upto, stale FROM counted WHERE account_id = ?", [aid]).fetchone()
    top = conn.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()[0]
    if row is not None and not row[1] and row[0] >= top:
        return
    if row is None or row[1]:
        # Everything again: one walk of each index, in key order.
        conn.execute("DELETE FROM threads WHERE account_id = ?", [aid])
        conn.execute("DELETE FROM copies WHERE account_id = ?", [aid])
        conn.execute(
            """INSERT INTO threads (account_id, thread_key, last, messages)
               SELECT account_id, thread_key, max(coalesce(date, received_at)), count(*)
               FROM messages WHERE account_id = ? AND thread_key IS NOT NULL
               GROUP BY account_id, thread_key""", [aid])
        conn.execute(
            """INSERT INTO copies (account_id, message_id, size, copies)
               SELECT account_id, message_id, size, count(*)
               FROM messages WHERE account_id = ? AND message_id IS NOT NULL
               GROUP BY account_id, message_id, size""", [aid])
    else:
        # Only the messages added since ("+account_id": by id range, not the whole
        # account's index). "WHERE": SQLite then reads ON CONFLICT as the upsert's.
        conn.execute(
            """INSERT INTO threads (account_id, thread_key, last, messages)
               SELECT account_id, thread_key, max(coalesce(date, received_at)), count(*)
               FROM messages WHERE +account_id = ? AND id > ? AND thread_key IS NOT NULL
               GROUP BY account_id, thread_key
               ON CONFLICT (account_id, thread_key) DO UPDATE SET
                   messages = messages + excluded.messages,
                   -- as max() over the thread: a message without a date changes nothing
                   last = CASE WHEN last IS NULL OR excluded.last > last THEN excluded.last
                               ELSE last END""", [aid, row[0]])
        conn.execute(
            """INSERT INTO copies (account_id, message_id, size, copies)
               SELECT account_id, message_id, size, count(*)
               FROM messages WHERE +account_id = ? AND id > ? AND message_id IS NOT NULL
               GROUP BY account_id, message_id, size
               ON CONFLICT (account_id, message_id, size) DO UPDATE SET
                   copies = copies + excluded.copies""", [aid, row[0]])
    conn.execute("INSERT OR REPLACE INTO counted (account_id, upto, stale) VALUES (?, ?, 0)",
                 [aid, top])


#: The page cache of a scan, in KiB (SQLite's default is 2 MiB): the hits it writes (60 MB
#: for a million messages) stay in memory until the commit instead of spilling to the WAL
#: mid-transaction and being read back to build their index. Pages read come from the
#: memory map, not the cache: 256 MB measured no faster than 64.
SCAN_CACHE_KIB = 65_536
#: How much of the index file a scan maps into memory: the rules read most of it, and a
#: mapped page costs a page fault once where a read costs a system call and a copy each
#: time it leaves the cache (SQLite caps it at its own limit, 2 GB in most builds). The
#: mapped pages are the kernel's cache of the file, not memory of the process, though
#: they count in its resident size while the scan runs.
SCAN_MMAP_BYTES = 4_000_000_000


@contextmanager
def _scan_memory(conn: sqlite3.Connection) -> Iterator[None]:
    """A larger page cache and a memory-mapped file for the scan, as they were after it."""
    cache = conn.execute("PRAGMA cache_size").fetchone()[0]
    mmap = conn.execute("PRAGMA mmap_size").fetchone()[0]
    conn.execute(f"PRAGMA cache_size = -{SCAN_CACHE_KIB}")
    conn.execute(f"PRAGMA mmap_size = {SCAN_MMAP_BYTES}")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA cache_size = {int(cache)}")
        conn.execute(f"PRAGMA mmap_size = {int(mmap)}")


@contextmanager
def _foreign_keys_off(conn: sqlite3.Connection) -> Iterator[None]:
    """Foreign keys off for the scan's transaction, as they were after it.

    Every hit is derived, in the same transaction, from a message of the account, so
    checking each one's parents only costs time (about a second for a million messages);
    and without them ``DELETE FROM hits`` empties the table at once.
    """
    if conn.in_transaction:  # the pragma cannot change inside a transaction
        yield
        return
    was = conn.execute("PRAGMA foreign_keys").fetchone()[0]
    conn.execute("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA foreign_keys = {int(was)}")
