"""Rule types: small classes that compile a rule's parameters to one SQL SELECT.

Each SELECT returns ``(message_id, group_key, detail)`` rows for one account: the messages
the rule flags, the group each belongs to, and the facts behind the flag as a JSON object
(rendered in the reader's language by :mod:`mailclean.rules.reasons`). Protection and the
common conditions are added around it by the engine, so a rule type only says what it finds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

ROLES = ("inbox", "sent", "drafts", "trash", "junk", "archive", "all", "flagged")
GROUPS = {
    "sender": "m.sender",
    "list": "coalesce(m.list_id, m.sender)",
    "thread": "coalesce(m.thread_key, 'message:' || m.id)",
    "folder": "(SELECT path FROM folders WHERE id = m.folder_id)",
    "domain": "m.sender_domain",
}
_UNITS = {"": 1, "b": 1, "kb": 10**3, "ko": 10**3, "k": 10**3, "mb": 10**6, "mo": 10**6,
          "m": 10**6, "gb": 10**9, "go": 10**9, "g": 10**9}


class RuleError(ValueError):
    """A rule is wrong: the message names the rule and the key."""


def parse_size(value: object, where: str) -> int:
    """``"5 MB"``, ``"1,5 Go"``, ``2000000`` -> bytes (decimal units, as sizes are shown)."""
    if isinstance(value, bool):
        raise RuleError(f"{where}: a size is expected, not {value!r}")
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str):
        m = re.fullmatch(r"\s*([0-9]+(?:[.,][0-9]+)?)\s*([a-zA-Z]*)\s*", value)
        if m and m.group(2).lower() in _UNITS:
            return int(float(m.group(1).replace(",", ".")) * _UNITS[m.group(2).lower()])
    raise RuleError(f"{where}: {value!r} is not a size (write it like \"5 MB\")")


@dataclass(frozen=True)
class Param:
    """A parameter a rule type takes."""

    kind: str  # "size", "number", "roles", "strings", "bool"
    default: Any = None


def check_param(name: str, key: str, p: Param, value: Any) -> Any:
    """``value`` checked and normalised for parameter ``key`` of rule ``name``."""
    where = f"rule {name!r}, key {key!r}"
    if p.kind == "size":
        return parse_size(value, where)
    if p.kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise RuleError(f"{where}: a positive number is expected, not {value!r}")
        return value
    if p.kind in ("roles", "strings"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise RuleError(f"{where}: a list of strings is expected, not {value!r}")
        if p.kind == "roles":
            bad = [v for v in value if v not in ROLES]
            if bad:
                roles = ", ".join(ROLES)
                raise RuleError(f"{where}: unknown folder role {bad[0]!r} (roles: {roles})")
        return [v.lower() for v in value]
    if p.kind == "bool":
        if not isinstance(value, bool):
            raise RuleError(f"{where}: true or false is expected, not {value!r}")
        return value
    raise AssertionError(p.kind)


class RuleType:
    """Base of the rule types. Subclasses set ``name`` and ``params`` and write ``select``."""

    name: ClassVar[str]
    params: ClassVar[dict[str, Param]] = {}
    default_group: ClassVar[str] = "sender"

    @classmethod
    def validate(cls, rule: str, values: dict[str, Any]) -> dict[str, Any]:
        """Checked parameters with defaults filled in."""
        out = {k: p.default for k, p in cls.params.items()}
        for key, value in values.items():
            if key not in cls.params:
                known = ", ".join(sorted(cls.params)) or "none"
                raise RuleError(
                    f"rule {rule!r}: unknown key {key!r} for type {cls.name!r} (keys: {known})"
                )
            out[key] = check_param(rule, key, cls.params[key], value)
        return out

    @staticmethod
    def select(p: dict[str, Any], now: datetime) -> tuple[str, list[Any]]:
        """SQL selecting ``m.id, <detail json>`` FROM messages m WHERE ... (no account filter:
        the engine adds it), and its parameters."""
        raise NotImplementedError


class LargeAttachments(RuleType):
    name = "large-attachments"
    params: ClassVar = {"min_size": Param("size", 5_000_000)}

    @staticmethod
    def select(p: dict[str, Any], now: datetime) -> tuple[str, list[Any]]:
        # attachment_bytes is the encoded (on-server) weight: what deleting frees.
        return (
            """SELECT m.id, json_object('count', m.attachment_count, 'bytes', m.attachment_bytes,
                   'names', (SELECT json_group_array(coalesce(a.filename, a.mime_type))
                             FROM (SELECT filename, mime_type FROM attachments
                                   WHERE message_id = m.id ORDER BY size DESC LIMIT 5) a))
               FROM messages m WHERE m.attachment_bytes >= ?""",
            [p["min_size"]],
        )


class OldThreads(RuleType):
    name = "old-threads"
    params: ClassVar = {"years": Param("number", 3)}
    default_group = "thread"

    @staticmethod
    def select(p: dict[str, Any], now: datetime) -> tuple[str, list[Any]]:
        cutoff = (now - timedelta(days=365.25 * p["years"])).isoformat()
        # A thread is old when its *latest* message is: one recent reply keeps it alive.
        # Grouping walks the covering index (account_id, thread_key, date, received_at);
        # a message without a thread key is a thread of its own.
        return (
            """SELECT m.id, json_object('last', t.last, 'messages', t.n)
               FROM (SELECT thread_key AS k, max(coalesce(date, received_at)) AS last,
                            count(*) AS n
                     FROM messages WHERE account_id = :account AND thread_key IS NOT NULL
                     GROUP BY thread_key HAVING last < ?) t
               JOIN messages m ON m.account_id = :account AND m.thread_key = t.k
               UNION ALL
               SELECT m.id, json_object('last', coalesce(m.date, m.received_at), 'messages', 1)
               FROM messages m
               WHERE m.account_id = :account AND m.thread_key IS NULL
                 AND coalesce(m.date, m.received_at) < ?""",
            [cutoff, cutoff],
        )


_PLATFORMS = ("sendinblue", "brevo", "mailchimp", "mailjet", "sendgrid", "mailgun",
              "campaign monitor", "hubspot", "marketo", "salesforce", "klaviyo", "sarbacane",
              "dolist", "emailing", "newsletter")


class Bulk(RuleType):
    name = "bulk"
    params: ClassVar = {"platforms": Param("strings", list(_PLATFORMS))}
    default_group = "list"

    @staticmethod
    def select(p: dict[str, Any], now: datetime) -> tuple[str, list[Any]]:
        mailer = " OR ".join("lower(m.mailer) LIKE ?" for _ in p["platforms"]) or "0"
        return (
            f"""SELECT m.id, json_object('list', m.list_id, 'precedence', m.precedence,
                    'unsubscribe', {UNSUBSCRIBE_SQL}, 'mailer', m.mailer)
                FROM messages m
                WHERE (m.list_id IS NOT NULL OR m.list_unsubscribe IS NOT NULL
                       OR m.precedence IN ('bulk', 'list', 'junk')
                       OR m.feedback_id IS NOT NULL OR {mailer})
                  AND m.folder_id NOT IN (SELECT id FROM folders
                                          WHERE role IN ('sent', 'drafts'))""",
            [f"%{name}%" for name in p["platforms"]],
        )


#: RFC 8058 one-click > an https link > a mailto address > nothing.
UNSUBSCRIBE_SQL = """CASE
    WHEN m.list_unsubscribe LIKE '%<http%' AND lower(m.list_unsubscribe_post)
         LIKE '%list-unsubscribe=one-click%' THEN 'one-click'
    WHEN m.list_unsubscribe LIKE '%<http%' THEN 'https'
    WHEN m.list_unsubscribe LIKE '%<mailto:%' THEN 'mailto'
    ELSE 'none' END"""

_ROBOTS = ("noreply", "no-reply", "no_reply", "donotreply", "do-not-reply", "do_not_reply",
           "notification", "notifications", "notify", "alert", "alerts", "mailer-daemon",
           "postmaster", "automated", "robot", "system", "bounce", "ne-pas-repondre",
           "nepasrepondre", "ne_pas_repondre")


class Automatic(RuleType):
    name = "automatic"
    params: ClassVar = {"senders": Param("strings", list(_ROBOTS))}

    @staticmethod
    def select(p: dict[str, Any], now: datetime) -> tuple[str, list[Any]]:
        senders = p["senders"]
        local = "substr(s, 1, instr(s, '@') - 1)"
        robot = " OR ".join(f"{local} = ? OR {local} LIKE ?" for _ in senders) or "0"
        args: list[Any] = []
        for s in senders:
            args += [s, f"{s}%"]
        # The patterns are tried once per distinct sender, not once per message:
        # MATERIALIZED stops SQLite from pushing them down into the per-row scan.
        return (
            f"""WITH senders(s) AS MATERIALIZED (
                    SELECT DISTINCT sender FROM messages
                    WHERE account_id = :account AND sender IS NOT NULL)
                SELECT m.id, json_object('auto_submitted', m.auto_submitted, 'sender', m.sender)
                FROM messages m
                WHERE m.account_id = :account
                  AND ((m.auto_submitted IS NOT NULL AND m.auto_submitted != 'no')
                       OR m.sender IN (SELECT s FROM senders WHERE {robot}))""",
            args,
        )


class Duplicates(RuleType):
    name = "duplicates"
    default_group = "folder"

    @staticmethod
    def select(p: dict[str, Any], now: datetime) -> tuple[str, list[Any]]:
        # Rank the copies; rank 1 is kept: a protected copy first, then one outside Trash
        # and Junk, then the oldest row. The engine's protection clause only removes
        # flags, so at least rank 1 always stays.
        return (
            """SELECT d.id, json_object('kept_folder', (SELECT path FROM folders WHERE id = d.keep),
                                        'copies', d.copies)
               FROM (
                   SELECT m.id, count(*) OVER w AS copies,
                          first_value(m.folder_id) OVER w AS keep,
                          row_number() OVER w AS rank
                   FROM messages m
                   WHERE m.account_id = :account AND m.message_id IS NOT NULL
                     AND (m.account_id, m.message_id, m.size) IN (
                         SELECT account_id, message_id, size FROM messages
                         WHERE account_id = :account AND message_id IS NOT NULL
                         GROUP BY 1, 2, 3 HAVING count(*) > 1)
                   WINDOW w AS (PARTITION BY m.message_id, m.size
                                ORDER BY :protected DESC,
                                         (SELECT role IN ('trash', 'junk') FROM folders
                                          WHERE id = m.folder_id) ASC,
                                         m.id)
               ) d JOIN messages m ON m.id = d.id
               WHERE d.rank > 1""",
            [],
        )


class FolderRole(RuleType):
    name = "folder-role"
    params: ClassVar = {"roles": Param("roles", ["trash", "junk"])}
    default_group = "folder"

    @staticmethod
    def select(p: dict[str, Any], now: datetime) -> tuple[str, list[Any]]:
        marks = ", ".join("?" for _ in p["roles"]) or "NULL"
        return (
            f"""SELECT m.id, json_object('folder', f.path, 'role', f.role)
                FROM messages m JOIN folders f ON f.id = m.folder_id
                WHERE f.role IN ({marks})""",
            list(p["roles"]),
        )


TYPES: dict[str, type[RuleType]] = {
    t.name: t for t in (LargeAttachments, OldThreads, Bulk, Automatic, Duplicates, FolderRole)
}
