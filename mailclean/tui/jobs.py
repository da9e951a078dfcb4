"""What the app runs in its worker threads: scan, sync, act, undo, resume.

Each job opens its own :class:`~mailclean.index.Index` (a SQLite connection belongs to the
thread that opened it) and follows exactly the order of the matching CLI command: connect,
settle interrupted actions, sync the folders concerned, plan again, act, then rescan so
the review lists show the new state. No textual here: progress goes through the
library's own callback classes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mailclean import actions
from mailclean import config as cfg
from mailclean.connectors.base import Connector
from mailclean.i18n import _, ngettext, number
from mailclean.index import Index
from mailclean.index.journal import ActionRow
from mailclean.rules import Protection, Rule, ScanResult, scan
from mailclean.sync import SyncProgress, SyncReport, sync_account

ConnectorFactory = Callable[[cfg.AccountConfig], Connector]


@dataclass
class Context:
    """What every job needs: where the index is, the account, rules and protection."""

    index_path: Path
    account: cfg.AccountConfig
    rules: dict[str, Rule]
    protection: Protection
    connector_factory: ConnectorFactory
    batch: int = actions.BATCH


@dataclass
class JobResult:
    """How a job ended, for the progress dialog and the notifications."""

    outcome: actions.Outcome | None = None
    sync: SyncReport | None = None
    scan: ScanResult | None = None
    notes: list[str] = field(default_factory=list)
    """Things the person should know (interrupted actions settled first, ...)."""


class Progress(actions.ActionProgress, SyncProgress):
    """One progress interface for actions and syncs (the dialog shows either)."""

    def start(self, messages: int, size: int = 0) -> None:  # type: ignore[override]
        """The work starts on ``messages`` messages (``size`` bytes, 0 if unknown)."""

    def advance(self, messages: int, size: int = 0) -> None:  # type: ignore[override]
        """That many more messages were handled."""

    def phase(self, text: str) -> None:
        """A step starts."""

    def folder(self, path: str) -> None:
        """A sync reaches a folder."""
        self.phase(path)

    def retry(self, error: str, delay: float) -> None:
        """The connection dropped; another attempt follows."""
        self.phase(_("connection lost ({error}); trying again in {delay:.0f} s").format(
            error=error, delay=delay))


class _SyncAdapter(SyncProgress):
    """``sync_account`` calls start(folders, expected): hand the expected count on."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def start(self, folders: int, expected: int) -> None:
        self.progress.start(expected, 0)

    def folder(self, path: str) -> None:
        self.progress.folder(path)

    def advance(self, messages: int) -> None:
        self.progress.advance(messages, 0)

    def retry(self, error: str, delay: float) -> None:
        self.progress.retry(error, delay)


def run_scan(ctx: Context, force: bool = False) -> ScanResult:
    """Run the rules (answered from the last scan when nothing changed)."""
    index = Index(ctx.index_path)
    try:
        return scan(index, ctx.account.name, ctx.rules, ctx.protection, force=force)
    finally:
        index.close()


def run_sync(ctx: Context, progress: Progress) -> JobResult:
    """``mailclean sync``: settle interrupted actions, sync every folder, then rescan."""
    result = JobResult()
    index = Index(ctx.index_path)
    try:
        progress.phase(_("connecting"))
        connector = ctx.connector_factory(ctx.account)
        row = index.account(ctx.account.name)
        if row is not None and actions.needs_reconcile(index, row["id"]):
            connector.connect()
            try:
                result.notes += actions.reconcile_first(index, connector, ctx.account.name)
            finally:
                connector.close()
        result.sync = sync_account(index, ctx.account.name, connector,
                                   address=ctx.account.address, progress=_SyncAdapter(progress))
        progress.phase(_("looking for what is worth cleaning"))
        result.scan = scan(index, ctx.account.name, ctx.rules, ctx.protection)
    finally:
        index.close()
    return result


