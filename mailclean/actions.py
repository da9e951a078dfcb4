"""Acting on messages: plan from the index, verify on the server, act in batches, journal.

The order never changes:

1. **Plan** from the index (a dry run stops here): which messages, from which folders,
   how many bytes, what is left out (protected, already in Trash).
2. **Refresh**: the affected folders are synced first, so a plan is never made from an
   index older than the server; then the plan is made again.
3. **Journal**: the action and every message's identity are written *before* anything is
   sent.
4. **Per batch**: verify identity on the server (UIDVALIDITY, UID, Message-ID, size; or
   item id and change key), mark the batch "sent", send one command for exactly those
   messages, record each outcome. A message that changed, vanished or moved is skipped
   and reported, never guessed.
5. **Close** the action. If the process died in step 4, :func:`reconcile` asks the server
   what happened to the messages "sent" and brings the journal to the truth without
   acting twice; :func:`resume` then finishes the job.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, overload

from mailclean import export as exporting
from mailclean import wording
from mailclean.connectors.base import (
    FLAGGED,
    RESET,
    VANISHED,
    ConnectionFailed,
    Connector,
    ConnectorError,
    FolderNotFound,
    MoveResult,
    UnsafeExpunge,
)
from mailclean.i18n import _, ngettext, number
from mailclean.index import Index
from mailclean.index.journal import (
    ABORTED,
    CANCELLED,
    COPIED,
    DONE,
    FAILED,
    FINISHED,
    INTERRUPTED,
    PARTIAL,
    PENDING,
    RUNNING,
    SENT,
    SKIPPED,
    UNDONE,
    ActionRow,
    Journal,
    JournalItem,
    PlannedItem,
)
from mailclean.model import VIRTUAL_ROLES
from mailclean.progress import Progress
from mailclean.retry import NETWORK, Retrier
from mailclean.rules import Protection
from mailclean.wording import left_out

#: Why an item was skipped: what the config protects covers it (checked again when acting).
PROTECTED = "protected"
#: Messages per batch: one command and one journal update each.
BATCH = 1_000
#: Identity is checked this many batches ahead, in one command.
VERIFY_AHEAD = 5


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
    known_folders = {f.path: f for f in index.folders(aid)}
    for path in selection.folders:
        if path not in known_folders:
            raise ActionError(
                _("no folder '{path}' in the index (folders: {known})").format(
                    path=path, known=", ".join(sorted(known_folders))
                )
            )
    target = trash_folder(index, aid) if kind == "trash" else None
    trash = target if kind == "trash" else _trash_or_none(index, aid)

    where, args = _where(aid, selection, now or datetime.now(UTC))
    protected_sql = (protection or Protection()).sql()
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
    rows = conn.execute(
        "SELECT m.id, f.path, f.uidvalidity, m.server_id, m.size, m.message_id, m.change_key,"
        f" {protect}, f.role, m.flagged FROM messages m JOIN folders f ON f.id = m.folder_id"
        f" WHERE {' AND '.join(where)} ORDER BY f.path, m.uid, m.server_id",
        args,
    )
    out = Plan(account, aid, kind, [], [], target=target, permanent=permanent,
               selection=selection)
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
    if kind == "delete" and trash is not None:
        # A message mailclean itself put in the Trash: the delete completes that trash
        # action, and the freed count must not see the message twice.
        journal = Journal(index)
        journal.settle_targets(aid)
        in_trash = [i for i in out.items if i.folder == trash]
        validity = known_folders[trash].uidvalidity
        origins = journal.trash_origins(aid, trash, validity, [i.server_id for i in in_trash])
        for item in in_trash:
            item.origin = origins.get(item.server_id)
    return out


def _trash_or_none(index: Index, account_id: int) -> str | None:
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


#: Actions report through the one progress protocol of long jobs.
ActionProgress = Progress


@dataclass(slots=True)
class Outcome:
    """How an action ended, with the journal's counts."""

    action: ActionRow
    export_action: ActionRow | None = None
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    """``(folder, server id, reason)`` of the messages left alone, for the report."""

    def describe(self, surface: wording.Surface = wording.CLI,
                 evidence: QuotaEvidence | None = None, *, account: str = ""
                 ) -> list[wording.Line]:
        """What the action did, as styled lines (see :mod:`mailclean.wording`)."""
        return wording.outcome_lines(self, surface, evidence, account=account)

    def as_dict(self) -> dict:
        """JSON-ready form."""
        d = self.action.as_dict()
        if self.export_action is not None:
            d["export"] = self.export_action.as_dict()
        d["skipped"] = [
            {"folder": f, "server_id": s, "reason": r} for f, s, r in self.skipped[:100]
        ]
        return d


# -- running --------------------------------------------------------------------------------


