"""What the user chose, and the plan made from the index: which messages, from which
folders, how many bytes, what is left out; what the quota did last time (a dry run stops
here)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

from mailclean import wording
from mailclean.i18n import _, ngettext
from mailclean.index import FolderRow, Index
from mailclean.index.journal import (
    DONE,
    Journal,
    PlannedItem,
)
from mailclean.model import VIRTUAL_ROLES
from mailclean.rules import Protection
from mailclean.wording import left_out

#: Why an item was skipped: what the config protects covers it (checked again when acting).
PROTECTED = "protected"


log = logging.getLogger(__name__)


class ActionError(Exception):
    """The action cannot be done as asked; the message says why and what to do."""



# -- selection and plan -------------------------------------------------------------------


@dataclass(slots=True)
class Selection:
    """What the user chose. Every criterion given must hold (AND); values of one
    criterion are alternatives (OR)."""

    rules: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    """Group keys of the chosen rules' hits (a sender, list, thread or folder)."""
    senders: tuple[str, ...] = ()
    """Sender addresses, or domains or List-Ids (no ``@``)."""
    lists: tuple[str, ...] = ()
    folders: tuple[str, ...] = ()
    older_than_days: int | None = None
    larger_than: int | None = None
    message_ids: tuple[int, ...] = ()
    """Index row ids picked one by one (the review app). Protection does not apply: the
    person chose each of them."""

    def is_empty(self) -> bool:
        """True when nothing narrows the selection (which would mean "everything")."""
        return not any(
            (self.rules, self.groups, self.senders, self.lists, self.folders,
             self.older_than_days is not None, self.larger_than is not None,
             self.message_ids)
        )

    def as_dict(self) -> dict:
        """JSON-ready form (the journal keeps it); explicit ids are only counted."""
        d = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        d["message_ids"] = len(self.message_ids)
        return {k: v for k, v in d.items() if v not in ((), [], None, 0)}


@dataclass(slots=True)
class Plan:
    """What an action would do, computed from the index."""

    account: str
    account_id: int
    kind: str
    items: list[PlannedItem]
    message_rows: list[int]
    target: str | None = None
    protected: int = 0
    """Messages matching the selection that protection leaves out."""
    already_there: int = 0
    """Messages already in the target folder (trashing what is in Trash does nothing)."""
    in_views: int = 0
    """Messages seen through a virtual folder (Gmail's All Mail, Starred): never acted on
    there, since that would act on the message in every folder that holds it."""
    outside_trash: int = 0
    """For a delete: messages not in Trash (allowed only with ``permanent``)."""
    permanent: bool = False
    folders: dict[str, tuple[int, int]] = field(default_factory=dict)
    selection: Selection = field(default_factory=Selection)

    @property
    def messages(self) -> int:
        """How many messages the action touches."""
        return len(self.items)

    @property
    def bytes(self) -> int:
        """Their total size, from the server's own sizes."""
        return sum(i.size for i in self.items)

    def left_out(self) -> list[str]:
        """What the selection matched but the action leaves alone, in plain words."""
        return left_out(self.protected, self.in_views, self.already_there)

    @property
    def frees_now(self) -> bool:
        """Whether server space is freed when the action ends (only deletes do)."""
        return self.kind == "delete"

    def check(self) -> None:
        """Raise ActionError when the plan must not run as it is."""
        if self.kind == "delete" and self.outside_trash and not self.permanent:
            raise ActionError(
                ngettext(
                    "{count} of these messages is not in the Trash: deleting it is "
                    "permanent. Move it to the Trash first (--action trash), or add "
                    "--permanent if you really want it gone for good",
                    "{count} of these messages are not in the Trash: deleting them is "
                    "permanent. Move them to the Trash first (--action trash), or add "
                    "--permanent if you really want them gone for good",
                    self.outside_trash,
                ).format(count=self.outside_trash)
            )

    def changes_since(self, earlier: Plan) -> tuple[int, int]:
        """(messages of ``earlier`` this plan no longer holds, messages it holds that
        ``earlier`` did not), each message known by its folder and identity: what changed
        on the server between a plan shown and the plan carried out."""
        def key(i: PlannedItem) -> tuple:
            return (i.folder, i.validity, i.server_id, i.size, i.message_id)

        before = {key(i) for i in earlier.items}
        now = {key(i) for i in self.items}
        return len(before - now), len(now - before)

    def describe(self, surface: wording.Surface = wording.CLI,
                 evidence: QuotaEvidence | None = None, *, export: bool = False
                 ) -> list[wording.Line]:
        """What the plan will do, as styled lines (see :mod:`mailclean.wording`)."""
        return wording.plan_lines(self, surface, evidence, export=export)

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "account": self.account,
            "action": self.kind,
            "target": self.target,
            "messages": self.messages,
            "bytes": self.bytes,
            "frees_server_space_now": self.frees_now,
            "protected_left_out": self.protected,
            "already_in_target": self.already_there,
            "in_views_left_out": self.in_views,
            "outside_trash": self.outside_trash,
            "folders": [
                {"folder": f, "messages": n, "bytes": b} for f, (n, b) in self.folders.items()
            ],
        }


