"""Drive a connector folder by folder into the index: incremental, resumable, retried.

Every change a connector yields is written in its own transaction together with the
folder state it leads to, so an interruption (Ctrl-C, kill, dropped connection) leaves
the index exactly as of the last change applied, and the next sync resumes from there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from mailclean.connectors.base import (
    ConnectionFailed,
    Connector,
    FlagsChanged,
    FolderNotFound,
    FolderReset,
    FolderSynced,
    MessagesAdded,
    MessagesRemoved,
)
from mailclean.i18n import _, ngettext, number, size
from mailclean.index import FolderRow, Index
from mailclean.index.journal import Journal
from mailclean.model import FolderInfo, FolderState
from mailclean.problems import summarize as summarize_problems
from mailclean.progress import Progress
from mailclean.retry import NETWORK, Retrier, Watchdog, too_slow

T = TypeVar("T")


@dataclass
class SyncReport:
    """What a sync did, for the summary line and ``--json``."""

    account: str
    folders: int = 0
    messages: int = 0
    bytes: int = 0
    new: int = 0
    new_bytes: int = 0
    removed: int = 0
    flag_changes: int = 0
    reset_folders: list[str] = field(default_factory=list)
    folders_added: list[str] = field(default_factory=list)
    folders_removed: list[str] = field(default_factory=list)
    folders_renamed: list[tuple[str, str]] = field(default_factory=list)
    problems: int = 0
    """Messages whose headers or structure could not be fully read (kept with their size)."""
    problem_examples: list[str] = field(default_factory=list)
    reconnections: int = 0
    count_mismatches: list[tuple[str, int, int]] = field(default_factory=list)
    """``(folder, the server's count, the index's count)`` where they still differ after
    a second look: the server reads some command otherwise than mailclean does."""
    first_sync: bool = False
    """The account had never been synced: every folder is new, which is no news."""
    seconds: float = 0.0

    def counts(self) -> dict[str, str]:
        """The summary's counts in words of the active language ("1 folder", "3 new"...),
        for the CLI's and the app's summary lines."""
        return {
            "messages": ngettext("{n} message", "{n} messages", self.messages).format(
                n=number(self.messages)),
            "size": size(self.bytes),
            "folders": ngettext("{n} folder", "{n} folders", self.folders).format(
                n=number(self.folders)),
            "new": ngettext("{n} new", "{n} new", self.new).format(n=number(self.new)),
            "new_size": size(self.new_bytes),
            "removed": ngettext("{n} removed", "{n} removed", self.removed).format(
                n=number(self.removed)),
            "flags": ngettext("{n} flag change", "{n} flag changes", self.flag_changes).format(
                n=number(self.flag_changes)),
        }

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "account": self.account,
            "folders": self.folders,
            "messages": self.messages,
            "bytes": self.bytes,
            "new": self.new,
            "new_bytes": self.new_bytes,
            "removed": self.removed,
            "flag_changes": self.flag_changes,
            "reset_folders": self.reset_folders,
            "folders_added": self.folders_added,
            "folders_removed": self.folders_removed,
            "folders_renamed": [list(p) for p in self.folders_renamed],
            "problems": self.problems,
            "problem_examples": self.problem_examples,
            "reconnections": self.reconnections,
            "count_mismatches": [
                {"folder": f, "server_messages": n, "indexed_messages": i}
                for f, n, i in self.count_mismatches
            ],
            "first_sync": self.first_sync,
            "seconds": round(self.seconds, 3),
        }


#: The sync reports through the one progress protocol of long jobs (start gets the estimated
#: number of messages to fetch; advance the messages stored).
SyncProgress = Progress


def sync_account(
    index: Index,
    account: str,
    connector: Connector,
    *,
    address: str | None = None,
    folders: Sequence[str] | None = None,
    full: bool = False,
    progress: SyncProgress | None = None,
    retries: int = 4,
    backoff: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    connected: bool = False,
    deadline: float | None = None,
) -> SyncReport:
    """Bring the index of ``account`` up to date with the mail store behind ``connector``.

    ``folders`` limits the sync to those paths (an unknown one raises FolderNotFound);
    ``full`` drops the folders' incremental state and re-indexes them from scratch.
    A dropped connection (the first one included) is retried ``retries`` times in a row
    with exponential backoff, and never longer than ``deadline`` seconds without progress
    (None: the ``[settings]`` deadline, 120 s by default);
    then ConnectionFailed says when the server stopped answering and what was stored.
    Everything stored before it stays stored. ``connected`` says the caller has connected
    the connector and will close it.

    After each folder, what the index holds is compared with the server's own count; a
    difference that a second look does not explain is reported (``count_mismatches``).
    """
    progress = progress or SyncProgress()
    report = SyncReport(account=account)
    started = time.monotonic()
    account_id = index.ensure_account(account, connector.kind, address)
    report.first_sync = not index.folders(account_id)
    retrier = Retrier(attempts=retries, backoff=backoff, sleep=sleep,
                      deadline=NETWORK.deadline if deadline is None else deadline)
    watchdog = Watchdog(retrier, connector.abort, grace=connector.read_timeout)
    run = _Sync(index, connector, account_id, report, progress, retrier, watchdog, retries)
    if not connected:
        try:
            connector.connect()
        except ConnectionFailed as exc:
            run.reconnect(exc)
    # Around the reading only: what follows it is local work the deadline does not bound.
    watchdog.start()
    try:
        index.set_labels(account_id, connector.labels_are_folders)
        server = run.retrying(connector.list_folders)
        rows = _reconcile_folders(index, account_id, server, folders, report)
        todo = [f for f in server if f.selectable and (not folders or f.path in folders)]
        # The inbox first: it is where people look, and usually the largest.
        todo.sort(key=lambda f: f.role != "inbox")
        report.folders = len(todo)
        expected = sum(
            max((f.messages or 0) - (0 if full else rows[f.path].state.indexed), 0) for f in todo
        )
        progress.start(expected)
        for info in todo:
            run.folder(info, rows, full)
        index.set_quota(account_id, run.retrying(connector.quota))
        watchdog.stop()
        # Now that the index holds what the server holds, moved messages whose new ids
        # the server did not give are found there.
        Journal(index).settle_targets(account_id)
        if not folders:
            index.mark_account_synced(account_id)
    finally:
        watchdog.stop()
        if not connected:
            connector.close()
    totals = index.stats(account_id)
    report.messages = totals["messages"]
    report.bytes = totals["bytes"]
    report.seconds = time.monotonic() - started
    return report


class _Sync:
    """What one sync shares between its folders: the connection it reconnects when it
    drops, the retrier and watchdog that bound it, the report and the progress."""

    def __init__(
        self,
        index: Index,
        connector: Connector,
        account_id: int,
        report: SyncReport,
        progress: SyncProgress,
        retrier: Retrier,
        watchdog: Watchdog,
        retries: int,
    ) -> None:
        self.index = index
        self.connector = connector
        self.account_id = account_id
        self.report = report
        self.progress = progress
        self.retrier = retrier
        self.watchdog = watchdog
        self.retries = retries

    def reconnect(self, exc: ConnectionFailed) -> None:
        """Connect again after ``exc``, with back-off; raise when the retrier gives up."""
        retrier, connector = self.retrier, self.connector
        while True:
            delay = retrier.again()
            if delay is None and self.watchdog.fired:
                exc = ConnectionFailed(too_slow(retrier))
            if delay is None and not self.retries:
                raise exc  # the caller retries on its own terms (a snapshot's runner)
            if delay is None:
                raise ConnectionFailed(_gave_up(exc, retrier, self.report)) from exc
            self.progress.retry(str(exc), delay)
            connector.close()
            retrier.wait(delay)
            try:
                connector.connect()
            except ConnectionFailed as again:
                exc = again
                continue
            self.report.reconnections += 1
            return

    def retrying(self, action: Callable[[], T]) -> T:
        """``action()``, reconnecting and calling it again as long as the connection drops."""
        while True:
            try:
                return action()
            except ConnectionFailed as exc:
                self.reconnect(exc)

    def folder(self, info: FolderInfo, rows: dict[str, FolderRow], full: bool) -> None:
        """Sync one listed folder until the index's count is the server's (or is reported
        as differing after a second look and a fresh indexing)."""
        index, connector, retrier = self.index, self.connector, self.retrier
        self.progress.folder(info.path)
        if full:
            index.reset_folder(rows[info.path].id, FolderState())
        current: FolderInfo | None = info
        looks = 0
        while current is not None:
            try:
                server_count, indexed = _sync_folder(
                    index, connector, self.account_id, current, self.report, self.progress,
                    retrier,
                )
            except ConnectionFailed as exc:
                self.reconnect(exc)
                # Counters changed while we were away: read them again. A folder
                # deleted meanwhile is left for the next sync to drop.
                fresh = {f.path: f for f in self.retrying(connector.list_folders)}
                current = fresh.get(info.path)
                continue
            except FolderNotFound:
                # Deleted or renamed by another program since the list: the next
                # sync follows it. One still listed but refused is an error.
                if info.path in {f.path for f in self.retrying(connector.list_folders)}:
                    raise
                break
            retrier.progress()
            if server_count is None or server_count == indexed:
                break
            looks += 1
            if looks == 1:
                # Another program may have added or removed mail between our last
                # read and the count: look once more before calling it wrong.
                fresh = {f.path: f for f in self.retrying(connector.list_folders)}
                current = fresh.get(info.path)
                continue
            if looks == 2:
                # Still wrong: what the incremental state says is not to be trusted
                # (an earlier sync may have been misled). Index the folder afresh.
                index.reset_folder(rows[info.path].id, FolderState())
                fresh = {f.path: f for f in self.retrying(connector.list_folders)}
                current = fresh.get(info.path)
                continue
            self.report.count_mismatches.append((info.path, server_count, indexed))
            break


def _gave_up(exc: ConnectionFailed, retrier: Retrier, report: SyncReport) -> str:
    """The last failure, when it began, and what was stored before it, in words."""
    stored = ngettext(
        "{n} new message was stored before that and is kept",
        "{n} new messages were stored before that and are kept",
        report.new,
    ).format(n=number(report.new))
    return _(
        "{error} (since {time}, {attempts}); {stored}: run the sync again to carry on"
    ).format(
        error=exc, time=retrier.stopped_at(), stored=stored,
        attempts=ngettext("{n} attempt", "{n} attempts", retrier.failures).format(
            n=retrier.failures),
    )


def _reconcile_folders(
    index: Index,
    account_id: int,
    server: list[FolderInfo],
    only: Sequence[str] | None,
    report: SyncReport,
) -> dict[str, FolderRow]:
    """Follow folders created, deleted and renamed on the server; return rows by path."""
    by_path = {f.path: f for f in server}
    if only:
        missing = [p for p in only if p not in by_path or not by_path[p].selectable]
        if missing:
            known = ", ".join(sorted(p for p, f in by_path.items() if f.selectable))
            raise FolderNotFound(
                _("no folder '{path}' on the server (folders: {known})").format(
                    path=missing[0], known=known
                )
            )
    rows = {r.path: r for r in index.folders(account_id)}
    gone = [r for p, r in rows.items() if p not in by_path]
    new = [f for p, f in by_path.items() if p not in rows]
    if not only:
        # A renamed IMAP folder keeps its UIDVALIDITY and its messages: follow it rather
        # than drop and re-fetch everything.
        for row in list(gone):
            twins = [f for f in new if f.uidvalidity and f.uidvalidity == row.uidvalidity]
            if len(twins) == 1:
                twin = twins[0]
                index.update_folder(row.id, twin)
                report.folders_renamed.append((row.path, twin.path))
                gone.remove(row)
                new.remove(twin)
        for row in gone:
            index.delete_folder(row.id)
            report.folders_removed.append(row.path)
    for info in new:
        index.add_folder(account_id, info)
        report.folders_added.append(info.path)
    for path, row in rows.items():
        listed = by_path.get(path)
        if listed and listed.role != row.role:
            index.update_folder(row.id, listed)
    return {r.path: r for r in index.folders(account_id)}


def _sync_folder(
    index: Index,
    connector: Connector,
    account_id: int,
    info: FolderInfo,
    report: SyncReport,
    progress: SyncProgress,
    retrier: Retrier,
) -> tuple[int | None, int]:
    """Apply one folder's changes; (the server's own count at the end, the index's)."""
    row = index.folders(account_id, info.path)[0]
    folder_id = row.id
    server_count: int | None = None
    for change in connector.sync_folder(info, row.state, lambda: index.known_ids(folder_id)):
        if isinstance(change, MessagesAdded):
            index.add_messages(account_id, folder_id, change.messages, change.state)
            retrier.progress()
            report.new += len(change.messages)
            report.new_bytes += sum(m.size for m in change.messages)
            for m in change.messages:
                if m.problems:
                    report.problems += 1
                    if len(report.problem_examples) < 5:
                        what = m.subject or m.message_id or f"#{m.server_id}"
                        report.problem_examples.append(
                            f"{info.path}: «{what}»: {summarize_problems(m.problems)}"
                        )
            progress.advance(len(change.messages))
        elif isinstance(change, FlagsChanged):
            report.flag_changes += index.update_flags(folder_id, change.flags)
        elif isinstance(change, MessagesRemoved):
            report.removed += index.remove_messages(folder_id, change.server_ids)
        elif isinstance(change, FolderReset):
            report.removed += index.reset_folder(folder_id, change.state)
            report.reset_folders.append(info.path)
        elif isinstance(change, FolderSynced):
            index.finish_folder(folder_id, change.state, change.messages, change.bytes)
            server_count = change.messages
    return server_count, index.count_messages(folder_id)
