"""What the app runs in its worker threads: scan, sync, act, undo, resume.

A thin adapter over :mod:`mailclean.workflows`, the steps the CLI runs too: each job opens
its own :class:`~mailclean.index.Index` (a SQLite connection belongs to the thread that
opened it), runs the workflow, then rescans so the review lists show the new state. No
textual here: progress goes through the library's own protocol.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from mailclean import actions, workflows
from mailclean import config as cfg
from mailclean.connectors.base import Connector
from mailclean.i18n import _
from mailclean.index import Index
from mailclean.progress import Progress
from mailclean.rules import Protection, Rule, ScanResult
from mailclean.sync import SyncReport

ConnectorFactory = Callable[[cfg.AccountConfig], Connector]

__all__ = ["Context", "JobResult", "Progress", "run_action", "run_resume", "run_scan",
           "run_sync", "run_undo", "unchanged", "undo_plan", "workspace"]


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

    done: workflows.Done | None = None
    sync: SyncReport | None = None
    scan: ScanResult | None = None
    notes: list[str] = field(default_factory=list)
    """Things the person should know (interrupted actions settled first, ...)."""

    @property
    def outcome(self) -> actions.Outcome | None:
        """The action's outcome, if the job acted."""
        return self.done.outcome if self.done is not None else None


def workspace(ctx: Context, index: Index, notes: list[str] | None = None
              ) -> workflows.Workspace:
    """The workflows' view of the app's account, on ``index``; notes go to ``notes``."""
    return workflows.Workspace(
        index=index, account=ctx.account.name,
        connect=lambda: ctx.connector_factory(ctx.account), address=ctx.account.address,
        rules=ctx.rules, protection=ctx.protection,
        note=notes.append if notes is not None else (lambda text: None), batch=ctx.batch,
    )


@contextmanager
def _job(ctx: Context) -> Iterator[tuple[workflows.Workspace, JobResult]]:
    result = JobResult()
    index = Index(ctx.index_path)
    try:
        yield workspace(ctx, index, result.notes), result
    finally:
        index.close()


def run_scan(ctx: Context, force: bool = False) -> ScanResult:
    """Run the rules (answered from the last scan when nothing changed)."""
    with _job(ctx) as (ws, _result):
        return workflows.rescan(ws, force=force)


def _rescan(ws: workflows.Workspace, result: JobResult, progress: Progress) -> None:
    progress.phase(_("updating the review lists"))
    result.scan = workflows.rescan(ws)


def run_sync(ctx: Context, progress: Progress) -> JobResult:
    """``mailclean sync``: settle interrupted actions, sync every folder, then rescan."""
    with _job(ctx) as (ws, result):
        progress.phase(_("connecting"))
        result.sync = workflows.sync(ws, progress=progress)
        progress.phase(_("looking for what is worth cleaning"))
        result.scan = workflows.rescan(ws)
    return result


def unchanged(report: SyncReport) -> bool:
    """Whether a sync found nothing new: no message added, removed or changed, no folder
    added, removed, renamed or reset (a first sync is never "unchanged")."""
    return not (report.first_sync or report.new or report.removed or report.flag_changes
                or report.reset_folders or report.folders_added or report.folders_removed
                or report.folders_renamed)


def run_action(
    ctx: Context,
    shown: actions.Plan,
    progress: Progress,
    cancel: threading.Event,
    export_to: Path | None = None,
) -> JobResult:
    """``mailclean clean --yes``: carry out the plan the person confirmed, as the server is
    now (:func:`mailclean.workflows.carry_out`), then rescan."""
    with _job(ctx) as (ws, result):
        result.done = workflows.carry_out(ws, shown, export_to=export_to, progress=progress,
                                          cancel=cancel)
        _rescan(ws, result, progress)
    return result


def undo_plan(index: Index, ctx: Context, action_id: int) -> actions.Plan:
    """What undoing ``action_id`` would put back (from the journal, nothing sent)."""
    return workflows.undo_plan(workspace(ctx, index), action_id)


def run_undo(ctx: Context, action_id: int, progress: Progress, cancel: threading.Event
             ) -> JobResult:
    """``mailclean undo``: connect, settle, put the messages back, rescan."""
    with _job(ctx) as (ws, result):
        result.done = workflows.undo(ws, action_id, progress=progress, cancel=cancel)
        _rescan(ws, result, progress)
    return result


def run_resume(ctx: Context, action_id: int, progress: Progress, cancel: threading.Event
               ) -> JobResult:
    """``mailclean journal resume --yes``: finish an interrupted or cancelled action, each
    message checked again (identity, flags, protection)."""
    with _job(ctx) as (ws, result):
        result.done = workflows.resume(ws, action_id, progress=progress, cancel=cancel)
        _rescan(ws, result, progress)
    return result
