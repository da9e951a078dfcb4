"""What t, e, D, X, u, r and R do: plan the action as the command line plans it, show
the plan in a confirmation dialog, and once confirmed run it in a worker (through
:mod:`mailclean.tui.running` and :mod:`mailclean.tui.jobs`, to :mod:`mailclean.workflows`).

Nothing is sent to a server before the person confirms; the worker plans again against the
server and refuses a plan that drifted, exactly as ``mailclean clean`` does.
"""

from __future__ import annotations

import threading
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from mailclean import actions, wording, workflows
from mailclean.i18n import _, ngettext, number, size, when
from mailclean.tui import jobs
from mailclean.tui.screens import ConfirmScreen
from mailclean.tui.widgets.journal import kind_label

if TYPE_CHECKING:
    from mailclean.tui.app import ReviewApp


class Cleaning:
    """The app's commands that act on the mailbox."""

    def __init__(self, app: ReviewApp) -> None:
        self.app = app

    def _guard(self) -> bool:
        app = self.app
        if app.busy:
            app.notify(_("Wait for the current task to end."), severity="warning")
            return False
        if not app.data.indexed:
            app.notify(_("Sync the account first (R)."), severity="warning")
            return False
        return True

    # -- trash, export, delete --------------------------------------------------------

    def clean(self, kind: str) -> None:
        """Ask to trash, export-then-trash or delete what is selected."""
        if not self._guard():
            return
        app = self.app
        ids = app.data.selected_ids()
        if not ids:
            app.notify(_("Nothing is selected: Space on a message, a group or a rule "
                         "selects it."), severity="warning")
            return
        selection = actions.Selection(message_ids=ids)
        if kind in ("trash", "export") and app.data.trash_path is None:
            app.notify(_("This account has no Trash folder mailclean recognises."),
                       severity="error")
            return
        p = self._plan("delete" if kind == "delete" else "trash", selection)
        if p is None:
            return
        if kind == "delete" and p.outside_trash:
            app.notify(ngettext(
                "{n} selected message is not in the Trash. mailclean deletes for good only "
                "from the Trash: move it there first (t).",
                "{n} selected messages are not in the Trash. mailclean deletes for good only "
                "from the Trash: move them there first (t).", p.outside_trash).format(
                n=number(p.outside_trash)), severity="error", timeout=8)
            return
        if not p.messages:
            app.notify(_("Nothing to do: the selected messages are already in the Trash."),
                       severity="warning")
            return
        self._confirm(kind, p)

    def empty_trash(self) -> None:
        """Ask to delete for good everything in the Trash."""
        if not self._guard():
            return
        app = self.app
        if app.data.trash_path is None:
            app.notify(_("This account has no Trash folder mailclean recognises."),
                       severity="error")
            return
        selection = actions.Selection(folders=(app.data.trash_path,))
        p = self._plan("delete", selection)
        if p is None:
            return
        if not p.messages:
            app.notify(_("The Trash is already empty."), severity="information")
            return
        self._confirm("empty", p)

    def _plan(self, kind: str, selection: actions.Selection) -> actions.Plan | None:
        """What ``kind`` would do to ``selection``, as the CLI plans it (None: said why)."""
        try:
            return workflows.plan(jobs.workspace(self.app.ctx, self.app.index), kind,
                                  selection)
        except actions.ActionError as exc:
            self.app.notify(str(exc), severity="error")
            return None

    def _plan_lines(self, kind: str, p: actions.Plan) -> list[tuple[str, str]]:
        app = self.app
        evidence = workflows.evidence(jobs.workspace(app.ctx, app.index), p.account_id)
        lines = p.describe(wording.APP, evidence, export=kind == "export")
        if kind == "empty":
            lines.insert(1, ("dim", _("Everything in {trash}.").format(trash=p.target or
                                                                       app.data.trash_path)))
        return lines

    def _confirm(self, kind: str, p: actions.Plan) -> None:
        app = self.app
        titles = {"trash": _("Move to the Trash?"),
                  "export": _("Export, then move to the Trash?"),
                  "delete": _("Delete for good?"), "empty": _("Empty the Trash?")}
        buttons = {"trash": _("Move to Trash"), "export": _("Export and move"),
                   "delete": _("Delete for good"), "empty": _("Empty the Trash")}
        path = None
        if kind == "export":
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            path = str(app.export_dir / f"{app.ctx.account.name}-{stamp}.mbox")
        screen = ConfirmScreen(titles[kind], self._plan_lines(kind, p), buttons[kind],
                               danger=kind in ("delete", "empty"), path=path,
                               path_label=_("Export file (.mbox, or a folder for .eml files):"))

        def answered(answer: str | None) -> None:
            if answer is None:
                return
            export_to = Path(answer).expanduser() if kind == "export" else None
            if export_to is not None:
                export_to.parent.mkdir(parents=True, exist_ok=True)
            cancel = threading.Event()
            app.runner.start(titles[kind].rstrip("?"), cancel, partial(
                jobs.run_action, app.ctx, p, cancel=cancel, export_to=export_to),
                clear_selection=True)

        app.push_screen(screen, answered)

    # -- undo, finish, sync -----------------------------------------------------------

    def undo(self) -> None:
        """Ask to put back the last (or the highlighted) move to the Trash."""
        if not self._guard():
            return
        app = self.app
        action = None
        if app.active_tab == "journal":
            action = app.journal_tab.action()
            if action is not None and action.kind != "trash":
                app.notify(_("Only moves to the Trash can be undone."), severity="warning")
                return
        action = action or app.data.last_undoable()
        if action is None:
            app.notify(_("Nothing to undo: no move to the Trash yet."), severity="warning")
            return
        try:
            p = jobs.undo_plan(app.index, app.ctx, action.id)
        except actions.ActionError as exc:
            app.notify(str(exc), severity="error")
            return
        if not p.items:
            app.notify(_("Nothing to put back: those messages are no longer in the Trash."),
                       severity="warning")
            return
        lines = p.describe(wording.APP)
        lines.insert(1, ("dim", _("Action {id}: moved to the Trash on {when}.").format(
            id=action.id, when=when(action.started_at))))
        action_id = action.id

        def answered(answer: str | None) -> None:
            if answer is None:
                return
            cancel = threading.Event()
            app.runner.start(_("Putting back"), cancel, partial(
                jobs.run_undo, app.ctx, action_id, cancel=cancel))

        app.push_screen(ConfirmScreen(_("Undo the move to the Trash?"), lines, _("Put back")),
                        answered)

    def resume(self) -> None:
        """Finish the highlighted interrupted or cancelled action."""
        if not self._guard():
            return
        app = self.app
        if app.active_tab != "journal":
            return
        action = app.journal_tab.action()
        if action is None or not action.unfinished or action.kind == "export":
            app.notify(_("Highlight an interrupted or cancelled action in the Journal."),
                       severity="warning")
            return
        n, b = action.count("pending", "sent", "copied")
        lines = [("bold", ngettext("Finish action {id} ({kind}): {n} message ({size}) is "
                                   "still to do.",
                                   "Finish action {id} ({kind}): {n} messages ({size}) are "
                                   "still to do.", n).format(
                     id=action.id, kind=kind_label(action.kind), n=number(n), size=size(b))),
                 ("dim", _("Each message is checked on the server again first."))]
        action_id = action.id

        def answered(answer: str | None) -> None:
            if answer is None:
                return
            cancel = threading.Event()
            app.runner.start(_("Finishing action {id}").format(id=action_id), cancel,
                             partial(jobs.run_resume, app.ctx, action_id, cancel=cancel))

        app.push_screen(ConfirmScreen(_("Finish the action?"), lines, _("Finish it")),
                        answered)

    def sync(self) -> None:
        """Sync the account with its server, with progress, then reload."""
        app = self.app
        if app.busy:
            app.notify(_("Wait for the current task to end."), severity="warning")
            return
        app.runner.start(_("Syncing {account}").format(account=app.ctx.account.name), None,
                         partial(jobs.run_sync, app.ctx))