def trash_folder(index: Index, account_id: int) -> str:
    """Path of the account's Trash (SPECIAL-USE \\Trash, else a Trash-like name)."""
    for row in index.folders(account_id):
        if row.role == "trash":
            return row.path
    raise ActionError(
        _(
            "this account has no Trash folder that mailclean can recognise; create one "
            "named 'Trash' (or 'Corbeille') in your mail program, then sync"
        )
    )


def plan(
    index: Index,
    account: str,
    kind: str,
    selection: Selection,
    *,
    protection: Protection | None = None,
    permanent: bool = False,
    now: datetime | None = None,
) -> Plan:
    """What ``kind`` ("trash", "delete" or "export") would do to ``selection``.

    Rule criteria read the ``hits`` table: scan first (the CLI does). Raises ActionError
    when the selection is empty or names a folder the index does not know.
    """
    if kind not in ("trash", "delete", "export"):
        raise ActionError(f"unknown action {kind!r}")
    if selection.is_empty():
        raise ActionError(
            _(
                "say what to clean: --rule, --sender, --list, --folder, --older-than or "
                "--larger-than (mailclean never acts on a whole mailbox at once)"
            )
        )
    row = index.require_account(account)
    aid = int(row["id"])
    known_folders = _known_folders(index, aid, selection)
    target = trash_folder(index, aid) if kind == "trash" else None
    trash = target if kind == "trash" else trash_or_none(index, aid)

    where, args = _where(aid, selection, now or datetime.now(UTC))
    protected_sql = (protection or Protection()).sql()
    protect = _protect_unless_chosen(index, selection, where, protected_sql)
    rows = index.conn.execute(
        "SELECT m.id, f.path, f.uidvalidity, m.server_id, m.size, m.message_id, m.change_key,"
        f" {protect}, f.role, m.flagged FROM messages m JOIN folders f ON f.id = m.folder_id"
        f" WHERE {' AND '.join(where)} ORDER BY f.path, m.uid, m.server_id",
        args,
    )
    out = Plan(account, aid, kind, [], [], target=target, permanent=permanent,
               selection=selection)
    _add_rows(out, rows, kind, target, trash)
    if kind == "delete" and trash is not None:
        _link_trash_origins(index, aid, out, trash, known_folders)
    return out


def _known_folders(index: Index, aid: int, selection: Selection) -> dict[str, FolderRow]:
    """The account's folders by path; ActionError when the selection names a folder the
    index does not know."""
    known_folders = {f.path: f for f in index.folders(aid)}
    for path in selection.folders:
        if path not in known_folders:
            raise ActionError(
                _("no folder '{path}' in the index (folders: {known})").format(
                    path=path, known=", ".join(sorted(known_folders))
                )
            )
    return known_folders


def _protect_unless_chosen(
    index: Index, selection: Selection, where: list[str], protected_sql: str
) -> str:
    """The SQL saying a message is protected: ``protected_sql``, or "0" for messages picked
    one by one (their ids then fill the temporary table ``chosen``, and ``where`` gets
    the condition that keeps to them)."""
    conn = index.conn
    if selection.message_ids:
        # In its own transaction: left open, it would swallow every later write of this
        # connection (the journal included) into a transaction nobody commits.
        with index.db.atomic():
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS chosen (id INTEGER PRIMARY KEY)")
            conn.execute("DELETE FROM chosen")
            conn.executemany(
                "INSERT OR IGNORE INTO chosen (id) VALUES (?)",
                [(i,) for i in selection.message_ids],
            )
        where.append("m.id IN (SELECT id FROM chosen)")
        protect = "0"
    else:
        protect = protected_sql
    return protect