class _Runner:
    """Carries an action's items to the server batch by batch, journalling every step."""

    def __init__(
        self,
        index: Index,
        connector: Connector,
        action_id: int,
        progress: ActionProgress,
        cancel: threading.Event | None,
        batch: int,
        retries: int = 3,
        backoff: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        protection: Protection | None = None,
        deadline: float | None = None,
    ) -> None:
        self.index = index
        self.journal = Journal(index)
        self.connector = connector
        self.action_id = action_id
        row = self.journal.action(action_id)
        assert row is not None
        self.row = row
        self.progress = progress
        self.cancel = cancel
        self.batch = max(1, batch)
        self.retries = retries
        self.backoff = backoff
        self.sleep = sleep
        self.protection = protection
        """What the config protects, checked again on every path that acts (a resume
        included): None where it does not apply (an undo)."""
        self.retrier = Retrier(attempts=retries, backoff=backoff, sleep=sleep,
                               deadline=NETWORK.deadline if deadline is None else deadline)
        self.skipped: list[tuple[str, str, str]] = []
        self._folder_ids: dict[str, int | None] = {}
        self._targets: set[str] = set()
        self._floors: dict[str, str] = {}
        self._sender: ThreadPoolExecutor | None = None

    # The connection may drop at any point: reconnect, ask the server what became of
    # the batch in flight, and carry on with what is left.
    def run(self) -> str:
        try:
            return self._run()
        finally:
            if self._sender is not None:
                self._sender.shutdown(wait=True)

    def _run(self) -> str:
        while True:
            try:
                self._run_once()
                return self._final_state()
            except ConnectionFailed as exc:
                failure = exc
                while True:
                    self._reconnect(failure)
                    # The questions about the batch in flight can be cut too: that is
                    # one more failure for the retry policy, not the end of the action.
                    try:
                        reconcile_items(self.index, self.connector, self.row)
                        break
                    except ConnectionFailed as again:
                        failure = again

    def _reconnect(self, exc: ConnectionFailed) -> None:
        """Connect again within the retry policy, or raise what stopped us, in words."""
        while True:
            delay = self.retrier.again()
            if delay is None:
                done = self.journal.action(self.action_id)
                left = done.unfinished if done else 0
                raise ConnectionFailed(_(
                    "{error} (since {time}); what was done is journalled, {left}: "
                    "mailclean journal resume {id} --yes"
                ).format(error=exc, time=self.retrier.stopped_at(), id=self.action_id,
                         left=ngettext("{n} message still to do", "{n} messages still to do",
                                       left).format(n=number(left)))) from exc
            self.connector.close()
            self.retrier.wait(delay)
            try:
                self.connector.connect()
            except ConnectionFailed as again:
                exc = again
                continue
            return

    def _final_state(self) -> str:
        row = self.journal.action(self.action_id)
        assert row is not None
        if row.unfinished:
            return CANCELLED if self.cancel is not None and self.cancel.is_set() else INTERRUPTED
        if row.count(SKIPPED, FAILED)[0]:
            return PARTIAL
        return FINISHED

    def _run_once(self) -> None:
        kind = self.row.kind
        if kind not in ("trash", "undo", "delete"):
            raise ActionError(f"action {self.action_id} ({kind}) is not carried out in batches")
        copied = self.journal.items(self.action_id, [COPIED])
        if copied:
            self._finish_copies(copied)
        pending = self.journal.items(self.action_id, [PENDING])
        groups: dict[tuple[str, str | None], list[JournalItem]] = defaultdict(list)
        for item in pending:
            groups[(item.folder, item.target_folder)].append(item)
        for (folder, target), items in groups.items():
            if self._cancelled():
                return
            items = self._unprotected(folder, self._same_folder(folder, items))
            if not items:
                continue
            if kind in ("trash", "undo") and target is not None:
                self._ensure_target(target)
            # Identity is checked a few batches ahead in one command: a UID never
            # names another message while UIDVALIDITY holds, so what was verified stays
            # true until it is moved or expunged (and then the command reports it).
            window = self.batch * VERIFY_AHEAD
            for start in range(0, len(items), window):
                if self._cancelled():
                    return
                good = self._verify(folder, items[start : start + window])
                if kind in ("trash", "undo"):
                    assert target is not None
                    if not self._moves(folder, target, good):
                        return
                    continue
                for b in range(0, len(good), self.batch):
                    if self._cancelled():
                        return
                    self._delete(folder, good[b : b + self.batch])

    def _cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()

    def _same_folder(self, folder: str, items: list[JournalItem]) -> list[JournalItem]:
        """Open the folder; skip the items it cannot hold any more (folder gone or reset).
        The items still to do."""
        try:
            validity = self.connector.folder_validity(folder)
        except FolderNotFound:
            self._skip(items, VANISHED, _("the folder no longer exists"))
            return []
        stale = [i for i in items if i.validity is not None and i.validity != validity]
        self._skip(stale, RESET, None)
        return [i for i in items if i.validity is None or i.validity == validity]

    def _unprotected(self, folder: str, items: list[JournalItem]) -> list[JournalItem]:
        """Skip the items that what the config protects now covers (it may have changed
        since the plan); the others. Messages picked one by one are the person's choice."""
        if (
            not items or self.protection is None or self.row.kind not in ("trash", "delete")
            or self.row.selection.get("message_ids")
        ):
            return items
        folder_id = self._folder_id(folder)
        if folder_id is None:
            return items
        protected: set[str] = set()
        sql = self.protection.sql()
        ids = [i.server_id for i in items]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            protected.update(r[0] for r in self.index.conn.execute(
                f"SELECT m.server_id FROM messages m WHERE m.folder_id = ?"
                f" AND m.server_id IN ({', '.join('?' * len(chunk))}) AND {sql}",
                [folder_id, *chunk],
            ))
        self._skip([i for i in items if i.server_id in protected], PROTECTED, None)
        return [i for i in items if i.server_id not in protected]

    def _ensure_target(self, target: str) -> None:
        if target in self._targets:
            return
        try:
            self.connector.folder_validity(target)
        except FolderNotFound:
            if self.row.kind != "undo":
                raise
            self.connector.create_folder(target)
        self._targets.add(target)

    def _verify(self, folder: str, items: list[JournalItem]) -> list[JournalItem]:
        """Skip the items the server no longer holds as the index knew them."""
        problems = self.connector.verify(folder, items[0].validity, [i.ref() for i in items])
        if self.row.kind == "undo":
            # Putting a message back where it was is never what protection guards against.
            problems = {k: v for k, v in problems.items() if v != FLAGGED}
        bad = [i for i in items if i.server_id in problems]
        for reason in set(problems.values()):
            self._skip([i for i in bad if problems[i.server_id] == reason], reason, None)
        if bad:
            self.progress.advance(len(bad), sum(i.size for i in bad))
        return [i for i in items if i.server_id not in problems]

    def _delete(self, folder: str, good: list[JournalItem]) -> None:
        """Delete one batch of verified items for good."""
        self.journal.set_state([i.id for i in good], SENT)
        try:
            removed = set(self.connector.delete(folder, [i.ref() for i in good]))
            self._removed(folder, good, removed)
        except UnsafeExpunge as exc:
            # Nothing was touched (the check comes before any command): say why.
            self._skip(good, "unsafe-expunge", str(exc))
            self.row.error = str(exc)
        self.progress.advance(len(good), sum(i.size for i in good))

    def _moves(self, folder: str, target: str, good: list[JournalItem]) -> bool:
        """Move verified items batch by batch; False when cancelled.

        The server carries out one batch while the journal and the index record the one
        before: that bookkeeping never touches the connection, and nothing else is sent
        before a batch's answer is in. A batch is journalled as sent before it leaves, so
        an interruption between its answer and its record is for reconcile to settle.
        """
        if self._sender is None:
            self._sender = ThreadPoolExecutor(1, thread_name_prefix="mailclean-action")
        record: Callable[[], None] | None = None
        try:
            for b in range(0, len(good), self.batch):
                if self._cancelled():
                    return False
                chunk = good[b : b + self.batch]
                floor = self._floors.pop(target, None) or self.connector.next_id(target)
                self.journal.set_state([i.id for i in chunk], SENT, target_floor=floor)
                future = self._sender.submit(
                    self.connector.move, folder, [i.ref() for i in chunk], target
                )
                try:
                    if record is not None:
                        previous, record = record, None
                        previous()
                finally:
                    wait_for([future])  # the connection is never left busy behind us
                try:
                    result = future.result()
                except UnsafeExpunge as exc:
                    # Nothing was touched (the check comes before any command): say why.
                    self._skip(chunk, "unsafe-expunge", str(exc))
                    self.row.error = str(exc)
                    self.progress.advance(len(chunk), sum(i.size for i in chunk))
                    continue
                if result.floor_after is not None:
                    self._floors[target] = result.floor_after
                record = functools.partial(self._record_move, folder, target, chunk, result,
                                           floor)
                if len(result.moved) < len(chunk):
                    # Settling what the server did not report asks it: not during a move.
                    pending, record = record, None
                    pending()
        finally:
            if record is not None:
                record()
        return True

    def _record_move(
        self, folder: str, target: str, items: list[JournalItem], result: MoveResult,
        floor: str | None,
    ) -> None:
        self._moved(folder, target, items, result.moved, result.target_validity,
                    result.change_keys, floor)
        self.retrier.progress()
        self.progress.advance(len(items), sum(i.size for i in items))

    def _moved(
        self, folder: str, target: str, items: list[JournalItem],
        moved: dict[str, str | None], target_validity: int | None,
        change_keys: dict[str, str] | None = None, floor: str | None = None,
    ) -> None:
        outcomes = []
        missing = []
        for i in items:
            if i.server_id in moved:
                outcomes.append((i.id, DONE, moved[i.server_id], None))
            else:
                missing.append(i)
        self.journal.set_outcomes(outcomes, target_validity)
        if change_keys:
            self.journal.set_target_keys(
                [(i.id, change_keys[i.server_id]) for i in items if i.server_id in change_keys]
            )
        self._index_moves(folder, target, {i.server_id: moved[i.server_id] for i in items
                                           if i.server_id in moved}, change_keys)
        if missing:
            self._settle(folder, missing, target, floor)

    def _removed(self, folder: str, items: list[JournalItem], removed: set[str]) -> None:
        self.journal.set_outcomes(
            [(i.id, DONE, None, None) for i in items if i.server_id in removed]
        )
        folder_id = self._folder_id(folder)
        if folder_id is not None:
            self.index.remove_messages(folder_id, [i.server_id for i in items
                                                   if i.server_id in removed])
        missing = [i for i in items if i.server_id not in removed]
        if missing:
            self._settle(folder, missing)
        self.retrier.progress()

    def _settle(self, folder: str, items: list[JournalItem], target: str | None = None,
                floor: str | None = None) -> None:
        """Items the command did not report: moved after all (found in the target), gone
        meanwhile (skipped), or refused (failed)."""
        problems = self.connector.verify(folder, items[0].validity, [i.ref() for i in items])
        gone = [i for i in items if problems.get(i.server_id) in (VANISHED, RESET)]
        if gone and target is not None:
            # A refused command (another client expunged part of the set) may still
            # have moved some: what is in the target, above the floor, went there.
            found = self.connector.locate(target, [i.ref() for i in gone], floor)
            if found:
                validity = self.connector.folder_validity(target)
                self.journal.set_outcomes(
                    [(i.id, DONE, found[i.server_id], None) for i in gone
                     if i.server_id in found], validity)
                self._index_moves(folder, target, {s: found[s] for s in found})
                gone = [i for i in gone if i.server_id not in found]
        self._skip(gone, VANISHED, None)
        refused = [i for i in items if i not in gone]
        self.journal.set_outcomes(
            [(i.id, FAILED, None, "refused") for i in refused]
        )
        self.skipped += [(i.folder, i.server_id, "failed") for i in refused]

    def _finish_copies(self, items: list[JournalItem]) -> None:
        """Copies were made before an interruption: remove the originals, nothing more."""
        by_folder: dict[str, list[JournalItem]] = defaultdict(list)
        for i in items:
            by_folder[i.folder].append(i)
        for folder, group in by_folder.items():
            group = self._same_folder(folder, group)
            if not group:
                continue
            problems = self.connector.verify(folder, group[0].validity, [i.ref() for i in group])
            gone = [i for i in group if i.server_id in problems]
            # The original went away some other way: the copy in the target is the message.
            self.journal.set_outcomes([(i.id, DONE, None, None) for i in gone])
            here = [i for i in group if i.server_id not in problems]
            if here:
                removed = set(self.connector.delete(folder, [i.ref() for i in here]))
                self.journal.set_outcomes(
                    [(i.id, DONE, None, None) for i in here if i.server_id in removed]
                )
            target = group[0].target_folder
            self._index_moves(folder, target, {i.server_id: None for i in group})

    def _skip(self, items: list[JournalItem], reason: str, detail: str | None) -> None:
        """Journal ``items`` as skipped for ``reason`` (a code the outcome words); the
        ``detail`` goes to the debug log."""
        if not items:
            return
        if detail:
            log.debug("action %s: %d skipped (%s): %s", self.action_id, len(items), reason,
                      detail)
        self.journal.set_outcomes([(i.id, SKIPPED, None, reason) for i in items])
        self.skipped += [(i.folder, i.server_id, reason) for i in items]

    def _folder_id(self, path: str | None) -> int | None:
        if path is None:
            return None
        if path not in self._folder_ids:
            rows = self.index.folders(self.row.account_id, path)
            self._folder_ids[path] = rows[0].id if rows else None
        return self._folder_ids[path]

    def _index_moves(self, folder: str, target: str | None, moves: dict[str, str | None],
                     change_keys: dict[str, str] | None = None) -> None:
        folder_id = self._folder_id(folder)
        if folder_id is not None and moves:
            self.index.follow_moves(folder_id, moves, self._folder_id(target), change_keys)