def unchanged(report: SyncReport) -> bool:
    """Whether a sync found nothing new: no message added, removed or changed, no folder
    added, removed, renamed or reset (a first sync is never "unchanged")."""
    return not (report.first_sync or report.new or report.removed or report.flag_changes
                or report.reset_folders or report.folders_added or report.folders_removed
                or report.folders_renamed)


def make_plan(index: Index, ctx: Context, kind: str, selection: actions.Selection
              ) -> actions.Plan:
    """What ``kind`` would do to ``selection`` now, from the index."""
    try:
        return actions.plan(index, ctx.account.name, kind, selection,
                            protection=ctx.protection)
    finally:
        # plan() fills a TEMP table for message_ids without committing: left open, that
        # implicit transaction would swallow the journal's writes (rolled back at close)
        # and pin the reading connection to an old snapshot.
        if index.conn.in_transaction:
            index.conn.commit()


def run_action(
    ctx: Context,
    kind: str,
    selection: actions.Selection,
    progress: Progress,
    cancel: threading.Event,
    export_to: Path | None = None,
    expected: int | None = None,
) -> JobResult:
    """``mailclean clean --yes``: connect, settle, refresh, plan again, act, rescan.

    ``expected`` is the number of messages the person confirmed; a permanent delete of a
    selection that changed on the server meanwhile is refused, as in the CLI.
    """
    result = JobResult()
    index = Index(ctx.index_path)
    try:
        p = make_plan(index, ctx, kind, selection)
        p.check()
        if not p.items:
            raise actions.ActionError(_("nothing to do: no message matches"))
        progress.phase(_("connecting"))
        connector = ctx.connector_factory(ctx.account)
        connector.connect()
        try:
            result.notes += actions.reconcile_first(index, connector, ctx.account.name)
            progress.phase(_("checking the server"))
            # The index may be older than the server: sync what is affected, plan again.
            folders = [*p.folders, p.target]
            del p  # one object per message: never two plans in memory at once
            actions.refresh(index, connector, ctx.account.name, folders)
            if selection.rules:
                scan(index, ctx.account.name, ctx.rules, ctx.protection,
                     only=list(selection.rules))
            p = make_plan(index, ctx, kind, selection)
            if kind == "delete" and expected is not None and p.messages > expected:
                raise actions.ActionError(
                    ngettext("the selection changed on the server ({n} message now, not "
                             "{shown}): nothing was deleted; try again",
                             "the selection changed on the server ({n} messages now, not "
                             "{shown}): nothing was deleted; try again", p.messages).format(
                        n=number(p.messages), shown=number(expected)))
            if not p.items:
                raise actions.ActionError(
                    _("nothing to do: these messages are no longer where the index said"))
            result.outcome = actions.execute(
                index, connector, p, export_to=export_to, progress=progress, cancel=cancel,
                batch=ctx.batch,
            )
        finally:
            connector.close()
        progress.phase(_("updating the review lists"))
        result.scan = scan(index, ctx.account.name, ctx.rules, ctx.protection)
    finally:
        index.close()
    return result


def undo_plan(index: Index, ctx: Context, action_id: int) -> actions.Plan:
    """What undoing ``action_id`` would put back (from the journal, nothing sent)."""
    p, _outcome = actions.undo(index, None, ctx.account.name, action_id,  # type: ignore[arg-type]
                               dry_run=True)
    return p


def run_undo(ctx: Context, action_id: int, progress: Progress, cancel: threading.Event
             ) -> JobResult:
    """``mailclean undo``: connect, settle, put the messages back, rescan."""
    result = JobResult()
    index = Index(ctx.index_path)
    try:
        progress.phase(_("connecting"))
        connector = ctx.connector_factory(ctx.account)
        connector.connect()
        try:
            result.notes += actions.reconcile_first(index, connector, ctx.account.name)
            _plan, result.outcome = actions.undo(index, connector, ctx.account.name, action_id,
                                                 progress=progress, cancel=cancel,
                                                 batch=ctx.batch)
        finally:
            connector.close()
        progress.phase(_("updating the review lists"))
        result.scan = scan(index, ctx.account.name, ctx.rules, ctx.protection)
    finally:
        index.close()
    return result