def _add_rows(
    out: Plan, rows: Iterable[tuple], kind: str, target: str | None, trash: str | None
) -> None:
    """Put the selected messages in the plan, or count why each one is left out."""
    folders: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for mid, path, validity, sid, size, msgid, change_key, is_protected, role, flagged in rows:
        if role in VIRTUAL_ROLES:
            # A view of messages kept in other folders: acting here acts on those.
            out.in_views += 1
            continue
        if is_protected:
            out.protected += 1
            continue
        if kind == "trash" and path == target:
            out.already_there += 1
            continue
        if kind == "delete" and path != trash:
            out.outside_trash += 1
        out.items.append(
            PlannedItem(path, validity, sid, size, msgid, change_key, target_folder=target,
                        flagged=bool(flagged))
        )
        out.message_rows.append(mid)
        folders[path][0] += 1
        folders[path][1] += size
    out.folders = {p: (v[0], v[1]) for p, v in folders.items()}


def _link_trash_origins(
    index: Index, aid: int, out: Plan, trash: str, known_folders: dict[str, FolderRow]
) -> None:
    """For a delete: each message of the Trash gets the trash action's item that put it
    there (its origin), if any."""
    # A message mailclean itself put in the Trash: the delete completes that trash
    # action, and the freed count must not see the message twice.
    journal = Journal(index)
    journal.settle_targets(aid)
    in_trash = [i for i in out.items if i.folder == trash]
    validity = known_folders[trash].uidvalidity
    origins = journal.trash_origins(aid, trash, validity, [i.server_id for i in in_trash])
    for item in in_trash:
        item.origin = origins.get(item.server_id)


def trash_or_none(index: Index, account_id: int) -> str | None:
    try:
        return trash_folder(index, account_id)
    except ActionError:
        return None


def _where(aid: int, s: Selection, now: datetime) -> tuple[list[str], list]:
    where = ["m.account_id = ?"]
    args: list = [aid]

    def marks(values: Sequence) -> str:
        return ", ".join("?" * len(values))

    if s.rules:
        sql = f"SELECT message_id FROM hits WHERE account_id = ? AND rule IN ({marks(s.rules)})"
        args += [aid, *s.rules]
        if s.groups:
            sql += f" AND group_key IN ({marks(s.groups)})"
            args += list(s.groups)
        where.append(f"m.id IN ({sql})")
    elif s.groups:
        raise ActionError(_("--group needs --rule (groups belong to a rule)"))
    if s.senders:
        addresses = [v.lower() for v in s.senders if "@" in v]
        domains = [v.lower().lstrip("@") for v in s.senders if "@" not in v]
        terms = []
        if addresses:
            terms.append(f"lower(m.sender) IN ({marks(addresses)})")
            args += addresses
        if domains:
            terms.append(f"lower(m.sender_domain) IN ({marks(domains)})")
            args += domains
            # What `mailclean senders` lists for mailing lists is their List-Id.
            terms.append(f"m.list_id IN ({marks(domains)})")
            args += domains
        where.append("(" + " OR ".join(terms) + ")")
    if s.lists:
        where.append(f"m.list_id IN ({marks(s.lists)})")
        args += [v.strip("<>").lower() for v in s.lists]
    if s.folders:
        where.append(f"f.path IN ({marks(s.folders)})")
        args += list(s.folders)
    if s.older_than_days is not None:
        cutoff = (now - timedelta(days=s.older_than_days)).isoformat()
        where.append("coalesce(m.date, m.received_at) < ?")
        args.append(cutoff)
    if s.larger_than is not None:
        where.append("m.size >= ?")
        args.append(s.larger_than)
    return where, args


# -- what the quota did ---------------------------------------------------------------------

#: Below this many bytes moved, a quota counted in KiB cannot show what a move did.
_QUOTA_EVIDENCE_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class QuotaEvidence:
    """What the server's quota did when mailclean last moved enough mail to the Trash."""

    trash_counts: bool | None
    """True: the quota did not move (the Trash counts in it, as on most servers); False:
    it went down by what was moved (Courier: the Trash is not counted); None: never
    measured (no quota, or nothing moved yet)."""
    action_id: int | None = None


def quota_evidence(index: Index, account_id: int) -> QuotaEvidence:
    """Read from the journal's quota measurements what a move to the Trash does to this
    server's quota (the latest clear measurement wins)."""
    for row in reversed(Journal(index).actions(account_id)):
        if row.kind != "trash" or row.quota_before is None or row.quota_after is None:
            continue
        moved = row.count(DONE)[1]
        if moved < _QUOTA_EVIDENCE_BYTES:
            continue
        ratio = (row.quota_before - row.quota_after) / moved
        if ratio > 0.5:
            return QuotaEvidence(False, row.id)
        if abs(ratio) < 0.1:
            return QuotaEvidence(True, row.id)
    return QuotaEvidence(None)
