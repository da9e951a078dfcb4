"""The Journal tab: every action of the account, newest first, and the highlighted one in
detail (what was planned, done, skipped, what is left to finish)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from mailclean.i18n import _, ngettext, number, size, when
from mailclean.index.journal import ActionRow
from mailclean.safetext import plain
from mailclean.tui.text import N_
from mailclean.tui.widgets.columns import Column
from mailclean.tui.widgets.table import ListSource, VirtualTable

_KINDS = {"trash": N_("to Trash"), "delete": N_("deleted"), "export": N_("export"),
          "undo": N_("undo")}
_STATES = {"running": N_("running"), "done": N_("done"), "partial": N_("done, some skipped"),
           "interrupted": N_("interrupted"), "cancelled": N_("cancelled"),
           "failed": N_("failed"), "undone": N_("undone")}


def kind_label(kind: str) -> str:
    """What an action of ``kind`` did, in the reader's language ("to Trash", ...)."""
    return _(_KINDS.get(kind, kind))


def state_label(state: str) -> str:
    """How an action in ``state`` ended, in the reader's language."""
    return _(_STATES.get(state, state))


def _columns() -> list[Column]:
    # The detail pane below repeats what the dropped columns held.
    return [Column("#", 4, "right", numeric=True), Column(_("When"), 16),
            Column(_("Action"), 12, min_width=8), Column(_("State"), 20, min_width=18),
            Column(_("Messages"), 9, "right", numeric=True),
            Column(_("Size"), 10, "right", numeric=True),
            Column(_("Skipped"), 8, "right", numeric=True, drop=1),
            Column(_("Target"), min_width=10, drop=2)]


def _cells(a: ActionRow) -> tuple[list[str], str]:
    done, b = a.count("done")
    return ([str(a.id), when(a.started_at), kind_label(a.kind), state_label(a.state),
             number(done), size(b), number(a.count("skipped", "failed")[0]), plain(a.target)],
            "dim" if a.state == "undone" else "")


class JournalTab(Vertical):
    """The Journal tab: the actions' table, then the highlighted action."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[ActionRow] = []

    def compose(self) -> ComposeResult:
        """The table of actions over the detail pane."""
        table = VirtualTable(_columns(), id="journal-table", classes="pane",
                             empty=_("No action yet: what you clean is recorded here."))
        table.border_title = _("Every action, newest first")
        table.border_subtitle = _("u: undo · r: finish an interrupted action")
        yield table
        detail = Static("", id="journal-detail", classes="pane")
        detail.border_title = _("Action")
        yield detail

    @property
    def table(self) -> VirtualTable:
        """The table of actions."""
        return self.query_one("#journal-table", VirtualTable)

    def show(self, rows: list[ActionRow]) -> None:
        """Show ``rows`` (newest first), the cursor where it was."""
        self.rows = rows
        table = self.table
        table.set_source(ListSource(rows, _cells), cursor=table.cursor, keep_scroll=True)
        self._show_detail()

    def action(self) -> ActionRow | None:
        """The action under the cursor."""
        if not self.rows:
            return None
        return self.rows[min(self.table.cursor, len(self.rows) - 1)]

    @on(VirtualTable.Highlighted, "#journal-table")
    def _highlighted(self, event: VirtualTable.Highlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        widget = self.query_one("#journal-detail", Static)
        a = self.action()
        widget.update(_detail(a) if a is not None else "")


def _detail(a: ActionRow) -> Table:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    grid.add_row(_("Action"), f"{a.id} · {kind_label(a.kind)} · {state_label(a.state)}")
    grid.add_row(_("Started"), when(a.started_at))
    grid.add_row(_("Finished"), when(a.finished_at))
    grid.add_row(_("Planned"), ngettext("{n} message, {size}", "{n} messages, {size}",
                                        a.planned_messages).format(
        n=number(a.planned_messages), size=size(a.planned_bytes)))
    done, b = a.count("done")
    grid.add_row(_("Done"), ngettext("{n} message, {size}", "{n} messages, {size}",
                                     done).format(n=number(done), size=size(b)))
    skipped, skipped_bytes = a.count("skipped", "failed")
    if skipped:
        grid.add_row(_("Skipped"), ngettext(
            "{n} message, {size}", "{n} messages, {size}", skipped).format(
            n=number(skipped), size=size(skipped_bytes)))
    if a.target:
        grid.add_row(_("Target"), Text(plain(a.target)))
    if a.unfinished:
        grid.add_row(_("Left"), Text(ngettext(
            "{n} message: press r to finish", "{n} messages: press r to finish",
            a.unfinished).format(n=number(a.unfinished)), style="yellow"))
    if a.error:
        grid.add_row(_("Note"), Text(plain(a.error, one_line=False), style="yellow"))
    return grid