def run_resume(ctx: Context, action_id: int, progress: Progress, cancel: threading.Event
               ) -> JobResult:
    """``mailclean journal resume --yes``: finish an interrupted or cancelled action."""
    result = JobResult()
    index = Index(ctx.index_path)
    try:
        progress.phase(_("connecting"))
        connector = ctx.connector_factory(ctx.account)
        connector.connect()
        try:
            result.outcome = actions.resume(index, connector, ctx.account.name, action_id,
                                            progress=progress, cancel=cancel, batch=ctx.batch)
        finally:
            connector.close()
        progress.phase(_("updating the review lists"))
        result.scan = scan(index, ctx.account.name, ctx.rules, ctx.protection)
    finally:
        index.close()
    return result


def outcome_lines(o: actions.Outcome) -> list[tuple[str, str]]:
    """What an action did, in plain words, as ``(style, text)`` lines (like the CLI)."""
    from mailclean.i18n import size

    a: ActionRow = o.action
    done, done_bytes = a.count("done")
    lines: list[tuple[str, str]] = []
    if o.export_action is not None:
        e = o.export_action
        lines.append(("", ngettext(
            "Exported {n} message ({size}) to {path}, read back and checked.",
            "Exported {n} messages ({size}) to {path}, read back and checked.",
            e.count("done")[0]).format(n=number(e.count("done")[0]),
                                       size=size(e.count("done")[1]), path=e.target)))
    if a.kind == "trash":
        lines.append(("bold", ngettext("Moved {n} message ({size}) to {trash}.",
                                       "Moved {n} messages ({size}) to {trash}.", done).format(
            n=number(done), size=size(done_bytes), trash=a.target)))
        if done:
            lines.append(("warning", _("Nothing is freed on the server until the Trash is "
                                       "emptied (key X).")))
            lines.append(("dim", ngettext("Changed your mind? Press u to put it back.",
                                          "Changed your mind? Press u to put them back.",
                                          done)))
    elif a.kind == "delete":
        lines.append(("success", ngettext(
            "Deleted {n} message for good: {size} freed on the server.",
            "Deleted {n} messages for good: {size} freed on the server.", done).format(
            n=number(done), size=size(done_bytes))))
    elif a.kind == "undo":
        lines.append(("bold", ngettext("Put back {n} message ({size}) where it was.",
                                       "Put back {n} messages ({size}) where they were.",
                                       done).format(n=number(done), size=size(done_bytes))))
    elif a.kind == "export":
        lines.append(("", ngettext(
            "Exported {n} message ({size}) to {path}, read back and checked.",
            "Exported {n} messages ({size}) to {path}, read back and checked.", done).format(
            n=number(done), size=size(done_bytes), path=a.target)))
    skipped, skipped_bytes = a.count("skipped", "failed")
    if skipped:
        lines.append(("warning", ngettext(
            "{n} message ({size}) was left alone because it is no longer what the index "
            "said (changed, moved or deleted on the server meanwhile).",
            "{n} messages ({size}) were left alone because they are no longer what the "
            "index said (changed, moved or deleted on the server meanwhile).", skipped).format(
                n=number(skipped), size=size(skipped_bytes))))
    if a.state == "cancelled":
        lines.append(("warning", ngettext(
            "Cancelled: {n} message was not touched. The journal tab (3) can finish the "
            "action later.",
            "Cancelled: {n} messages were not touched. The journal tab (3) can finish the "
            "action later.", a.unfinished).format(n=number(a.unfinished))))
    elif a.unfinished:
        lines.append(("warning", ngettext(
            "{n} message is still to do: finish the action from the journal tab (3).",
            "{n} messages are still to do: finish the action from the journal tab (3).",
            a.unfinished).format(n=number(a.unfinished))))
    if a.error:
        lines.append(("warning", a.error))
    return lines
