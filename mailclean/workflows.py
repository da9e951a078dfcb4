"""The one place where sync, clean, undo and resume are sequenced.

The command line (``cli/``) and the review app (``tui/jobs.py``) are thin adapters over
these functions: both get the same order of steps, the same safety checks and the same
transaction discipline, so they cannot drift apart. Carrying out a plan always goes

    connect → settle interrupted actions → sync the folders concerned → run the rules
    concerned again → plan again → refuse what changed where it matters → act → close

and every message is then checked on the server again by the action itself (identity,
flags, protection). Nothing here prints: notes go to :attr:`Workspace.note`, progress to
a :class:`~mailclean.progress.Progress`, and results describe themselves
(``Plan.describe()``, ``Outcome.describe()``, :mod:`mailclean.wording`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from mailclean import actions, wording
from mailclean.connectors.base import Connector
from mailclean.i18n import _, ngettext, number
from mailclean.index import Index
from mailclean.progress import Progress
from mailclean.rules import Protection, Rule, ScanResult, scan
from mailclean.sync import SyncReport, sync_account
from mailclean.wording import changes_words


class NothingToDo(actions.ActionError):
    """The selection holds no message to act on (any more)."""


class SelectionChanged(actions.ActionError):
    """What the server holds now differs from the plan the person saw, in a way that
    makes carrying it out unsafe: nothing was done."""


@dataclass
class Workspace:
    """One account, as every workflow needs it."""

    index: Index
    account: str
    connect: Callable[[], Connector]
    """A new connector for the account, not yet connected (each workflow connects and
    closes it)."""
    address: str | None = None
    rules: Mapping[str, Rule] = field(default_factory=dict)
    protection: Protection = field(default_factory=Protection)
    note: Callable[[str], None] = lambda text: None
    """Where the things a person should know go (interrupted actions settled first, what
    changed since the dry run)."""
    batch: int = actions.BATCH


@contextmanager
def _connected(ws: Workspace) -> Iterator[Connector]:
    connector = ws.connect()
    connector.connect()
    try:
        yield connector
    finally:
        connector.close()


def _settle(ws: Workspace, connector: Connector) -> None:
    for text in actions.reconcile_first(ws.index, connector, ws.account):
        ws.note(text)


# -- sync and rules -------------------------------------------------------------------------


def sync(ws: Workspace, *, folders: Sequence[str] = (), full: bool = False,
         progress: Progress | None = None) -> SyncReport:
    """``mailclean sync``: settle interrupted actions first (they may have moved mail the
    index does not know of yet), then bring the index up to date."""
    row = ws.index.account(ws.account)
    if row is not None and actions.needs_reconcile(ws.index, row["id"]):
        with _connected(ws) as connector:
            _settle(ws, connector)
    return sync_account(ws.index, ws.account, ws.connect(), address=ws.address,
                        folders=list(folders) or None, full=full, progress=progress)


def rescan(ws: Workspace, *, only: Sequence[str] | None = None,
           force: bool = False) -> ScanResult:
    """Run the rules (answered from the last scan when nothing changed)."""
    return scan(ws.index, ws.account, dict(ws.rules), ws.protection,
                only=list(only) if only else None, force=force)


# -- clean ------------------------------------------------------------------------------


def plan(ws: Workspace, kind: str, selection: actions.Selection, *,
         permanent: bool = False) -> actions.Plan:
    """What ``kind`` ("trash", "delete", "export") would do to ``selection`` now, from the
    index: nothing is sent to the server."""
    try:
        return actions.plan(ws.index, ws.account, kind, selection,
                            protection=ws.protection, permanent=permanent)
    finally:
        # A plan of messages picked one by one fills a TEMP table: an implicit transaction
        # left open would swallow the journal's writes and pin this connection to an old
        # snapshot of the index.
        if ws.index.conn.in_transaction:
            ws.index.conn.commit()


def refusal(shown: actions.Plan, now: actions.Plan, gone: int, new: int) -> str | None:
    """Why ``now`` (the plan made again just before acting) must not be carried out in
    place of ``shown`` (the one the person saw), or None; ``gone`` and ``new`` are
    ``now.changes_since(shown)``.

    A delete is for good: it is refused when anything changed, messages gone (the count
    confirmed is no longer right) as well as new ones (they were never shown). A move to
    the Trash or an export is reversible and goes on with what matches now; the change is
    said (:func:`carry_out` notes it).
    """
    if now.kind != "delete" or not (gone or new):
        return None
    return ngettext(
        "the selection changed on the server since you saw it ({n} message now, not "
        "{shown}): nothing was deleted; look at it again and confirm again",
        "the selection changed on the server since you saw it ({n} messages now, not "
        "{shown}): nothing was deleted; look at it again and confirm again",
        now.messages).format(n=number(now.messages), shown=number(shown.messages))


@dataclass
class Done:
    """What :func:`carry_out` did."""

    outcome: actions.Outcome
    account: str
    plan: actions.Plan | None = None
    """The plan carried out (made again just before acting); None for a resume, which
    carries on the journal's plan."""
    gone: int = 0
    """Messages of the plan shown that were no longer there, or no longer the same."""
    new: int = 0
    """Messages that matched the selection when acting but not in the plan shown."""
    evidence: actions.QuotaEvidence = field(
        default_factory=lambda: actions.QuotaEvidence(None))

    def describe(self, surface: wording.Surface) -> list[wording.Line]:
        """What was done, in the surface's words."""
        return self.outcome.describe(surface, self.evidence, account=self.account)


