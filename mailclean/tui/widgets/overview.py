"""The Overview tab (the mailbox's size and quota, what is worth cleaning, what was freed,
the volume by folder) and the title bar above the tabs."""

from __future__ import annotations

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Static

from mailclean.i18n import _, ngettext, number, percent, role, size, when
from mailclean.safetext import plain
from mailclean.tui.data import Overview
from mailclean.tui.widgets.columns import Cell, Column, PlannedTable, bar
from mailclean.tui.widgets.journal import kind_label
from mailclean.tui.widgets.rules import RuleHint, rule_columns, rule_source
from mailclean.tui.widgets.table import VirtualTable


class TitleBar(Static):
    """The line above the tabs: the account, its size, its address."""

    def __init__(self) -> None:
        super().__init__("", id="titlebar")

    def show(self, ov: Overview, account: str, indexed: bool) -> None:
        """The account's figures from ``ov`` (none before a first sync)."""
        text = Text("mailclean", style="bold")
        text.append(f"  {plain(account)}", style="bold")
        if indexed:
            text.append("  ·  " + ngettext("{n} message, {size}", "{n} messages, {size}",
                                           ov.messages).format(
                n=number(ov.messages), size=size(ov.bytes)))
        # Last: on a narrow screen the line is cut at its end, never in the figures.
        if ov.address:
            text.append(f"  <{plain(ov.address)}>")
        self.update(text)


class OverviewTab(VerticalScroll):
    """The Overview tab: a head of figures, the rules as bars (Enter reviews one), what
    was freed, the volume by folder."""

    def __init__(self) -> None:
        super().__init__(id="overview-body")

    def compose(self) -> ComposeResult:
        """The head, then the rules and freed panes beside the folders pane."""
        yield Static(_("Reading the index…"), id="ov-head")
        with Horizontal(id="ov-columns"):
            with Vertical(id="ov-left"):
                rules = VirtualTable(rule_columns(), id="ov-rules", classes="pane")
                rules.border_title = _("What is worth cleaning")
                rules.border_subtitle = _("Enter: review")
                yield rules
                freed = Static("", id="ov-freed", classes="pane")
                freed.border_title = _("Freed so far")
                yield freed
            folders = Static("", id="ov-folders", classes="pane")
            folders.border_title = _("Volume by folder")
            with Vertical(id="ov-right"):
                yield folders

    @property
    def rules(self) -> VirtualTable:
        """The rules table."""
        return self.query_one("#ov-rules", VirtualTable)

    def show(self, ov: Overview, indexed: bool, hint: RuleHint) -> None:
        """Everything from ``ov``; ``hint`` marks the rules the selection covers."""
        self.query_one("#ov-head", Static).update(_head(ov, indexed))
        self.query_one("#ov-folders", Static).update(_folders_table(ov))
        self.query_one("#ov-freed", Static).update(_freed_table(ov))
        biggest = max((r.bytes for r in ov.rules), default=0) or 1
        table = self.rules
        table.set_columns(rule_columns(longest=max(
            (cell_len(plain(r.title)) for r in ov.rules), default=0)))
        table.set_source(rule_source(ov.rules, hint, biggest), cursor=table.cursor,
                         keep_scroll=True)


