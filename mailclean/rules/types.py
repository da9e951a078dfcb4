"""Rule types: small classes that compile a rule's parameters to SQL.

A type gives a condition over one message (``where``: which messages the rule flags) and
the facts behind a flag as a JSON object (``detail``: computed when a hit is shown, and
rendered in the reader's language by :mod:`mailclean.rules.reasons`). Protection, the
folder roles, the group and the writing of the hits are added around it by the engine, so
a rule type only says what it finds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from mailclean.i18n import _
from mailclean.model import VIRTUAL_ROLES
from mailclean.validation import did_you_mean, shown

ROLES = ("inbox", "sent", "drafts", "trash", "junk", "archive", "all", "flagged")
GROUPS = {
    "sender": "m.sender",
    "list": "coalesce(m.list_id, m.sender)",
    "thread": "coalesce(m.thread_key, 'message:' || m.id)",
    "folder": "(SELECT path FROM folders WHERE id = m.folder_id)",
    "domain": "m.sender_domain",
}
_UNITS = {"b": 1, "o": 1, "kb": 10**3, "ko": 10**3, "k": 10**3, "mb": 10**6, "mo": 10**6,
          "m": 10**6, "gb": 10**9, "go": 10**9, "g": 10**9, "tb": 10**12, "to": 10**12,
          "t": 10**12}
_UNITS_SHOWN = "B, kB, MB, GB, TB or ko, Mo, Go, To"
_SIZE = re.compile(r"\s*([0-9]+(?:[.,][0-9]+)?)\s*([a-zA-Z]*)\s*")
#: The largest size a rule or ``--larger-than`` takes: 1 TB, more than any message.
MAX_SIZE = 10**12
#: The most texts a list parameter holds: each is one more term of the rule's SQL (SQLite
#: takes at most 500 SELECTs in a compound and expressions 1,000 terms deep).
MAX_TEXTS = 200
#: The longest text of a list parameter.
MAX_TEXT = 200


class RuleError(ValueError):
    """A rule is wrong: the message names the file, the rule and the key.

    ``errors`` holds every mistake found, one line each (the message is those lines).
    """

    def __init__(self, message: str, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.errors = list(errors) if errors else [message]


def parse_size(value: object, where: str) -> int:
    """``"5 MB"``, ``"1,5 Go"``, ``"300 B"`` -> bytes (decimal units, as sizes are shown).

    Between 0 and 1 TB. A number without a unit is refused (``5`` is surely not meant as
    5 bytes), but for 0; RuleError, prefixed with ``where``, says what to write.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise RuleError(_('{where}: a size such as "5 MB" is expected, not {value}').format(
            where=where, value=shown(value)))
    if isinstance(value, str):
        m = _SIZE.fullmatch(value)
        if not m:
            raise RuleError(
                _('{where}: {value} is not a size (write it like "5 MB"; units: {units})').format(
                    where=where, value=shown(value), units=_UNITS_SHOWN))
        amount, unit = Decimal(m.group(1).replace(",", ".")), m.group(2).lower()
        if unit and unit not in _UNITS:
            raise RuleError(_("{where}: unknown unit {unit!r} in {value} (units: {units})").format(
                where=where, unit=m.group(2), value=shown(value), units=_UNITS_SHOWN))
    elif not math.isfinite(value):
        raise RuleError(
            _('{where}: {value} is not a size (write it like "5 MB"; units: {units})').format(
                where=where, value=shown(value), units=_UNITS_SHOWN))
    else:
        amount, unit = Decimal(value), ""
    if amount == 0:
        return 0
    if amount < 0:
        raise RuleError(_("{where}: a size cannot be negative, not {value}").format(
            where=where, value=shown(value)))
    if amount.adjusted() > 15 or amount * _UNITS.get(unit, 1) > MAX_SIZE:
        raise RuleError(_("{where}: {value} is too large: a size is at most 1 TB").format(
            where=where, value=shown(value)))
    if not unit:
        raise RuleError(_(
            '{where}: {value} has no unit: write a size such as "5 MB" (units: {units}), '
            'or "{bare} B" if you really mean bytes'
        ).format(where=where, value=shown(value), units=_UNITS_SHOWN,
                 bare=shown(value).strip("'\"")))
    amount *= _UNITS[unit]
    return int(amount)


@dataclass(frozen=True)
class Param:
    """A parameter a rule type takes. A number is more than 0 and at most ``high``."""

    kind: str  # "size", "number", "roles", "strings", "bool"
    default: Any = None
    high: float = math.inf