def carry_out(
    ws: Workspace,
    shown: actions.Plan,
    *,
    export_to: Path | None = None,
    export_format: str | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> Done:
    """Do what ``shown`` says, as the server is now (see the module's docstring).

    Raises :class:`NothingToDo` when no message is left to act on,
    :class:`SelectionChanged` when :func:`refusal` refuses, ActionError when the plan must
    not run (:meth:`~mailclean.actions.Plan.check`) and ConnectorError for the server.
    """
    progress = progress or Progress()
    shown.check()
    if not shown.items:
        raise NothingToDo(_("nothing to do: no message matches"))
    progress.phase(_("connecting"))
    with _connected(ws) as connector:
        _settle(ws, connector)
        progress.phase(_("checking the server"))
        # The index may be older than the server: sync what is concerned, plan again.
        concerned = [*shown.folders, *([shown.target] if shown.target else [])]
        actions.refresh(ws.index, connector, ws.account, concerned)
        if shown.selection.rules and ws.rules:
            rescan(ws, only=shown.selection.rules)
        now = plan(ws, shown.kind, shown.selection, permanent=shown.permanent)
        gone, new = now.changes_since(shown)
        refused = refusal(shown, now, gone, new)
        if refused:
            raise SelectionChanged(refused)
        if gone or new:
            ws.note(changes_words(gone, new))
        if not now.items:
            raise NothingToDo(_("nothing to do: no message matches any more"))
        outcome = actions.execute(
            ws.index, connector, now, export_to=export_to, export_format=export_format,
            progress=progress, cancel=cancel, batch=ws.batch, protection=ws.protection,
        )
    return Done(outcome, ws.account, now, gone, new, evidence(ws, now.account_id))


def evidence(ws: Workspace, account_id: int | None = None) -> actions.QuotaEvidence:
    """What this server's quota was measured to do when mail moved to the Trash."""
    if account_id is None:
        row = ws.index.account(ws.account)
        if row is None:
            return actions.QuotaEvidence(None)
        account_id = int(row["id"])
    return actions.quota_evidence(ws.index, account_id)


# -- undo and resume ------------------------------------------------------------------------


def undo_plan(ws: Workspace, action_id: int) -> actions.Plan:
    """What undoing ``action_id`` would put back (from the journal: nothing is sent)."""
    p, _outcome = actions.undo(ws.index, None, ws.account, action_id,  # type: ignore[arg-type]
                               dry_run=True)
    return p


def undo(ws: Workspace, action_id: int, *, progress: Progress | None = None,
         cancel: threading.Event | None = None) -> Done:
    """``mailclean undo``: put back what trash action ``action_id`` moved, each message
    checked in the Trash first."""
    progress = progress or Progress()
    progress.phase(_("connecting"))
    with _connected(ws) as connector:
        _settle(ws, connector)
        p, outcome = actions.undo(ws.index, connector, ws.account, action_id,
                                  progress=progress, cancel=cancel, batch=ws.batch)
    assert outcome is not None
    return Done(outcome, ws.account, p, evidence=evidence(ws, p.account_id))


def resume(ws: Workspace, action_id: int, *, progress: Progress | None = None,
           cancel: threading.Event | None = None) -> Done:
    """``mailclean journal resume``: finish an interrupted or cancelled action, every
    remaining message checked again as the plan checked it (identity, flags on the server,
    and what the config protects now)."""
    progress = progress or Progress()
    progress.phase(_("connecting"))
    with _connected(ws) as connector:
        outcome = actions.resume(ws.index, connector, ws.account, action_id,
                                 progress=progress, cancel=cancel, batch=ws.batch,
                                 protection=ws.protection)
    return Done(outcome, ws.account, evidence=evidence(ws, outcome.action.account_id))
