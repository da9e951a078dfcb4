"""Carrying an action's journalled items to the server batch by batch: verify identity,
flags and protection, send one command per batch, record each outcome."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, field

from mailclean import wording
from mailclean.actions.planning import PROTECTED, ActionError, Plan, QuotaEvidence
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
    CANCELLED,
    COPIED,
    DONE,
    FAILED,
    FINISHED,
    INTERRUPTED,
    PARTIAL,
    PENDING,
    SENT,
    SKIPPED,
    ActionRow,
    Journal,
    JournalItem,
    PlannedItem,
)
from mailclean.progress import Progress
from mailclean.retry import NETWORK, Retrier, Watchdog, too_slow
from mailclean.rules import Protection

#: Messages per batch: one command and one journal update each.
BATCH = 1_000
#: Identity is checked this many batches ahead, in one command.
VERIFY_AHEAD = 5

log = logging.getLogger(__name__)

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


class Runner:
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
        self._watchdog = Watchdog(self.retrier, connector.abort, grace=connector.read_timeout)

    # The connection may drop at any point: reconnect, ask the server what became of
    # the batch in flight, and carry on with what is left.
    def run(self) -> str:
        try:
            with self._watchdog:
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
            if delay is None and self._watchdog.fired:
                exc = ConnectionFailed(too_slow(self.retrier))
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


def begin(index: Index, plan_: Plan, kind: str, *, target: str | None, after: int | None = None,
           export_format: str | None = None, items: list[PlannedItem] | None = None) -> int:
    return Journal(index).begin(
        plan_.account_id, kind, plan_.items if items is None else items,
        selection=plan_.selection.as_dict(), target=target, export_format=export_format,
        after=after,
    )


def drive(index: Index, connector: Connector, action_id: int, progress: ActionProgress,
           cancel: threading.Event | None, batch: int, export_row: ActionRow | None,
           size: int, count: int, protection: Protection | None = None) -> Outcome:
    journal = Journal(index)
    runner = Runner(index, connector, action_id, progress, cancel, batch,
                     protection=protection)
    progress.start(count, size)
    journal.set_quota(action_id, before=quota_used(connector))
    try:
        state = runner.run()
    except ConnectorError as exc:
        journal.finish(action_id, INTERRUPTED, str(exc))
        raise
    except BaseException:
        # Ctrl-C or a bug: whatever was in flight is for reconcile to find out.
        journal.finish(action_id, INTERRUPTED, "interrupted")
        raise
    journal.set_quota(action_id, after=quota_used(connector))
    journal.finish(action_id, state, runner.row.error)
    row = journal.action(action_id)
    assert row is not None
    return Outcome(row, export_row, runner.skipped)


def quota_used(connector: Connector) -> int | None:
    """The server's own quota usage now, where it measures one; never fails an action."""
    if not connector.quota_is_measured:
        return None
    try:
        quota = connector.quota()
    except ConnectorError:
        return None
    return quota.used if quota is not None else None


def reconcile_items(index: Index, connector: Connector, action: ActionRow) -> None:
    """Settle the items of ``action`` left "sent" (see :func:`reconcile`)."""
    journal = Journal(index)
    sent = journal.items(action.id, [SENT])
    groups: dict[tuple[str, str | None], list[JournalItem]] = defaultdict(list)
    for i in sent:
        groups[(i.folder, i.target_folder)].append(i)
    runner = Runner(index, connector, action.id, ActionProgress(), None, BATCH)
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
