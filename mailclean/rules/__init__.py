"""The rules engine: rules are data (TOML), compiled to SQL, run over the index.

Built-in rules ship in ``builtin.toml``; a user rules file overrides them by name (any key,
or ``enabled = false``) and adds rules of the same types. :func:`scan` writes the ``hits``
table; :func:`summary`, :func:`groups` and :func:`explain` read it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mailclean.i18n import LANGUAGES, _
from mailclean.index import Index
from mailclean.rules import unsubscribe
from mailclean.rules.types import (
    GROUPS,
    TYPES,
    VIRTUAL_FOLDERS,
    Param,
    RuleError,
    check_param,
)
from mailclean.validation import did_you_mean, nearest, protect_problems, shown

__all__ = ["Protection", "Rule", "RuleError", "ScanResult", "count", "explain", "groups",
           "load_rules", "scan", "summary"]

BUILTIN = Path(__file__).with_name("builtin.toml")
_COMMON = {"type", "enabled", "group_by", "title", "description", "folder_roles"}
#: Every parameter some rule type takes.
_ALL_PARAMS = {key for t in TYPES.values() for key in t.params}
#: The index migration m004 creates on ``hits`` (clustered by account, rule, message): by
#: message, for ON DELETE CASCADE, ``explain`` and the reclaimable total (it covers them).
HITS_INDEX = "CREATE INDEX hits_message ON hits (message_id, bytes)"


@dataclass(frozen=True)
class Rule:
    """A rule instance: a type, its checked parameters, how hits are grouped, its texts."""

    name: str
    type: str
    params: dict[str, Any]
    group_by: str
    title: dict[str, str]
    description: dict[str, str]
    folder_roles: tuple[str, ...] = ()
    enabled: bool = True
    builtin: bool = True

    def text(self, what: str, lang: str) -> str:
        """Title or description in ``lang``, falling back to English, then the name."""
        texts = self.title if what == "title" else self.description
        return texts.get(lang) or texts.get("en") or self.name


@dataclass(frozen=True)
class Protection:
    """What no rule may ever flag, besides flagged (starred) messages."""

    senders: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    folders: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    """Words that protect a message when its subject contains them (case-insensitive)."""

    @classmethod
    def from_config(cls, table: dict | None, source: Path | str | None = None) -> Protection:
        """From the config's ``[protect]`` table; RuleError lists every mistake, naming the
        table and the key (and ``source``, the file, when given)."""
        problems = protect_problems(table)
        if problems:
            if source is not None:
                problems = [f"{source}: {p}" for p in problems]
            raise RuleError("\n".join(problems), problems)
        table = table or {}
        out = {}
        for key in ("senders", "domains", "folders", "keywords"):
            value = table.get(key, [])
            out[key] = tuple(v if key == "folders" else v.lower() for v in value)
        return cls(**out)

    def sql(self) -> str:
        """A boolean SQL expression over ``m``: true when the message is protected (always
        so in a virtual folder: what it shows lives, and is judged, in another folder)."""
        terms = ["m.flagged = 1", f"m.folder_id IN ({VIRTUAL_FOLDERS})"]
        if self.senders:
            terms.append(f"m.sender IN ({_literals(self.senders)})")
        if self.domains:
            terms.append(f"m.sender_domain IN ({_literals(self.domains)})")
            terms += [f"m.sender_domain LIKE {_lit('%.' + d)}" for d in self.domains]
        if self.folders:
            terms.append(
                f"m.folder_id IN (SELECT id FROM folders WHERE path IN ({_literals(self.folders)}))"
            )
        terms += [f"instr(lower(m.subject), {_lit(k)}) > 0" for k in self.keywords]
        # A message without a sender or a subject makes its terms NULL, and NOT NULL is
        # not true: without the coalesce no rule would flag such a message at all.
        return "coalesce(" + " OR ".join(terms) + ", 0)"


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _literals(values: tuple[str, ...]) -> str:
    return ", ".join(_lit(v) for v in values)


def _texts(where: str, value: Any) -> dict[str, str]:
    """A title or description: a text, or one per language (``{ en = ..., fr = ... }``)."""
    if value is None:
        return {}
    if isinstance(value, str):
        return {"en": value}
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        bad = [k for k in value if k not in LANGUAGES]
        if bad:
            raise RuleError(_("{where}: unknown language {lang!r}{hint} (languages: {langs})")
                            .format(where=where, lang=bad[0], hint=did_you_mean(bad[0], LANGUAGES),
                                    langs=", ".join(LANGUAGES)))
        return dict(value)
    raise RuleError(_('{where}: a text, or {{ en = "...", fr = "..." }}, is expected, '
                      "not {value}").format(where=where, value=shown(value)))


def _read_toml(path: Path, problems: list[str]) -> dict[str, dict]:
    """The rule tables of a rules file; what is not a rule table goes to ``problems``.
    RuleError at once when the file cannot be read as TOML."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as exc:  # TOMLDecodeError, an integer too long
        raise RuleError(_("{path}: not valid TOML: {error}").format(path=path, error=exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleError(_("cannot read {path}: {error}").format(path=path, error=exc)) from None
    hint = _("a rules file holds only rules, each a table [rules.NAME], such as "
             "[rules.newsletters]")
    for key in data:
        if key != "rules":
            problems.append(_("{path}: unknown table {key!r}{hint} ({what})").format(
                path=path, key=key, hint=did_you_mean(key, ["rules"]), what=hint))
    rules = data.get("rules", {})
    if not isinstance(rules, dict):
        problems.append(_("{path}: 'rules' must hold tables ({what})").format(
            path=path, what=hint))
        return {}
    out = {}
    for name, table in rules.items():
        if isinstance(table, dict):
            out[name] = table
            continue
        extra = ""
        if name in _COMMON or name in _ALL_PARAMS:
            extra = _("; a key goes in its rule's table, such as [rules.large-attachments]")
        problems.append(_("{path}: rule {name!r} must be a table of keys{extra} ({what})").format(
            path=path, name=name, extra=extra, what=hint))
    return out


def load_rules(user_file: Path | None = None) -> dict[str, Rule]:
    """Built-in rules merged with the user's file.

    A table named like a built-in rule overrides its keys (when it changes the type, the
    built-in parameters of the old type are dropped). RuleError lists every mistake, one
    line each, naming the file, the rule and the key, with the nearest valid key or value
    for a misspelt one; every parameter is bounded, so what loads can always be scanned.
    """
    problems: list[str] = []
    tables = {name: dict(t) for name, t in _read_toml(BUILTIN, problems).items()}
    builtin = set(tables)
    sources = dict.fromkeys(tables, BUILTIN)
    order: dict[str, int] = {}
    if user_file is not None and user_file.exists():
        for name, table in _read_toml(user_file, problems).items():
            order[name] = len(order)
            base = tables.get(name, {})
            kind = table.get("type", base.get("type"))
            if base and isinstance(kind, str) and kind in TYPES and kind != base.get("type"):
                keep = _COMMON | set(TYPES[kind].params)
                base = {k: v for k, v in base.items() if k in keep}
            tables[name] = {**base, **table}
            sources[name] = user_file
    rules, wrong = {}, {}
    for name, table in tables.items():
        try:
            rules[name] = _build(name, table, name in builtin, sources[name], builtin)
        except RuleError as exc:
            wrong[name] = exc.errors
    # In the order of the user's file (where the mistakes are), then the built-in rules.
    for name in sorted(wrong, key=lambda n: order.get(n, len(order))):
        problems += wrong[name]
    if problems:
        raise RuleError("\n".join(problems), problems)
    return rules


def _build(name: str, table: dict, builtin: bool, source: Path,
           builtins: set[str] | None = None) -> Rule:
    """The rule of table ``rules.NAME``; RuleError lists every mistake in it."""

    def where(key: str) -> str:
        return _("{file}: rule {rule!r}, key {key!r}").format(file=source, rule=name, key=key)

    problems: list[str] = []
    kind = table.get("type")
    rtype = TYPES.get(kind) if isinstance(kind, str) else None
    if kind is None:
        near = None if builtin else nearest(name, builtins or ())
        hint = _("; or did you mean the built-in rule {name!r}?").format(name=near) if near else ""
        problems.append(_("{where}: missing: a new rule needs a type, one of {types}{hint}")
                        .format(where=where("type"), types=", ".join(TYPES), hint=hint))
    elif rtype is None:
        problems.append(_("{where}: must be one of {types}, not {value}{hint}").format(
            where=where("type"), types=", ".join(TYPES), value=shown(kind),
            hint=did_you_mean(kind, TYPES) if isinstance(kind, str) else ""))
    valid = _COMMON | set(rtype.params) if rtype else _COMMON | _ALL_PARAMS
    for key in table:
        if key not in valid:
            problems.append(_("{file}: rule {rule!r}: unknown key {key!r}{hint} (valid keys: "
                              "{keys})").format(file=source, rule=name, key=key,
                                                hint=did_you_mean(key, valid),
                                                keys=", ".join(sorted(valid))))
    params: dict[str, Any] = {}
    if rtype is not None:
        try:
            params = rtype.validate(
                name, {k: v for k, v in table.items() if k in rtype.params}, where)
        except RuleError as exc:
            problems += exc.errors
    group = table.get("group_by", rtype.default_group if rtype else "sender")
    if not isinstance(group, str) or group not in GROUPS:
        problems.append(_("{where}: must be one of {groups}, not {value}{hint}").format(
            where=where("group_by"), groups=", ".join(GROUPS), value=shown(group),
            hint=did_you_mean(group, GROUPS) if isinstance(group, str) else ""))
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        problems.append(_("{where}: must be true or false, not {value}").format(
            where=where("enabled"), value=shown(enabled)))
    texts: dict[str, dict[str, str]] = {}
    for key in ("title", "description"):
        try:
            texts[key] = _texts(where(key), table.get(key))
        except RuleError as exc:
            problems += exc.errors
    roles: list[str] = []
    try:
        roles = check_param(where("folder_roles"), Param("roles"), table.get("folder_roles", []))
    except RuleError as exc:
        problems += exc.errors
    if problems:
        raise RuleError("\n".join(problems), problems)
    assert isinstance(kind, str)
    return Rule(
        name=name, type=kind, params=params, group_by=group,
        title=texts["title"], description=texts["description"],
        folder_roles=tuple(roles), enabled=enabled, builtin=builtin,
    )


def fingerprint(rules: dict[str, Rule], protection: Protection) -> str:
    """Changes when the rules or the protection change: hits must then be recomputed."""
    data = json.dumps(
        [[r.name, r.type, r.params, r.group_by, r.folder_roles, r.enabled]
         for r in sorted(rules.values(), key=lambda r: r.name)] + [protection.__dict__],
        sort_keys=True, default=list,
    )
    return hashlib.sha256(data.encode()).hexdigest()[:16]


@dataclass
class ScanResult:
    """What a scan found, per rule and in total (a message hit twice counts once)."""

    account: str
    total_messages: int
    total_bytes: int
    reclaimable_messages: int
    reclaimable_bytes: int
    rules: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    cached: bool = False

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "account": self.account, "total_messages": self.total_messages,
            "total_bytes": self.total_bytes, "reclaimable_messages": self.reclaimable_messages,
            "reclaimable_bytes": self.reclaimable_bytes, "rules": self.rules,
            "seconds": round(self.seconds, 3), "cached": self.cached,
        }


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
                    + ", ".join(_lit(r) for r in rule.folder_roles) + "))"
                )
            for part in TYPES[rule.type].parts(rule.params, now):
                source, where = (
                    sql.replace(":account", str(aid)).replace(":protected", protected)
                    for sql in (part.source, part.where)
                )
                conn.execute(
                    f"""INSERT INTO hits (account_id, rule, message_id, group_key, bytes)
                        SELECT m.account_id, {_lit(rule.name)}, m.id, {GROUPS[rule.group_by]},
                               m.size
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


def summary(
    index: Index, account: str, rules: dict[str, Rule], only: list[str] | None = None
) -> ScanResult:
    """Per-rule and total figures from the hits table (no rule is run); ``only`` limits
    them, the reclaimable total included, to those rules."""
    row = index.require_account(account)
    aid = row["id"]
    total_m, total_b = index.conn.execute(
        "SELECT count(*), coalesce(sum(size), 0) FROM messages WHERE account_id = ?", [aid]
    ).fetchone()
    chosen = [r.name for r in rules.values() if r.enabled and (not only or r.name in only)]
    marks = ", ".join("?" for _ in chosen) or "NULL"
    subset = f" AND rule IN ({marks})" if only else ""
    # One row per message however many rules flag it: each is freed once (every hit of a
    # message carries its size). "+account_id" keeps SQLite on the covering index
    # hits_message, already in message order: DISTINCT compares neighbours, where GROUP BY
    # would allocate an aggregate per message.
    rec_m, rec_b = index.conn.execute(
        "SELECT count(*), coalesce(sum(bytes), 0) FROM (SELECT DISTINCT message_id, bytes"
        f" FROM hits WHERE +account_id = ?{subset})",
        [aid, *(chosen if only else [])],
    ).fetchone()
    per_rule = {
        r[0]: (r[1], r[2])
        for r in index.conn.execute(
            "SELECT rule, count(*), sum(bytes) FROM hits WHERE account_id = ? GROUP BY rule",
            [aid],
        )
    }
    out = []
    for rule in rules.values():
        if rule.name not in chosen:
            continue
        n, b = per_rule.get(rule.name, (0, 0))
        out.append({"rule": rule.name, "messages": n, "bytes": b,
                    "share": round(b / total_b, 4) if total_b else 0.0})
    return ScanResult(account, total_m, total_b, rec_m, rec_b, out)


def groups(
    index: Index, account: str, rule: str | None = None, limit: int | None = 50
) -> list[dict]:
    """Hits per group (sender, list, thread or folder, as the rule groups), largest first,
    with the best way to unsubscribe where the messages say."""
    row = index.require_account(account)
    where = "h.account_id = ?" + (" AND h.rule = ?" if rule else "")
    args: list[Any] = [row["id"]] + ([rule] if rule else [])
    # One row per (group, message): a message several rules flag counts once.
    sql = f"""
        WITH g AS (SELECT h.group_key AS k, h.message_id AS mid, group_concat(h.rule) AS rules
                   FROM hits h WHERE {where} GROUP BY h.group_key, h.message_id)
        SELECT g.k, count(*), sum(m.size), max({unsubscribe.RANK_SQL}),
               group_concat(g.rules), max(m.thread_key IS g.k)
        FROM g JOIN messages m ON m.id = g.mid
        GROUP BY g.k ORDER BY 3 DESC, 1 {"LIMIT ?" if limit else ""}"""
    out = [
        {"group": r[0], "label": r[0], "messages": r[1], "bytes": r[2] or 0,
         "unsubscribe": unsubscribe.method(r[3]), "rules": sorted(set((r[4] or "").split(","))),
         "thread": bool(r[5])}
        for r in index.conn.execute(sql, args + ([limit] if limit else []))
    ]
    for g in out:
        # A thread's key is a Message-ID nobody can read: people know it by its subject.
        if g.pop("thread") and g["group"] is not None:
            first = index.conn.execute(
                "SELECT subject FROM messages WHERE account_id = ? AND thread_key = ?"
                " AND subject IS NOT NULL ORDER BY coalesce(date, received_at) LIMIT 1",
                [row["id"], g["group"]],
            ).fetchone()
            if first and first[0]:
                g["label"] = first[0]
    return out


def explain(index: Index, account: str, message: str, protection: Protection | None = None,
            rules: dict[str, Rule] | None = None) -> dict:
    """Everything about one message (index id or Message-ID): where, what, and each flag
    with its facts. The facts are read from the index now, by each rule's type: the one in
    ``rules``, else the one the last scan recorded, else the built-in rule's."""
    row = index.require_account(account)
    aid = int(row["id"])
    cols = ("id", "folder", "subject", "sender", "date", "size", "flagged", "message_id",
            "attachment_count", "list_id")
    query = (
        "SELECT m.id, f.path, m.subject, m.sender, coalesce(m.date, m.received_at), m.size,"
        " m.flagged, m.message_id, m.attachment_count, m.list_id"
        " FROM messages m JOIN folders f ON f.id = m.folder_id WHERE m.account_id = ? AND "
    )
    key = message.strip().strip("<>")
    found = index.conn.execute(
        query + ("m.id = ?" if key.isdigit() else "m.message_id = ?"),
        [aid, int(key) if key.isdigit() else key],
    ).fetchall()
    if not found:
        raise RuleError(f"no message {message!r} in account {account!r}")
    types = _rule_types(index, aid, rules)
    out = []
    protected_sql = (protection or Protection()).sql()
    for r in found:
        item = dict(zip(cols, r, strict=True))
        item["protected"] = bool(index.conn.execute(
            f"SELECT {protected_sql} FROM messages m WHERE m.id = ?", [r[0]]
        ).fetchone()[0])
        item["hits"] = [
            {"rule": h[0], "group": h[1], "bytes": h[2],
             "detail": _detail(index, aid, types.get(h[0]), r[0], protected_sql)}
            for h in index.conn.execute(
                "SELECT rule, group_key, bytes FROM hits WHERE account_id = ? AND message_id = ?"
                " ORDER BY rule", [aid, r[0]]
            )
        ]
        item["role"] = index.conn.execute(
            "SELECT f.role FROM messages m JOIN folders f ON f.id = m.folder_id WHERE m.id = ?",
            [r[0]]).fetchone()[0]
        # Why the other rules do not flag it: the same facts, read for this message.
        hit = {h["rule"] for h in item["hits"]}
        item["misses"] = [
            {"rule": name, "detail": _detail(index, aid, rule.type, r[0], protected_sql)}
            for name, rule in (rules or {}).items() if rule.enabled and name not in hit
        ]
        out.append(item)
    return {"account": account, "messages": out}


def _rule_types(index: Index, account_id: int, rules: dict[str, Rule] | None) -> dict[str, str]:
    if rules is not None:
        return {r.name: r.type for r in rules.values()}
    recorded = index.conn.execute(
        "SELECT rules FROM scans WHERE account_id = ?", [account_id]
    ).fetchone()
    if recorded and recorded[0]:
        types: dict[str, str] = json.loads(recorded[0])
        return types
    return {r.name: r.type for r in load_rules(None).values()}


def _detail(index: Index, account_id: int, rule_type: str | None, message_id: int,
            protected: str) -> dict:
    """The facts behind a flag of ``message_id`` by a rule of ``rule_type``, as a dict."""
    if rule_type not in TYPES:
        return {}
    sql = (TYPES[rule_type].detail().replace(":message", str(int(message_id)))
           .replace(":account", str(int(account_id))).replace(":protected", protected))
    found = index.conn.execute(sql).fetchone()
    return json.loads(found[0]) if found and found[0] else {}