def _begin(index: Index, plan_: Plan, kind: str, *, target: str | None, after: int | None = None,
           export_format: str | None = None, items: list[PlannedItem] | None = None) -> int:
    return Journal(index).begin(
        plan_.account_id, kind, plan_.items if items is None else items,
        selection=plan_.selection.as_dict(), target=target, export_format=export_format,
        after=after,
    )


def refresh(index: Index, connector: Connector, account: str, folders: Iterable[str]) -> None:
    """Sync ``folders`` (incremental) so the plan that follows sees the server's state."""
    from mailclean.sync import sync_account

    paths = sorted({f for f in folders if f})
    if paths:
        sync_account(index, account, connector, folders=paths, connected=True)


def execute(
    index: Index,
    connector: Connector,
    plan_: Plan,
    *,
    export_to: Path | None = None,
    export_format: str | None = None,
    progress: ActionProgress | None = None,
    cancel: threading.Event | None = None,
    batch: int = BATCH,
    protection: Protection | None = None,
) -> Outcome:
    """Carry out ``plan_`` on the server behind ``connector`` (connected by the caller).

    ``protection`` (what the config protects) is checked again against every message
    before it is acted on, as the plan did, besides each message's flags on the server.

    With ``export_to``, the messages are exported first and the export read back; only
    what was verified in the file is then trashed or deleted. Raises ActionError when the
    plan must not run (see :meth:`Plan.check`).
    """
    plan_.check()
    progress = progress or ActionProgress()
    if not plan_.items:
        raise ActionError(_("nothing to do: no message matches"))
    _refuse_if_running(index, plan_.account_id)
    export_row = None
    items = plan_.items
    if export_to is not None or plan_.kind == "export":
        if export_to is None:
            raise ActionError(_("--action export needs --export FILE"))
        export_row, kept = _export(index, connector, plan_, export_to, export_format, progress,
                                   cancel, batch)
        if plan_.kind == "export":
            return Outcome(export_row, None, [])
        items = kept
        if not items:
            raise ActionError(_("nothing was exported, so nothing was removed"))
    action_id = Journal(index).begin(
        plan_.account_id, plan_.kind, items, selection=plan_.selection.as_dict(),
        target=plan_.target, after=export_row.id if export_row else None,
        delete_mode=connector.delete_mode if plan_.kind == "delete" else None,
    )
    return _drive(index, connector, action_id, progress, cancel, batch, export_row,
                  sum(i.size for i in items), len(items), protection)


