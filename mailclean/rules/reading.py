"""What a scan found, read back: per-rule totals (:func:`summary`), the groups of a rule's
hits (:func:`groups`, for ``mailclean senders`` and the app) and why a message is or is not
flagged (:func:`explain`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mailclean.index import Index
from mailclean.rules import unsubscribe
from mailclean.rules.loading import Protection, Rule, load_rules
from mailclean.rules.types import (
    TYPES,
    RuleError,
)


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
