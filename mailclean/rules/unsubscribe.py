"""The best way out of a group's mail, written once for ``mailclean senders`` (through
:func:`mailclean.rules.groups`) and the review app's group lists.

Each message's method is :data:`~mailclean.rules.types.UNSUBSCRIBE_SQL`; a group's is the
best any of its messages offers: RFC 8058 one-click > an https link > a mailto address >
nothing.
"""

from __future__ import annotations

import sqlite3

from mailclean.rules.types import UNSUBSCRIBE_SQL

__all__ = ["METHODS", "RANK_SQL", "best_of_group", "method"]

#: The methods from worst to best: a method's rank is its place here.
METHODS = ("none", "mailto", "https", "one-click")

#: A message ``m``'s method as its rank in :data:`METHODS` (aggregate it with ``max``).
RANK_SQL = (f"CASE {UNSUBSCRIBE_SQL} WHEN 'one-click' THEN 3 WHEN 'https' THEN 2"
            " WHEN 'mailto' THEN 1 ELSE 0 END")


def method(rank: int | None) -> str:
    """The method of rank ``rank`` (None, a group without messages: "none")."""
    return METHODS[rank or 0]


def best_of_group(conn: sqlite3.Connection, account_id: int, rule: str,
                  group: str | None) -> str:
    """The best method the messages of one group of ``rule`` offer (every message the
    rule flags in that group, wherever it is now)."""
    best = conn.execute(
        f"SELECT max({RANK_SQL}) FROM hits h JOIN messages m ON m.id = h.message_id"
        " WHERE h.account_id = ? AND h.rule = ? AND h.group_key IS ?",
        [account_id, rule, group],
    ).fetchone()[0]
    return method(best)