def _drive(index: Index, connector: Connector, action_id: int, progress: ActionProgress,
           cancel: threading.Event | None, batch: int, export_row: ActionRow | None,
           size: int, count: int, protection: Protection | None = None) -> Outcome:
    journal = Journal(index)
    runner = _Runner(index, connector, action_id, progress, cancel, batch,
                     protection=protection)
    progress.start(count, size)
    journal.set_quota(action_id, before=_quota_used(connector))
    try:
        state = runner.run()
    except ConnectorError as exc:
        journal.finish(action_id, INTERRUPTED, str(exc))
        raise
    except BaseException:
        # Ctrl-C or a bug: whatever was in flight is for reconcile to find out.
        journal.finish(action_id, INTERRUPTED, "interrupted")
        raise
    journal.set_quota(action_id, after=_quota_used(connector))
    journal.finish(action_id, state, runner.row.error)
    row = journal.action(action_id)
    assert row is not None
    return Outcome(row, export_row, runner.skipped)


def _quota_used(connector: Connector) -> int | None:
    """The server's own quota usage now, where it measures one; never fails an action."""
    if not connector.quota_is_measured:
        return None
    try:
        quota = connector.quota()
    except ConnectorError:
        return None
    return quota.used if quota is not None else None


def _export(
    index: Index, connector: Connector, plan_: Plan, path: Path, fmt: str | None,
    progress: ActionProgress, cancel: threading.Event | None, batch: int,
) -> tuple[ActionRow, list[PlannedItem]]:
    """Write the plan's messages to ``path``, read the file back; the items verified."""
    fmt = exporting.format_for(path, fmt)
    try:
        writer = exporting.writer_for(path, fmt)
    except exporting.ExportError as exc:
        raise ActionError(str(exc)) from exc
    journal = Journal(index)
    action_id = _begin(index, plan_, "export", target=str(path), export_format=fmt)
    progress.phase(_("exporting"))
    progress.start(plan_.messages, plan_.bytes)
    written: list[JournalItem] = []
    skipped: list[tuple[int, str, str | None, str | None]] = []
    try:
        by_folder: dict[str, list[JournalItem]] = defaultdict(list)
        for item in journal.items(action_id):
            by_folder[item.folder].append(item)
        for folder, items in by_folder.items():
            try:
                validity = connector.folder_validity(folder)
            except FolderNotFound:
                skipped += [(i.id, SKIPPED, None, VANISHED) for i in items]
                continue
            for start in range(0, len(items), batch):
                if cancel is not None and cancel.is_set():
                    raise ActionError(_("cancelled: nothing was removed"))
                chunk = items[start : start + batch]
                if any(i.validity is not None and i.validity != validity for i in chunk):
                    skipped += [(i.id, SKIPPED, None, RESET) for i in chunk]
                    continue
                problems = connector.verify(folder, validity, [i.ref() for i in chunk])
                skipped += [(i.id, SKIPPED, None, problems[i.server_id]) for i in chunk
                            if i.server_id in problems]
                good = {i.server_id: i for i in chunk if i.server_id not in problems}
                for sid, raw in connector.fetch(folder, [i.ref() for i in good.values()]):
                    item = good.pop(sid)
                    if connector.sizes_are_mime and exporting.crlf_size(raw) != item.size:
                        skipped.append((item.id, SKIPPED, None, "changed"))
                        continue
                    writer.add(raw, folder, f"{sid}")
                    written.append(item)
                skipped += [(i.id, SKIPPED, None, VANISHED) for i in good.values()]
                progress.advance(len(chunk), sum(i.size for i in chunk))
        writer.close()
        progress.phase(_("checking the export"))
        writer.verify()
    except (exporting.ExportError, ActionError) as exc:
        journal.set_outcomes(skipped)
        journal.finish(action_id, ABORTED, str(exc))
        raise ActionError(str(exc)) from exc
    except BaseException as exc:
        journal.finish(action_id, INTERRUPTED, str(exc) or type(exc).__name__)
        raise
    journal.set_outcomes(skipped + [(i.id, DONE, None, None) for i in written])
    journal.finish(action_id, PARTIAL if skipped else FINISHED)
    row = journal.action(action_id)
    assert row is not None
    done = {(i.folder, i.server_id) for i in written}
    kept = [i for i in plan_.items if (i.folder, i.server_id) in done]
    return row, kept