def check_param(where: str, p: Param, value: Any) -> Any:
    """``value`` checked and normalised for a parameter ``p``; RuleError, prefixed with
    ``where`` (which names the file, the rule and the key), says what is wrong."""
    if p.kind == "size":
        return parse_size(value, where)
    if p.kind == "number":
        if (isinstance(value, bool) or not isinstance(value, int | float)
                or not (0 < value <= p.high)):  # NaN fails this too
            raise RuleError(_(
                "{where}: a positive number, more than 0 and at most {high}, is expected, "
                "not {value}"
            ).format(where=where, high=f"{p.high:g}", value=shown(value)))
        return value
    if p.kind in ("roles", "strings"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise RuleError(_("{where}: a list of texts is expected, such as {example}, "
                              "not {value}").format(
                where=where, value=shown(value),
                example='["trash", "junk"]' if p.kind == "roles" else '["noreply", "alert"]'))
        if any(not v.strip() for v in value):
            raise RuleError(_("{where}: an empty text would match everything").format(
                where=where))
        if p.kind == "roles":
            bad = [v for v in value if v not in ROLES]
            if bad:
                raise RuleError(
                    _("{where}: unknown folder role {role}{hint} (roles: {roles})").format(
                        where=where, role=shown(bad[0]), hint=did_you_mean(bad[0], ROLES),
                        roles=", ".join(ROLES)))
        if len(value) > MAX_TEXTS:
            raise RuleError(_("{where}: at most {limit} texts, not {n}").format(
                where=where, limit=MAX_TEXTS, n=len(value)))
        long = [v for v in value if len(v) > MAX_TEXT]
        if long:
            raise RuleError(_("{where}: {value} is longer than {limit} characters").format(
                where=where, value=shown(long[0]), limit=MAX_TEXT))
        return [v.lower() for v in value]
    if p.kind == "bool":
        if not isinstance(value, bool):
            raise RuleError(_("{where}: true or false is expected, not {value}").format(
                where=where, value=shown(value)))
        return value
    raise AssertionError(p.kind)


def _where(rule: str) -> Callable[[str], str]:
    """Names rule ``rule``'s key in a message, when no file is known."""
    return lambda key: _("rule {rule!r}, key {key!r}").format(rule=rule, key=key)


@dataclass(frozen=True)
class Part:
    """One INSERT of a rule: a FROM clause that binds the message ``m``, a condition over
    ``m`` and its parameters (``:account`` and ``:protected`` as in :meth:`RuleType.where`).
    """

    source: str
    where: str
    args: list[Any]


class RuleType:
    """Base of the rule types. Subclasses set ``name`` and ``params`` and write ``where``
    (or ``parts``) and ``detail``."""

    name: ClassVar[str]
    params: ClassVar[dict[str, Param]] = {}
    default_group: ClassVar[str] = "sender"

    @classmethod
    def validate(
        cls, rule: str, values: dict[str, Any], where: Callable[[str], str] | None = None
    ) -> dict[str, Any]:
        """Checked parameters with defaults filled in. RuleError lists every mistake, each
        named by ``where(key)`` (by default: the rule and the key)."""
        where = where or _where(rule)
        out = {k: p.default for k, p in cls.params.items()}
        problems = []
        for key, value in values.items():
            if key not in cls.params:
                known = ", ".join(sorted(cls.params)) or "-"
                problems.append(_(
                    "{where}: unknown key for type {type!r}{hint} (its keys: {keys})"
                ).format(where=where(key), type=cls.name, keys=known,
                         hint=did_you_mean(key, cls.params)))
                continue
            try:
                out[key] = check_param(where(key), cls.params[key], value)
            except RuleError as exc:
                problems += exc.errors
        if problems:
            raise RuleError("\n".join(problems), problems)
        return out

    @staticmethod
    def where(p: dict[str, Any], now: datetime) -> tuple[str, list[Any]]:
        """A boolean SQL expression over the message ``m`` (a row of ``messages``): true
        when the rule flags it; and its parameters. ``:account`` stands for the account's
        id and ``:protected`` for the protection expression over ``m``. The engine adds the
        account filter, the protection and the folder roles around it, in one INSERT per
        rule. A rule that needs a whole thread or all the copies of a message writes
        ``m.id IN (<uncorrelated subquery>)``: SQLite computes those ids once and reads only
        those messages."""
        raise NotImplementedError

    @classmethod
    def parts(cls, p: dict[str, Any], now: datetime) -> list[Part]:
        """The rule as INSERTs: by default one, over every message of the account, with
        :meth:`where`. A type that can name its messages through an index, without reading
        the table, gives its own FROM clauses instead (the parts must not overlap)."""
        return [Part("messages m", *cls.where(p, now))]

    @staticmethod
    def detail() -> str:
        """A SQL SELECT of one JSON object, the facts behind a flag of message ``:message``
        (its id), rendered by :mod:`mailclean.rules.reasons`. Evaluated when a hit is shown,
        never during a scan; ``:account`` and ``:protected`` as in :meth:`where`."""
        raise NotImplementedError


class LargeAttachments(RuleType):
    name = "large-attachments"
    params: ClassVar = {"min_size": Param("size", 5_000_000)}

    @staticmethod
    def where(p: dict[str, Any], now: datetime) -> tuple[str, list[Any]]:
        # attachment_bytes is the encoded (on-server) weight: what deleting frees. The
        # extra "> 0" term (implied by a positive threshold) lets SQLite use the partial
        # index messages_attachment_bytes (m004) instead of reading every message.
        if p["min_size"] > 0:
            return "m.attachment_bytes >= ? AND m.attachment_bytes > 0", [p["min_size"]]
        return "m.attachment_bytes >= ?", [p["min_size"]]

    @staticmethod
    def detail() -> str:
        return """SELECT json_object('count', m.attachment_count, 'bytes', m.attachment_bytes,
                      'names', (SELECT json_group_array(coalesce(a.filename, a.mime_type))
                                FROM (SELECT filename, mime_type FROM attachments
                                      WHERE message_id = m.id ORDER BY size DESC LIMIT 5) a))
                  FROM messages m WHERE m.id = :message"""


class OldThreads(RuleType):
    name = "old-threads"
    params: ClassVar = {"years": Param("number", 3, high=100)}
    default_group = "thread"

    @classmethod
    def parts(cls, p: dict[str, Any], now: datetime) -> list[Part]:
        cutoff = (now - timedelta(days=365.25 * p["years"])).isoformat()
        # A thread is old when its *latest* message is: one recent reply keeps it alive.
        # The table threads (m008) knows each thread's latest date; walked in key order,
        # it leads to the thread's messages in the index messages_threads with their
        # folder, flag and size: with the default protection and grouping, the messages
        # table is never read. A message without a thread key is a thread of its own.
        return [
            Part(
                """threads o CROSS JOIN messages m ON m.account_id = :account
                                                  AND m.thread_key = o.thread_key""",
                "o.account_id = :account AND o.last < ?",
                [cutoff],
            ),
            Part(
                "messages m",
                """m.account_id = :account AND m.thread_key IS NULL
                   AND coalesce(m.date, m.received_at) < ?""",
                [cutoff],
            ),
        ]

    @staticmethod
    def detail() -> str:
        return """SELECT CASE WHEN m.thread_key IS NULL
                      THEN json_object('last', coalesce(m.date, m.received_at), 'messages', 1)
                      ELSE (SELECT json_object('last', max(coalesce(t.date, t.received_at)),
                                               'messages', count(*))
                            FROM messages t
                            WHERE t.account_id = m.account_id AND t.thread_key = m.thread_key)
                      END
                  FROM messages m WHERE m.id = :message"""


_PLATFORMS = ("sendinblue", "brevo", "mailchimp", "mailjet", "sendgrid", "mailgun",
              "campaign monitor", "hubspot", "marketo", "salesforce", "klaviyo", "sarbacane",
              "dolist", "emailing", "newsletter")


class Bulk(RuleType):
    name = "bulk"
    params: ClassVar = {"platforms": Param("strings", list(_PLATFORMS))}
    default_group = "list"

    @staticmethod
    def where(p: dict[str, Any], now: datetime) -> tuple[str, list[Any]]:
        # Most messages name no mailer: the patterns are only tried on those that do.
        mailer = " OR ".join("lower(m.mailer) LIKE ?" for _ in p["platforms"])
        mailer = f"(m.mailer IS NOT NULL AND ({mailer}))" if mailer else "0"
        return (
            f"""(m.list_id IS NOT NULL OR m.list_unsubscribe IS NOT NULL
                 OR m.precedence IN ('bulk', 'list', 'junk')
                 OR m.feedback_id IS NOT NULL OR {mailer})
                AND m.folder_id NOT IN (SELECT id FROM folders WHERE role IN ('sent', 'drafts'))""",
            [f"%{name}%" for name in p["platforms"]],
        )

    @staticmethod
    def detail() -> str:
        return f"""SELECT json_object('list', m.list_id, 'precedence', m.precedence,
                       'unsubscribe', {UNSUBSCRIBE_SQL}, 'mailer', m.mailer)
                   FROM messages m WHERE m.id = :message"""


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
    def where(p: dict[str, Any], now: datetime) -> tuple[str, list[Any]]:
        # A robot sender is one whose address starts with a pattern ("noreply" matches
        # noreply@x and noreply-factures@y): a range of the sender index per pattern, and
        # the partial index messages_auto_submitted (m007) for the Auto-Submitted field,
        # so the rule never walks every message. Addresses are stored in lower case.
        # One SELECT per pattern: SQLite walks an OR of ranges as a whole-index scan.
        selects = [
            """SELECT id FROM messages WHERE account_id = :account AND auto_submitted IS NOT NULL
               AND auto_submitted != 'no'"""
        ]
        args: list[Any] = []
        for pattern in p["senders"]:
            end = prefix_end(pattern)
            selects.append(
                "SELECT id FROM messages WHERE account_id = :account AND sender >= ?"
                + (" AND sender < ?" if end is not None else "")
            )
            args += [pattern] if end is None else [pattern, end]
        return "m.id IN (" + "\n UNION ALL ".join(selects) + ")", args

    @staticmethod
    def detail() -> str:
        return """SELECT json_object('auto_submitted', m.auto_submitted, 'sender', m.sender)
                  FROM messages m WHERE m.id = :message"""


def prefix_end(prefix: str) -> str | None:
    """The first text after every text that starts with ``prefix``, in SQLite's binary
    order (UTF-8 sorts as code points): those texts are ``>= prefix`` and ``<`` it. None
    when nothing bounds them."""
    for i in range(len(prefix) - 1, -1, -1):
        code = ord(prefix[i]) + 1
        if 0xD800 <= code <= 0xDFFF:  # surrogates are no text: the next one is
            code = 0xE000
        if code <= 0x10FFFF:
            return prefix[:i] + chr(code)
    return None


#: The ids of the folders that are views of others (Gmail's All Mail...), as SQL.
VIRTUAL_FOLDERS = "SELECT id FROM folders WHERE role IN ({})".format(
    ", ".join(f"'{r}'" for r in sorted(VIRTUAL_ROLES))
)

#: The order in which the copies of a message are kept: a protected copy first, then one
#: outside Trash and Junk, then the oldest row.
_KEEP_ORDER = """:protected DESC,
                 (SELECT role IN ('trash', 'junk') FROM folders WHERE id = m.folder_id) ASC,
                 m.id"""


class Duplicates(RuleType):
    name = "duplicates"
    default_group = "folder"

    @staticmethod
    def where(p: dict[str, Any], now: datetime) -> tuple[str, list[Any]]:
        # Rank the copies of each message found more than once (Message-ID and size);
        # rank 1 is kept. The engine's protection clause only removes flags, so at least
        # rank 1 always stays. The table copies (m008, brought up to date by the scan)
        # counts the copies of each message, and its partial index copies_many names
        # those with more than one: only they are ranked, once; each message is then
        # looked up by id. What a virtual folder shows is no copy: it is left out before
        # the ranking (copies counts it, but ranked without it, the one real copy stays
        # rank 1). So is every folder of a server of labels (Gmail keeps a Message-ID
        # once; the same message under two labels is one message, and trashing either
        # trashes both).
        return (
            f"""(SELECT labels FROM accounts WHERE id = :account) = 0 AND m.id IN (
                SELECT id FROM (
                    SELECT m.id, row_number() OVER (PARTITION BY m.message_id, m.size
                                                    ORDER BY {_KEEP_ORDER}) AS rank
                    FROM (SELECT message_id, size FROM copies INDEXED BY copies_many
                          WHERE account_id = :account AND copies > 1) d
                    -- CROSS JOIN: from the few duplicated (Message-ID, size) to their copies
                    -- through the index, never the other way round.
                    CROSS JOIN messages m ON m.account_id = :account
                                         AND m.message_id = d.message_id AND m.size = d.size
                    WHERE m.folder_id NOT IN ({VIRTUAL_FOLDERS}))
                WHERE rank > 1)""",
            [],
        )

    @staticmethod
    def detail() -> str:
        return f"""SELECT json_object('kept_folder', (SELECT path FROM folders WHERE id = k.keep),
                                     'copies', k.copies)
                   FROM (SELECT first_value(m.folder_id) OVER (ORDER BY {_KEEP_ORDER}) AS keep,
                                count(*) OVER () AS copies
                         FROM messages x JOIN messages m
                           ON m.account_id = x.account_id AND m.message_id = x.message_id
                          AND m.size = x.size
                         WHERE x.id = :message
                           AND m.folder_id NOT IN ({VIRTUAL_FOLDERS})) k
                   LIMIT 1"""


class FolderRole(RuleType):
    name = "folder-role"
    params: ClassVar = {"roles": Param("roles", ["trash", "junk"])}
    default_group = "folder"

    @staticmethod
    def where(p: dict[str, Any], now: datetime) -> tuple[str, list[Any]]:
        marks = ", ".join("?" for _ in p["roles"]) or "NULL"
        return (
            f"m.folder_id IN (SELECT id FROM folders WHERE role IN ({marks}))",
            list(p["roles"]),
        )

    @staticmethod
    def detail() -> str:
        return """SELECT json_object('folder', f.path, 'role', f.role)
                  FROM messages m JOIN folders f ON f.id = m.folder_id WHERE m.id = :message"""


TYPES: dict[str, type[RuleType]] = {
    t.name: t for t in (LargeAttachments, OldThreads, Bulk, Automatic, Duplicates, FolderRole)
}