def _head(ov: Overview, indexed: bool) -> Head:
    if not indexed:
        return Head([(_("Not synced yet"), Text(
            _("This account has never been read. Press R to sync it now: mailclean reads "
              "headers and sizes only, never your messages' text.")), None)])
    rows: list[tuple[str | Text, Text, tuple[float, str] | None]] = []
    rows.append((_("Mailbox"), Text(ngettext(
        "{n} message, {size}", "{n} messages, {size}", ov.messages).format(
        n=number(ov.messages), size=size(ov.bytes))), None))
    if ov.quota_limit:
        share = (ov.quota_used or 0) / ov.quota_limit
        rows.append((_("Server quota"), Text(_("{used} of {limit} used ({pct})").format(
            used=size(ov.quota_used), limit=size(ov.quota_limit), pct=percent(share))),
            (share, "red" if share > 0.9 else "yellow" if share > 0.7 else "green")))
    else:
        rows.append((_("Server quota"), Text(_("not reported by the server")), None))
    share = ov.reclaimable_bytes / (ov.bytes or 1)
    rows.append((_("Worth cleaning"), Text(ngettext(
        "{n} message, {size} ({pct} of the mailbox)",
        "{n} messages, {size} ({pct} of the mailbox)", ov.reclaimable_messages).format(
        n=number(ov.reclaimable_messages), size=size(ov.reclaimable_bytes),
        pct=percent(share))), (share, "cyan")))
    rows.append((_("Last sync"), Text(when(ov.synced_at)), None))
    for a in ov.interrupted:
        rows.append((Text(_("Unfinished"), style="yellow"), Text(
            ngettext("action {id} ({kind}) stopped with {n} message left: see the Journal (3)",
                     "action {id} ({kind}) stopped with {n} messages left: see the Journal "
                     "(3)", a.unfinished)
            .format(id=a.id, kind=kind_label(a.kind), n=number(a.unfinished)),
            style="yellow"), None))
    rows.append(("", Text(_("Enter on a rule to review it; ? lists every key."),
                          style="dim"), None))
    return Head(rows)


def _folders_table(ov: Overview) -> PlannedTable:
    # Folder names are what tells "Archives/2019" from "Archives/2021": they keep up to
    # 22 cells before the bars, then the roles, give way.
    longest = max((len(plain(f["name"])) for f in ov.folders), default=0)
    columns = [Column(_("Folder"), min_width=max(8, min(longest, 22))),
               Column(_("Role"), 12, min_width=6, drop=2),
               Column(_("Msgs"), 5, "right", numeric=True),
               Column(_("Size"), 9, "right", numeric=True),
               Column("", 8, drop=1)]
    biggest = max((f["bytes"] for f in ov.folders), default=0) or 1
    rows: list[list[Cell]] = [
        [plain(f["name"]), role(f["role"]), number(f["messages"]), size(f["bytes"]),
         (bar(f["bytes"] / biggest, 8), "blue")] for f in ov.folders]
    return PlannedTable(columns, rows, header_style="bold")


def _freed_table(ov: Overview) -> Table:
    t, a = ov.freed_today, ov.freed_total
    keys = ("deleted_bytes", "trashed_bytes", "still_in_trash_bytes", "exported_bytes",
            "restored_bytes")
    today = [size(t[k]) for k in keys]
    total = [size(a[k]) for k in keys]
    table = Table(box=None, expand=True, padding=(0, 1), show_edge=False)
    # The labels wrap when the width runs short; the sizes never do.
    table.add_column("", ratio=3)
    table.add_column(_("Today"), justify="right", no_wrap=True,
                     min_width=max(len(v) for v in today))
    table.add_column(_("In total"), justify="right", no_wrap=True,
                     min_width=max(len(v) for v in total))
    labels = [Text(_("Freed on the server (deleted for good)"), style="green"),
              Text(_("Moved to the Trash")),
              Text(_("  of which still in the Trash (not freed yet)"), style="yellow"),
              Text(_("Exported to files")), Text(_("Put back (undo)"))]
    for label, day, all_ in zip(labels, today, total, strict=True):
        table.add_row(label, day, all_)
    return table


class Head:
    """The overview's head: a label per line, then (for shares) a bar as wide as the line
    leaves room for, then the figures; at any width the figures come whole."""

    def __init__(self, rows: list[tuple[str | Text, Text, tuple[float, str] | None]]) -> None:
        self.rows = rows

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """A grid of the rows for the width given."""
        labels = [r[0] if isinstance(r[0], Text) else Text(r[0]) for r in self.rows]
        room = options.max_width - max((t.cell_len for t in labels), default=0) - 2
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column()
        for label, (_label, value, share) in zip(labels, self.rows, strict=True):
            if share is not None:
                width = min(30, room - value.cell_len - 2)
                if width >= 8:
                    value = Text.assemble((bar(share[0], width), share[1]), "  ", value)
            grid.add_row(label, value)
        yield grid


__all__ = ["Head", "OverviewTab", "TitleBar"]