# -- undo, reconcile, resume ----------------------------------------------------------------


def undo(
    index: Index,
    connector: Connector,
    account: str,
    action_id: int,
    *,
    progress: ActionProgress | None = None,
    cancel: threading.Event | None = None,
    batch: int = BATCH,
    dry_run: bool = False,
) -> tuple[Plan, Outcome | None]:
    """Put back the messages a trash action moved (those not deleted from Trash since).

    Each message goes back to the folder it came from (created again if it was deleted
    meanwhile), after its identity in the Trash is checked.
    """
    journal = Journal(index)
    row = index.require_account(account)
    action = journal.action(action_id)
    if action is None or action.account_id != row["id"]:
        raise ActionError(_("no action {id} for this account").format(id=action_id))
    if action.kind != "trash":
        raise ActionError(
            _("action {id} is a {kind}: only moves to the Trash can be undone").format(
                id=action_id, kind=action.kind
            )
        )
    if action.state == UNDONE:
        raise ActionError(_("action {id} was already undone").format(id=action_id))
    deleted = {
        r[0] for r in index.conn.execute(
            "SELECT d.origin FROM action_items d JOIN actions a ON a.id = d.action_id"
            " WHERE a.kind IN ('delete', 'undo') AND d.state = 'done' AND d.origin IS NOT NULL"
        )
    }
    done = [i for i in journal.items(action_id, [DONE]) if i.id not in deleted]
    unknown = [i for i in done if i.target_id is None]
    if unknown and not dry_run:
        # The server did not say where each message went (no UIDPLUS): find them in the
        # Trash by Message-ID and size, among what arrived after the move.
        by_floor: dict[tuple[str, str | None], list[JournalItem]] = defaultdict(list)
        for i in unknown:
            by_floor[(i.target_folder or "", i.target_floor)].append(i)
        known_ids = {i.target_id for i in done if i.target_id is not None}
        for (trash, floor), group in by_floor.items():
            found = connector.locate(trash, [i.ref() for i in group], floor)
            # An id another item of the action already owns is that item's, not a copy.
            found = {k: v for k, v in found.items() if v not in known_ids}
            known_ids.update(found.values())
            for i in group:
                i.target_id = found.get(i.server_id)
            if found:
                validity = connector.folder_validity(trash)
                for i in group:
                    i.target_validity = validity
    items = [
        PlannedItem(
            folder=i.target_folder or "", validity=i.target_validity, server_id=i.target_id,
            size=i.size, message_id=i.message_id, change_key=i.target_change_key,
            target_folder=i.folder,
            origin=i.id,
        )
        for i in done if i.target_id is not None
    ]
    if unknown and dry_run:
        items += [
            PlannedItem(i.target_folder or "", None, f"?{i.id}", i.size, i.message_id,
                        target_folder=i.folder, origin=i.id)
            for i in unknown
        ]
    folders: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for it in items:
        folders[it.target_folder or ""][0] += 1
        folders[it.target_folder or ""][1] += it.size
    undo_plan = Plan(account, int(row["id"]), "undo", items, [], target=None,
                     folders={p: (v[0], v[1]) for p, v in folders.items()},
                     selection=Selection())
    if dry_run:
        return undo_plan, None
    if not items:
        raise ActionError(
            _("nothing to put back: the messages of action {id} are no longer in the Trash")
            .format(id=action_id)
        )
    # Those not found in the Trash (no Message-ID to know them by, or gone) are journalled
    # as left alone: the outcome says so, and the trash action is not marked undone.
    lost = {i.id: PlannedItem(i.target_folder or "", None, f"?{i.id}", i.size, i.message_id,
                              target_folder=i.folder, origin=i.id)
            for i in done if i.target_id is None}
    new_id = journal.begin(int(row["id"]), "undo", [*items, *lost.values()],
                           selection={"undo": action_id}, undo_of=action_id)
    if lost:
        journal.set_outcomes((j.id, SKIPPED, None, VANISHED) for j in journal.items(new_id)
                             if j.origin in lost)
    outcome = _drive(index, connector, new_id, progress or ActionProgress(), cancel, batch,
                     None, undo_plan.bytes, undo_plan.messages)
    if outcome.action.state == FINISHED:
        journal.finish(action_id, UNDONE, action.error)
    return undo_plan, outcome


