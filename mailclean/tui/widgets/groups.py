"""The groups pane of the Review tab: a rule's senders, lists, conversations or folders,
with a filter field above them."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input

from mailclean.i18n import _, number, size
from mailclean.safetext import plain
from mailclean.tui.data import GroupList, RuleFigures
from mailclean.tui.widgets.columns import Column
from mailclean.tui.widgets.table import ListSource, VirtualTable
from mailclean.tui.widgets.titles import safe


class GroupSource:
    """Adapts a GroupList to the table: cells and selection marks."""

    def __init__(self, groups: GroupList) -> None:
        self.groups = groups

    def __len__(self) -> int:
        return len(self.groups)

    def cells(self, index: int) -> tuple[list[str], str]:
        """Label, messages, size (and unsubscribe for bulk mail)."""
        g = self.groups.row(index)
        hint = ""
        if g.selected and g.selected >= g.messages:
            hint = "selected"
        elif g.selected:
            hint = "partial"
        cells = [plain(g.label), number(g.messages), size(g.bytes)]
        if self.groups.bulk:
            cells.append(short_unsubscribe(g.unsubscribe))
        return cells, hint


def short_unsubscribe(method: str | None) -> str:
    """A group's unsubscribe method in one word, for its column."""
    return {"one-click": _("one-click"), "https": _("link"), "mailto": _("e-mail"),
            "none": _("none")}.get(method or "", "")


def group_columns(bulk: bool) -> list[Column]:
    """Group, messages, size (and how to unsubscribe, for bulk mail)."""
    cols = [Column(_("Group"), sort="name", min_width=16),
            Column(_("Msgs"), 6, "right", sort="count", numeric=True),
            Column(_("Size"), 9, "right", sort="size", numeric=True)]
    if bulk:
        cols.append(Column(_("Unsub."), 9, drop=1))
    return cols


class GroupsPane(Vertical):
    """A rule's groups: the first line stands for the whole rule."""

    def __init__(self) -> None:
        super().__init__(id="groups-pane", classes="pane")

    def compose(self) -> ComposeResult:
        """The filter field (shown by /) over the table."""
        yield Input(placeholder=_("filter groups…"), id="group-filter", classes="filter")
        yield VirtualTable(group_columns(False), id="groups", empty=_("Nothing left here."))

    @property
    def table(self) -> VirtualTable:
        """The groups' table."""
        return self.query_one("#groups", VirtualTable)

    @property
    def field(self) -> Input:
        """The filter field."""
        return self.query_one("#group-filter", Input)

    def clear(self) -> None:
        """No rule to show."""
        self.table.set_source(ListSource([], lambda x: ([], "")))
        self.border_title = _("Groups")

    def counting(self, rule: RuleFigures) -> None:
        """The rule's groups are being counted (in a worker)."""
        table = self.table
        table.set_source(ListSource([], lambda x: ([], "")))
        table.empty = _("Counting the groups…")
        self.border_title = safe(rule.title)

    def show(self, rule: RuleFigures, groups: GroupList, cursor: int, keep_scroll: bool,
             subtitle: Text) -> None:
        """Show ``groups``, the cursor on line ``cursor``; ``subtitle``: the filter and
        order."""
        table = self.table
        table.empty = _("Nothing left here.")
        table.set_columns(group_columns(groups.bulk))
        table.set_source(GroupSource(groups), cursor=cursor, keep_scroll=keep_scroll)
        by = {"sender": _("by sender"), "list": _("by list or sender"),
              "thread": _("by conversation"), "folder": _("by folder"),
              "domain": _("by domain")}.get(rule.group_by, rule.group_by)
        self.border_title = safe(f"{rule.title} · {by}")
        self.border_subtitle = subtitle