def running_elsewhere(index: Index, account_id: int) -> ActionRow | None:
    """An action of the account still running in another live process on this machine."""
    for row in Journal(index).actions(account_id):
        if row.state == RUNNING and _alive(row) and row.pid != os.getpid():
            return row
    return None


def _refuse_if_running(index: Index, account_id: int) -> None:
    blocking = running_elsewhere(index, account_id)
    if blocking:
        raise ActionError(
            _("action {id} on this account is still running (process {pid}); wait for it "
              "to end").format(id=blocking.id, pid=blocking.pid)
        )


def _alive(row: ActionRow) -> bool:
    if row.host != socket.gethostname():
        return True  # another machine's process: assume it lives, never guess
    if not row.pid:
        return False
    try:
        os.kill(row.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mark_interrupted(index: Index, account_id: int) -> list[ActionRow]:
    """Actions left "running" by a process that is gone become "interrupted" (offline:
    what happened to their messages in flight is for :func:`reconcile` to find out)."""
    journal = Journal(index)
    out = []
    for row in journal.actions(account_id):
        if row.state == RUNNING and not _alive(row):
            journal.finish(row.id, INTERRUPTED, row.error or "the process running it stopped")
            out.append(journal.action(row.id) or row)
        elif row.state == INTERRUPTED:
            out.append(row)
    return out


def needs_reconcile(index: Index, account_id: int) -> list[ActionRow]:
    """Interrupted actions whose messages in flight have not been checked yet."""
    mark_interrupted(index, account_id)
    return [
        r for r in Journal(index).actions(account_id)
        if r.state == INTERRUPTED and r.count(SENT)[0]
    ]


def reconcile_first(index: Index, connector: Connector, account: str) -> list[str]:
    """Settle the actions a dead process left halfway, before anything new is done; what
    became of each, in plain words (nothing when there was nothing to settle).

    An action that cannot be settled now (the server refuses a question, the connection
    drops) is said so and left for later: it never blocks the command that asked, since
    every action checks each message on the server before touching it anyway.
    """
    row = index.account(account)
    if row is None or not needs_reconcile(index, row["id"]):
        return []
    notes = []
    for action, error in reconcile(index, connector, account, keep_going=True):
        if error is not None:
            notes.append(_(
                "action {id} had been interrupted and could not be checked on the server "
                "now ({error}); it is left as it is: mailclean journal reconcile tries again"
            ).format(id=action.id, error=error))
            continue
        notes.append(_(
            "action {id} had been interrupted; the journal now matches the server "
            "({state}, {done}, {left})").format(
            id=action.id, state=action.state,
            done=ngettext("{n} done", "{n} done", action.count(DONE)[0]).format(
                n=number(action.count(DONE)[0])),
            left=ngettext("{n} left", "{n} left", action.unfinished).format(
                n=number(action.unfinished)),
        ))
    return notes


@overload
def reconcile(index: Index, connector: Connector, account: str) -> list[ActionRow]: ...


@overload
def reconcile(index: Index, connector: Connector, account: str, *,
              keep_going: Literal[True]) -> list[tuple[ActionRow, str | None]]: ...


def reconcile(index: Index, connector: Connector, account: str, *,
              keep_going: bool = False) -> list[ActionRow] | list[tuple[ActionRow, str | None]]:
    """Bring every interrupted action of ``account`` to the truth by asking the server.

    For each message "sent" when the process died: still in its folder and not copied
    means nothing happened (pending again); gone from its folder and found in the target
    means done; copied but still in its folder means the original is yet to be removed
    (resume does only that). Nothing is sent to the server except questions.

    With ``keep_going``, an action whose questions fail (ConnectorError) is left as it
    was and the others are settled: ``(action, error or None)`` for each.
    """
    row = index.require_account(account)
    journal = Journal(index)
    out: list[tuple[ActionRow, str | None]] = []
    for action in mark_interrupted(index, int(row["id"])):
        try:
            if action.kind != "export":
                reconcile_items(index, connector, action)
            else:
                # An export stopped halfway leaves a partial file and removed nothing.
                journal.set_state([i.id for i in journal.items(action.id, [SENT])], PENDING)
        except ConnectorError as exc:
            if not keep_going:
                raise
            out.append((action, str(exc)))
            continue
        fresh = journal.action(action.id)
        assert fresh is not None
        if not fresh.unfinished:
            state = PARTIAL if fresh.count(SKIPPED, FAILED)[0] else FINISHED
            journal.finish(action.id, state, fresh.error)
            fresh = journal.action(action.id) or fresh
        out.append((fresh, None))
    if keep_going:
        return out
    return [a for a, _error in out]


def reconcile_items(index: Index, connector: Connector, action: ActionRow) -> None:
    """Settle the items of ``action`` left "sent" (see :func:`reconcile`)."""
    journal = Journal(index)
    sent = journal.items(action.id, [SENT])
    groups: dict[tuple[str, str | None], list[JournalItem]] = defaultdict(list)
    for i in sent:
        groups[(i.folder, i.target_folder)].append(i)
    runner = _Runner(index, connector, action.id, ActionProgress(), None, BATCH)
    for (folder, target), items in groups.items():
        try:
            validity = connector.folder_validity(folder)
        except FolderNotFound:
            validity = None
            problems = {i.server_id: VANISHED for i in items}
        else:
            problems = connector.verify(folder, items[0].validity, [i.ref() for i in items])
            if any(i.validity is not None and i.validity != validity for i in items):
                problems = {i.server_id: RESET for i in items}
        copies: dict[str, str] = {}
        target_validity = None
        if action.kind in ("trash", "undo") and target is not None:
            by_floor: dict[str | None, list[JournalItem]] = defaultdict(list)
            for i in items:
                by_floor[i.target_floor].append(i)
            try:
                for floor, group in by_floor.items():
                    copies.update(connector.locate(target, [i.ref() for i in group], floor))
                target_validity = connector.folder_validity(target)
            except FolderNotFound:
                copies = {}
        outcomes: list[tuple[int, str, str | None, str | None]] = []
        moves: dict[str, str | None] = {}
        for i in items:
            present = i.server_id not in problems
            if action.kind == "delete":
                outcomes.append((i.id, PENDING if present else DONE, None, None))
                if not present:
                    moves[i.server_id] = None
            elif present:
                outcomes.append((i.id, COPIED if i.server_id in copies else PENDING,
                                 copies.get(i.server_id), None))
            elif i.server_id in copies:
                outcomes.append((i.id, DONE, copies[i.server_id], None))
                moves[i.server_id] = copies[i.server_id]
            else:
                outcomes.append((i.id, SKIPPED, None, VANISHED))
        journal.set_outcomes(outcomes, target_validity)
        if moves:
            if action.kind == "delete":
                folder_id = runner._folder_id(folder)
                if folder_id is not None:
                    index.remove_messages(folder_id, list(moves))
            else:
                runner._index_moves(folder, target, moves)


def resume(
    index: Index,
    connector: Connector,
    account: str,
    action_id: int,
    *,
    progress: ActionProgress | None = None,
    cancel: threading.Event | None = None,
    batch: int = BATCH,
    protection: Protection | None = None,
) -> Outcome:
    """Finish an interrupted or cancelled action: reconcile, then carry on, with every
    remaining message checked again as the plan checked it: identity, flags on the server,
    and what the config protects (``protection``, as it is now)."""
    row = index.require_account(account)
    journal = Journal(index)
    action = journal.action(action_id)
    if action is None or action.account_id != row["id"]:
        raise ActionError(_("no action {id} for this account").format(id=action_id))
    if action.kind == "export":
        raise ActionError(_("an export cannot be resumed: run the command again"))
    _refuse_if_running(index, action.account_id)
    reconcile(index, connector, account)
    action = journal.action(action_id)
    assert action is not None
    if not action.unfinished:
        return Outcome(action)
    journal.claim(action_id)
    n, size = action.count(PENDING, COPIED)
    outcome = _drive(index, connector, action_id, progress or ActionProgress(), cancel, batch,
                     None, size, n, protection)
    if action.kind == "undo" and action.undo_of is not None and outcome.action.state == FINISHED:
        # The undo is complete now: the trash action it reverses is undone, as when the
        # undo ran in one go.
        reversed_action = journal.action(action.undo_of)
        journal.finish(action.undo_of, UNDONE, reversed_action.error if reversed_action else None)
    return outcome
