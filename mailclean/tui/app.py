"""The review app: where the volume is, bulk selection, cleaning, the journal.

Three tabs: **Overview** (size, quota, folders, rules as bars, freed so far), **Review**
(rules → groups → messages with details; select and clean), **Journal** (every action;
undo, finish an interrupted one). Everything slow (scan, sync, actions) runs in a worker
thread of its own (see :mod:`mailclean.tui.jobs`); the main thread only reads the index.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text
from textual import events, on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Input, Static, TabbedContent, TabPane

from mailclean import actions, wording, workflows
from mailclean import config as cfg
from mailclean.connectors.base import ConnectorError
from mailclean.i18n import _, ngettext, number, percent, role, size, when
from mailclean.index import Index
from mailclean.index.journal import ActionRow
from mailclean.rules import RuleError
from mailclean.safetext import plain
from mailclean.tui import jobs
from mailclean.tui.data import (
    GROUP_SORTS,
    SORTS,
    GroupList,
    GroupRows,
    MessageList,
    Overview,
    ReviewData,
    RuleFigures,
    sort_label,
)
from mailclean.tui.screens import ConfirmScreen, HelpScreen, PasswordScreen, ProgressScreen
from mailclean.tui.text import N_, TranslatedBindings, key_name
from mailclean.tui.widgets import Cell, Column, ListSource, PlannedTable, VirtualTable, bar, fit

#: Rules flagging more messages than this have their groups counted in a worker thread.
BIG_RULE = 50_000
#: Under this width (in cells) the overview's panes are stacked instead of side by side.
NARROW = 120
#: Under this height (in lines) the details pane is shorter.
SHORT = 30

_KINDS = {"trash": N_("to Trash"), "delete": N_("deleted"), "export": N_("export"),
          "undo": N_("undo")}
_STATES = {"running": N_("running"), "done": N_("done"), "partial": N_("done, some skipped"),
           "interrupted": N_("interrupted"), "cancelled": N_("cancelled"),
           "failed": N_("failed"), "undone": N_("undone")}


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
            cells.append(_short_unsubscribe(g.unsubscribe))
        return cells, hint


class MessageSource:
    """Adapts a MessageList to the table."""

    def __init__(self, messages: MessageList) -> None:
        self.messages = messages

    def __len__(self) -> int:
        return len(self.messages)

    def cells(self, index: int) -> tuple[list[str], str]:
        """Date, sender, subject, folder, attachments, size."""
        m = self.messages.row(index)
        return ([m.date, plain(m.sender), plain(m.subject), plain(m.folder),
                 number(m.attachments) if m.attachments else "", size(m.size)],
                "selected" if m.selected else "")


def _short_unsubscribe(method: str | None) -> str:
    return {"one-click": _("one-click"), "https": _("link"), "mailto": _("e-mail"),
            "none": _("none")}.get(method or "", "")


class MainScreen(TranslatedBindings, Screen[None]):
    """The screen under every dialog: its keys are inactive while a dialog is open."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "app.help", N_("Help"), key_display="?"),
        Binding("1", "app.tab('overview')", N_("Overview"), show=False),
        Binding("2", "app.tab('review')", N_("Review"), show=False),
        Binding("3", "app.tab('journal')", N_("Journal"), show=False),
        Binding("t", "app.clean('trash')", N_("Trash")),
        Binding("e", "app.clean('export')", N_("Export+Trash")),
        Binding("D", "app.clean('delete')", N_("Delete"), key_display="D"),
        Binding("X", "app.empty_trash", N_("Empty Trash"), key_display="X"),
        Binding("u", "app.undo", N_("Undo")),
        Binding("R", "app.sync", N_("Sync"), key_display="R"),
        Binding("a", "app.select_all", N_("Select all"), show=False),
        Binding("c", "app.clear_selection", N_("Clear selection"), show=False),
        Binding("slash", "app.filter", N_("Filter"), show=False),
        Binding("s", "app.sort", N_("Sort"), show=False),
        Binding("left", "app.pane(-1)", N_("Previous pane"), show=False),
        Binding("right", "app.pane(1)", N_("Next pane"), show=False),
        Binding("escape", "app.clear_filter", N_("Clear filter"), show=False),
        Binding("r", "app.resume", N_("Finish action"), show=False),
        Binding("q", "app.quit", N_("Quit")),
    ]

    def compose(self) -> ComposeResult:
        """The app's layout."""
        app = self.app
        assert isinstance(app, ReviewApp)
        yield from app.compose_main()

    def on_mount(self) -> None:
        """Fill the screen from the index."""
        self._fit(self.size.width, self.size.height)
        app = self.app
        assert isinstance(app, ReviewApp)
        app.started()

    def on_resize(self, event: events.Resize) -> None:
        """Narrow or short terminals get another layout."""
        self._fit(event.size.width, event.size.height)

    def _fit(self, width: int, height: int) -> None:
        # Under NARROW cells the overview's panes are stacked; under SHORT lines the
        # details pane gives lines to the message list.
        self.set_class(width < NARROW, "narrow")
        self.set_class(height < SHORT, "short")


class ReviewApp(App[None]):
    """mailclean's review app for one account."""

    CSS_PATH = "app.tcss"
    ENABLE_COMMAND_PALETTE = False
    TITLE = "mailclean"

    def __init__(
        self,
        ctx: jobs.Context,
        *,
        export_dir: Path | None = None,
        ask_password: bool = True,
    ) -> None:
        super().__init__()
        self.ctx = ctx
        self.index = Index(ctx.index_path)
        self.data = ReviewData(self.index, ctx.account.name, ctx.rules, ctx.protection)
        self.export_dir = export_dir or Path.home() / "mailclean-exports"
        self.rule_figures: list[RuleFigures] = []
        self.group_list: GroupList | None = None
        self.message_list: MessageList | None = None
        self.group_filter = ""
        self.message_filter = ""
        self.group_sort = "size"
        self.message_sort = "size"
        self.busy = False
        self.ready = False
        self._debounced: dict[str, Timer] = {}
        self._password: str | None = None
        self._groups_generation = 0
        self._groups_rule: str | None = None
        self._ask_password = ask_password
        self.last_result: jobs.JobResult | None = None
        self.last_error: str | None = None
        self._rule_marks: dict[str, int] | None = None

    def notify(self, message: str, *, title: str = "", severity: Any = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """A notification, never read as markup: error texts quote the server, folder and
        file names."""
        super().notify(plain(message, one_line=False), title=plain(title), severity=severity,
                       timeout=timeout, markup=False)

    def get_key_display(self, binding: Binding) -> str:
        """Keys in the footer as people call them, in their language ("Space", "Espace")."""
        return binding.key_display or key_name(binding.key)

    # -- layout -----------------------------------------------------------------------

    def get_default_screen(self) -> Screen:
        """The main screen (keys live there, so dialogs mask them)."""
        self.main = MainScreen()
        return self.main

    def compose_main(self) -> ComposeResult:
        """Title bar, the three tabs, the selection bar, the footer."""
        yield Static("", id="titlebar")
        with TabbedContent(initial="overview"):
            with TabPane(_("1 Overview"), id="overview"), \
                    VerticalScroll(id="overview-body"):
                yield Static(_("Reading the index…"), id="ov-head")
                with Horizontal(id="ov-columns"):
                    with Vertical(id="ov-left"):
                        rules = VirtualTable(self._rule_columns(), id="ov-rules",
                                             classes="pane")
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
            with TabPane(_("2 Review"), id="review"), Horizontal():
                with Vertical(id="review-left"):
                    rules = VirtualTable(self._rule_columns(bars=False), id="rules",
                                         classes="pane")
                    rules.border_title = _("Rules")
                    yield rules
                    with Vertical(id="groups-pane", classes="pane"):
                        yield Input(placeholder=_("filter groups…"), id="group-filter",
                                    classes="filter")
                        yield VirtualTable(self._group_columns(False), id="groups",
                                           empty=_("Nothing left here."))
                with Vertical(id="review-right"):
                    with _TitledPane(id="messages-pane", classes="pane"):
                        yield Input(placeholder=_("filter messages by sender or subject…"),
                                    id="message-filter", classes="filter")
                        yield VirtualTable(self._message_columns(), id="messages",
                                           empty=_("No message here."))
                    details = Static("", id="details", classes="pane")
                    details.border_title = _("Details")
                    yield details
            with TabPane(_("3 Journal"), id="journal"), Vertical():
                table = VirtualTable(self._journal_columns(), id="journal-table",
                                     classes="pane",
                                     empty=_("No action yet: what you clean is recorded "
                                             "here."))
                table.border_title = _("Every action, newest first")
                table.border_subtitle = _("u: undo · r: finish an interrupted action")
                yield table
                detail = Static("", id="journal-detail", classes="pane")
                detail.border_title = _("Action")
                yield detail
        yield Static("", id="selection-bar", markup=False)
        yield Footer()

    # When the width runs short, names are shortened first, then the columns with a
    # ``drop`` rank go (highest first); numbers are never cut (see plan_widths).

    def _rule_columns(self, bars: bool = True, longest: int = 0) -> list[Column]:
        # With bars, the titles keep up to 30 cells before the bars give way.
        cols = [Column(_("Rule"), min_width=max(16, min(longest, 30) if bars else 0)),
                Column(_("Msgs"), 7, "right", numeric=True),
                Column(_("Size"), 9, "right", numeric=True)]
        return [*cols, Column("", 10, drop=1)] if bars else cols

    def _group_columns(self, bulk: bool) -> list[Column]:
        cols = [Column(_("Group"), sort="name", min_width=16),
                Column(_("Msgs"), 6, "right", sort="count", numeric=True),
                Column(_("Size"), 9, "right", sort="size", numeric=True)]
        if bulk:
            cols.append(Column(_("Unsub."), 9, drop=1))
        return cols

    def _message_columns(self) -> list[Column]:
        return [Column(_("Date"), 10, sort="date-asc", drop=2),
                Column(_("From"), 18, min_width=10, drop=1),
                Column(_("Subject"), sort=None, min_width=16),
                Column(_("Folder"), 14, min_width=8, drop=4),
                Column(_("Att."), 4, "right", numeric=True, drop=5),
                Column(_("Size"), 9, "right", sort="size", numeric=True)]

    def _journal_columns(self) -> list[Column]:
        # The detail pane below repeats what the dropped columns held.
        return [Column("#", 4, "right", numeric=True), Column(_("When"), 16),
                Column(_("Action"), 12, min_width=8), Column(_("State"), 20, min_width=18),
                Column(_("Messages"), 9, "right", numeric=True),
                Column(_("Size"), 10, "right", numeric=True),
                Column(_("Skipped"), 8, "right", numeric=True, drop=1),
                Column(_("Target"), min_width=10, drop=2)]

    # -- start ------------------------------------------------------------------------

    def started(self) -> None:
        """Show what the index holds, then scan in the background (the screen is ready)."""
        main = self.main
        main.query_one("#messages", VirtualTable).on_toggle = self._message_toggled
        main.query_one("#groups", VirtualTable).on_toggle = self._group_toggled
        main.query_one("#rules", VirtualTable).on_toggle = self._rule_toggled
        main.query_one("#ov-rules", VirtualTable).on_toggle = self._rule_toggled
        self.title = f"mailclean · {plain(self.ctx.account.name)}"
        self._update_selection_bar()
        self.main.query_one("#ov-rules", VirtualTable).focus()
        if not self.data.indexed:
            self._refresh_overview()
            self.ready = True
            return
        actions.mark_interrupted(self.index, self.data.account_id)
        self.run_worker(self._scan_job, thread=True, group="scan", exit_on_error=False)

    def _scan_job(self) -> None:
        try:
            jobs.run_scan(self.ctx)
        except (RuleError, OSError) as exc:  # pragma: no cover - shown, not raised
            self.call_from_thread(self.notify, str(exc), severity="error")
        self.call_from_thread(self.reload_all)

    def reload_all(self, keep_cursor: bool = True) -> None:
        """Read everything again from the index (after a scan, sync or action).

        The overview's figures (sums over every message) are computed in a worker thread
        on a connection of its own; the lists follow when they are ready.
        """
        self.data.reload()
        self.data.prune_selection()
        self._update_selection_bar()
        self.run_worker(partial(self._overview_job, keep_cursor), thread=True,
                        group="overview", exit_on_error=False)

    def _overview_job(self, keep_cursor: bool) -> None:
        index = Index(self.ctx.index_path)
        try:
            data = ReviewData(index, self.ctx.account.name, self.ctx.rules,
                              self.ctx.protection)
            overview = data.overview()
        finally:
            index.close()
        self.call_from_thread(self._apply_overview, overview, keep_cursor)

    def _apply_overview(self, ov: Overview, keep_cursor: bool) -> None:
        self._refresh_overview(ov)
        self._load_rules(keep_cursor=keep_cursor)
        self._load_journal()
        self._update_selection_bar()
        self.ready = True

    # -- overview ---------------------------------------------------------------------

    def _refresh_overview(self, ov: Overview | None = None) -> None:
        ov = ov or self.data.overview()
        self.main.query_one("#titlebar", Static).update(self._title_text(ov))
        self.main.query_one("#ov-head", Static).update(self._overview_head(ov))
        self.main.query_one("#ov-folders", Static).update(self._folders_table(ov))
        self.main.query_one("#ov-freed", Static).update(self._freed_table(ov))
        self.rule_figures = ov.rules
        self._rule_marks = None
        biggest = max((r.bytes for r in ov.rules), default=0) or 1
        table = self.main.query_one("#ov-rules", VirtualTable)
        table.set_columns(self._rule_columns(longest=max(
            (cell_len(plain(r.title)) for r in ov.rules), default=0)))
        table.set_source(ListSource(ov.rules, lambda r: (
            [plain(r.title), number(r.messages), size(r.bytes), bar(r.bytes / biggest, 10)],
            self._rule_hint(r))), cursor=table.cursor, keep_scroll=True)

    def _title_text(self, ov: Overview) -> Text:
        text = Text("mailclean", style="bold")
        text.append(f"  {plain(self.ctx.account.name)}", style="bold")
        if self.data.indexed:
            text.append("  ·  " + ngettext("{n} message, {size}", "{n} messages, {size}",
                                           ov.messages).format(
                n=number(ov.messages), size=size(ov.bytes)))
        # Last: on a narrow screen the line is cut at its end, never in the figures.
        if ov.address:
            text.append(f"  <{plain(ov.address)}>")
        return text

    def _overview_head(self, ov: Overview) -> _Head:
        if not self.data.indexed:
            return _Head([(_("Not synced yet"), Text(
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
                .format(id=a.id, kind=_(_KINDS.get(a.kind, a.kind)), n=number(a.unfinished)),
                style="yellow"), None))
        rows.append(("", Text(_("Enter on a rule to review it; ? lists every key."),
                              style="dim"), None))
        return _Head(rows)

    def _folders_table(self, ov: Overview) -> PlannedTable:
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

    def _freed_table(self, ov: Overview) -> Table:
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

    # -- review: rules ----------------------------------------------------------------

    def _rule_hint(self, rule: RuleFigures) -> str:
        """"selected" when all of the rule is selected, "partial" when some of it is."""
        if self._rule_marks is None:
            self._rule_marks = self.data.selected_per_rule()
        n = self._rule_marks.get(rule.name, 0)
        if not n:
            return ""
        return "selected" if n >= rule.messages else "partial"

    def _load_rules(self, keep_cursor: bool = True) -> None:
        table = self.main.query_one("#rules", VirtualTable)
        figures = self.rule_figures
        cursor = table.cursor if keep_cursor else 0
        table.set_source(ListSource(figures, lambda r: (
            [plain(r.title), number(r.messages), size(r.bytes)], self._rule_hint(r))),
            cursor=cursor, keep_scroll=keep_cursor)
        self._load_groups(keep_cursor=keep_cursor)

    @property
    def rule(self) -> RuleFigures | None:
        """The rule under the cursor of the Rules pane."""
        table = self.main.query_one("#rules", VirtualTable)
        if not self.rule_figures:
            return None
        return self.rule_figures[min(table.cursor, len(self.rule_figures) - 1)]

    @on(VirtualTable.Highlighted, "#rules")
    def _rule_highlighted(self, event: VirtualTable.Highlighted) -> None:
        if self.rule is not None and self.rule.name != self._groups_rule:
            self.group_filter = ""
            self._hide_filter("#group-filter")
            self._load_groups(keep_cursor=False)

    @on(VirtualTable.Activated, "#rules")
    def _rule_activated(self, event: VirtualTable.Activated) -> None:
        self.main.query_one("#groups", VirtualTable).focus()

    @on(VirtualTable.Activated, "#ov-rules")
    def _overview_rule_activated(self, event: VirtualTable.Activated) -> None:
        self.open_rule(event.index)

    def open_rule(self, index: int) -> None:
        """Show rule number ``index`` in the Review tab, its groups focused."""
        self.main.query_one(TabbedContent).active = "review"
        self.main.query_one("#rules", VirtualTable).move_to(index)
        self.main.query_one("#groups", VirtualTable).focus()

    # -- review: groups ---------------------------------------------------------------

    def _load_groups(self, keep_cursor: bool = True) -> None:
        table = self.main.query_one("#groups", VirtualTable)
        pane = self.main.query_one("#groups-pane")
        rule = self.rule
        if rule is None or not self.data.indexed:
            self._groups_rule = None
            self.group_list = None
            table.set_source(ListSource([], lambda x: ([], "")))
            pane.border_title = _("Groups")
            self._load_messages()
            return
        cursor = table.cursor if keep_cursor else 0
        self._groups_generation += 1
        self._groups_rule = rule.name
        if rule.messages > BIG_RULE:
            # Grouping hundreds of thousands of hits takes a moment: the rule's messages
            # show at once, its groups when a worker has counted them.
            self.group_list = None
            table.set_source(ListSource([], lambda x: ([], "")))
            table.empty = _("Counting the groups…")
            pane.border_title = _safe(rule.title)
            self._load_messages(target=(rule.name, None, True, rule.title))
            sql, args = GroupList.query(self.data, rule.name, self.group_filter,
                                        self.group_sort)
            self.run_worker(partial(self._groups_job, self._groups_generation, rule,
                                    self.group_filter, self.group_sort, sql, args, cursor),
                            thread=True, group="groups", exit_on_error=False)
            return
        self._show_groups(rule, GroupList(self.data, rule.name, self.group_filter,
                                          self.group_sort), cursor, keep_cursor)
        self._load_messages(keep_cursor=keep_cursor)

    def _groups_job(self, generation: int, rule: RuleFigures, text: str, sort: str, sql: str,
                    args: list[Any], cursor: int) -> None:
        conn = sqlite3.connect(f"file:{self.ctx.index_path}?mode=ro", uri=True)
        try:
            rows = GroupRows.fetch(conn, sql, args)
        finally:
            conn.close()

        def show() -> None:
            if generation != self._groups_generation:
                return  # another rule, filter or order was chosen meanwhile
            groups = GroupList(self.data, rule.name, text, sort, rows=rows)
            self._show_groups(rule, groups, cursor, keep_scroll=cursor != 0)
            if cursor:
                self._load_messages(keep_cursor=True)

        self.call_from_thread(show)

    def _show_groups(self, rule: RuleFigures, groups: GroupList, cursor: int,
                     keep_scroll: bool) -> None:
        table = self.main.query_one("#groups", VirtualTable)
        pane = self.main.query_one("#groups-pane")
        self.group_list = groups
        table.empty = _("Nothing left here.")
        table.set_columns(self._group_columns(groups.bulk))
        table.set_source(GroupSource(groups), cursor=cursor, keep_scroll=keep_scroll)
        by = {"sender": _("by sender"), "list": _("by list or sender"),
              "thread": _("by conversation"), "folder": _("by folder"),
              "domain": _("by domain")}.get(rule.group_by, rule.group_by)
        pane.border_title = _safe(f"{rule.title} · {by}")
        pane.border_subtitle = self._filter_subtitle(self.group_filter, self.group_sort)

    def _filter_subtitle(self, text: str, sort: str) -> Text:
        parts = [sort_label(sort)]
        if text:
            parts.insert(0, _("filter: {text}").format(text=text))
        return _safe(" · ".join(parts))

    @on(VirtualTable.Highlighted, "#groups")
    def _group_highlighted(self, event: VirtualTable.Highlighted) -> None:
        if self.group_list is None:
            return  # still being counted: the rule's messages are showing
        current = self.message_list
        if current is not None and self.group_list is not None and \
                current.rule == self.group_list.rule:
            row = self._group_row(event.index)
            if row is not None and (row.everything, row.key) == (current.everything,
                                                                 current.group):
                return
        self._debounce("messages", 0.12, self._load_messages)

    @on(VirtualTable.Activated, "#groups")
    def _group_activated(self, event: VirtualTable.Activated) -> None:
        self._load_messages()
        self.main.query_one("#messages", VirtualTable).focus()

    def _group_row(self, index: int | None = None) -> Any:
        if self.group_list is None or not len(self.group_list):
            return None
        table = self.main.query_one("#groups", VirtualTable)
        i = table.cursor if index is None else index
        return self.group_list.row(min(i, len(self.group_list) - 1))

    # -- review: messages -------------------------------------------------------------

    def _load_messages(self, keep_cursor: bool = False,
                       target: tuple[str, str | None, bool, str] | None = None) -> None:
        """Show the messages of ``target`` (rule, group, whole rule?, title), by default
        those of the group under the cursor."""
        self._cancel_timer("messages")
        table = self.main.query_one("#messages", VirtualTable)
        pane = self.main.query_one("#messages-pane")
        row = self._group_row()
        if target is None and row is not None and self.group_list is not None:
            title = row.label if not row.everything else (self.rule.title if self.rule
                                                          else "")
            target = (self.group_list.rule, row.key, row.everything, title)
        if target is None:
            self.message_list = None
            table.set_source(ListSource([], lambda x: ([], "")))
            assert isinstance(pane, _TitledPane)
            pane.set_title(_("Messages"), lambda name: name)
            pane.border_subtitle = ""
            self._show_details()
            return
        cursor = table.cursor if keep_cursor else 0
        rule_name, key, everything, title = target
        self.message_list = self.data.messages(rule_name, key, everything,
                                               self.message_filter, self.message_sort)
        table.set_source(MessageSource(self.message_list), cursor=cursor,
                         keep_scroll=keep_cursor)
        n, volume = len(self.message_list), size(self.message_list.total_bytes)
        assert isinstance(pane, _TitledPane)
        pane.set_title(title, lambda name: ngettext(
            "{title} · {n} message, {size}", "{title} · {n} messages, {size}", n).format(
            title=name, n=number(n), size=volume))
        pane.border_subtitle = self._filter_subtitle(self.message_filter, self.message_sort)
        self._show_details()

    @on(VirtualTable.Highlighted, "#messages")
    def _message_highlighted(self, event: VirtualTable.Highlighted) -> None:
        self._debounce("details", 0.05, self._show_details)

    def _show_details(self) -> None:
        self._cancel_timer("details")
        try:
            widget = self.main.query_one("#details", Static)
            table = self.main.query_one("#messages", VirtualTable)
        except NoMatches:  # a debounced call after the panes went (the app is closing)
            return
        if self.message_list is None or not len(self.message_list):
            widget.update(Text(_("Highlight a message to see its details."), style="dim"))
            return
        mid = self.message_list.ids[min(table.cursor, len(self.message_list) - 1)]
        d = self.data.details(mid)
        if d is None:
            widget.update(Text(_("This message is no longer in the index."), style="dim"))
            return
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        # Everything below but the labels comes from the message or the rules file.
        sender = plain(d["sender"]) or "–"
        if d["sender_name"]:
            sender = f"{plain(d['sender_name'])} <{plain(d['sender'])}>"
        grid.add_row(_("Subject"), Text(plain(d["subject"]) or _("(no subject)")))
        grid.add_row(_("From"), Text(sender))
        if d["recipients"]:
            grid.add_row(_("To"), Text(plain(d["recipients"]), overflow="ellipsis",
                                       no_wrap=True))
        grid.add_row(_("Date"), Text(when(d["date"] or d["received_at"])))
        where = plain(d["folder"]) + (f" ({role(d['role'])})" if d["role"] else "")
        grid.add_row(_("Folder"), Text(where))
        grid.add_row(_("Size"), Text(size(d["size"])))
        if d["list_id"] or d["list_unsubscribe"]:
            grid.add_row(_("List"), Text(plain(d["list_id"]) or "–"))
            if d["list_unsubscribe"]:
                grid.add_row(_("Unsubscribe"), Text(plain(d["list_unsubscribe"]),
                                                    no_wrap=True, overflow="ellipsis"))
        for hit in d["hits"]:
            grid.add_row(_("Why"), Text.assemble((plain(hit["title"]), "cyan"), _(
                ": {reason}").format(reason=plain(hit["reason"]))))
        if d["attachments"]:
            names = ", ".join(
                f"{plain(a['filename'] or a['mime_type'])} ({size(a['size'])})"
                for a in d["attachments"])
            grid.add_row(_("Attachments"), Text(names))
        if d["protected"]:
            grid.add_row("", Text(_("Protected (flagged, or named in [protect])."),
                                  style="green"))
        if d["problems"]:
            grid.add_row(_("Note"), Text(_("could not be fully read: {what}").format(
                what=plain(d["problems"])), style="dim"))
        widget.update(grid)

    # -- sorting and filtering --------------------------------------------------------

    def _focused_list(self) -> str | None:
        focused = self.main.focused
        if focused is None:
            return None
        if focused.id in ("groups", "group-filter"):
            return "groups"
        if focused.id in ("messages", "message-filter"):
            return "messages"
        return focused.id

    def action_filter(self) -> None:
        """/ opens the filter of the focused list."""
        which = self._focused_list()
        if which not in ("groups", "messages"):
            return
        field = self.main.query_one("#group-filter" if which == "groups" else "#message-filter",
                               Input)
        field.add_class("shown")
        field.focus()

    def action_sort(self) -> None:
        """s: next sort order of the focused list."""
        which = self._focused_list()
        if which == "groups":
            self._sort_groups(GROUP_SORTS[(GROUP_SORTS.index(self.group_sort) + 1)
                                          % len(GROUP_SORTS)])
        elif which == "messages":
            self._sort_messages(SORTS[(SORTS.index(self.message_sort) + 1) % len(SORTS)])

    def _sort_groups(self, sort: str) -> None:
        self.group_sort = sort
        self._load_groups(keep_cursor=False)

    def _sort_messages(self, sort: str) -> None:
        if sort == "date-asc" and self.message_sort == "date-asc":
            sort = "date-desc"
        self.message_sort = sort
        self._load_messages()

    @on(VirtualTable.SortRequested, "#groups")
    def _groups_sort_clicked(self, event: VirtualTable.SortRequested) -> None:
        self._sort_groups(event.sort)

    @on(VirtualTable.SortRequested, "#messages")
    def _messages_sort_clicked(self, event: VirtualTable.SortRequested) -> None:
        self._sort_messages(event.sort)

    @on(Input.Changed, ".filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._debounce("filter", 0.3, partial(self._apply_filter, event.input))

    @on(Input.Submitted, ".filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self._apply_filter(event.input)
        table = "#groups" if event.input.id == "group-filter" else "#messages"
        self.main.query_one(table, VirtualTable).focus()
        if not event.input.value:
            event.input.remove_class("shown")

    def _apply_filter(self, field: Input) -> None:
        self._cancel_timer("filter")
        value = field.value.strip()
        if field.id == "group-filter":
            if value != self.group_filter:
                self.group_filter = value
                self._load_groups(keep_cursor=False)
        elif value != self.message_filter:
            self.message_filter = value
            self._load_messages()

    def _hide_filter(self, selector: str) -> None:
        field = self.main.query_one(selector, Input)
        field.value = ""
        field.remove_class("shown")

    def action_clear_filter(self) -> None:
        """Escape clears the filter of the focused list."""
        which = self._focused_list()
        if which == "groups" and (self.group_filter or
                                  self.main.query_one("#group-filter").has_class("shown")):
            self._hide_filter("#group-filter")
            self.group_filter = ""
            self._load_groups(keep_cursor=False)
            self.main.query_one("#groups", VirtualTable).focus()
        elif which == "messages" and (self.message_filter or
                                      self.main.query_one("#message-filter").has_class("shown")):
            self._hide_filter("#message-filter")
            self.message_filter = ""
            self._load_messages()
            self.main.query_one("#messages", VirtualTable).focus()

    def action_pane(self, delta: int) -> None:
        """Left and right arrows: the neighbouring pane of the review."""
        order = ["rules", "groups", "messages"]
        focused = self.main.focused
        if focused is None or focused.id not in order:
            return
        i = max(0, min(order.index(focused.id) + delta, len(order) - 1))
        self.main.query_one(f"#{order[i]}", VirtualTable).focus()

    # -- selecting --------------------------------------------------------------------

    def _message_toggled(self, index: int) -> None:
        if self.message_list is None:
            return
        message_id = self.message_list.ids[index]
        on_ = self.data.toggle(message_id)
        marks = self._rule_marks
        if marks is not None:
            # One message: its rules' counts change by one, no need to count them all again.
            for rule in self.data.rules_listing(message_id):
                marks[rule] = marks.get(rule, 0) + (1 if on_ else -1)
        self._selection_changed(keep_rule_marks=True)
        self.main.query_one("#messages", VirtualTable).action_cursor(1)

    def _group_toggled(self, index: int) -> None:
        row = self._group_row(index)
        if row is None or self.group_list is None:
            return
        listing = self.data.messages(self.group_list.rule, row.key, row.everything)
        self._toggle_list(listing)

    def _rule_toggled(self, index: int) -> None:
        if not self.rule_figures:
            return
        rule = self.rule_figures[index]
        self._toggle_list(self.data.messages(rule.name, None, True))

    def _toggle_list(self, listing: MessageList) -> None:
        on_ = not self.data.all_selected(listing)
        self.data.select_list(listing, on_)
        self._selection_changed()

    def action_select_all(self) -> None:
        """a: select (or unselect) everything the message list shows."""
        if self.message_list is None or self._focused_list() not in ("groups", "messages",
                                                                       "rules"):
            return
        self._toggle_list(self.message_list)

    def action_clear_selection(self) -> None:
        """Unselect everything."""
        self.data.clear_selection()
        self._selection_changed()

    def _selection_changed(self, keep_rule_marks: bool = False) -> None:
        if not keep_rule_marks:
            self._rule_marks = None
        if self.group_list is not None:
            self.group_list.invalidate_marks()
        if self.message_list is not None:
            self.message_list.invalidate()
        for table in self.main.query(VirtualTable):
            table.refresh_rows()
        self._update_selection_bar()

    def _update_selection_bar(self) -> None:
        widget = self.main.query_one("#selection-bar", Static)
        n, b = self.data.selection_totals()
        if n:
            widget.add_class("active")
            widget.update(ngettext(
                "Selected: {n} message · {size}   —   t: to Trash · e: export then Trash · "
                "D: delete for good (from Trash) · c: clear",
                "Selected: {n} messages · {size}   —   t: to Trash · e: export then Trash · "
                "D: delete for good (from Trash) · c: clear", n).format(
                n=number(n), size=size(b)))
        else:
            widget.remove_class("active")
            widget.update(_("Nothing selected. Space selects a message, a whole group or a "
                            "rule; a selects the whole list."))

    # -- tabs, help -------------------------------------------------------------------

    def action_tab(self, tab: str) -> None:
        """Show a tab and focus its main list."""
        self.main.query_one(TabbedContent).active = tab
        target = {"overview": "#ov-rules", "review": "#groups",
                  "journal": "#journal-table"}[tab]
        self.main.query_one(target, VirtualTable).focus()

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "journal":
            self._load_journal()

    def action_help(self) -> None:
        """Show every key."""
        self.push_screen(HelpScreen())

    # -- cleaning ---------------------------------------------------------------------

    def _guard(self) -> bool:
        if self.busy:
            self.notify(_("Wait for the current task to end."), severity="warning")
            return False
        if not self.data.indexed:
            self.notify(_("Sync the account first (R)."), severity="warning")
            return False
        return True

    def action_clean(self, kind: str) -> None:
        """Ask to trash, export-then-trash or delete what is selected."""
        if not self._guard():
            return
        ids = self.data.selected_ids()
        if not ids:
            self.notify(_("Nothing is selected: Space on a message, a group or a rule "
                          "selects it."), severity="warning")
            return
        selection = actions.Selection(message_ids=ids)
        if kind in ("trash", "export") and self.data.trash_path is None:
            self.notify(_("This account has no Trash folder mailclean recognises."),
                        severity="error")
            return
        p = self._plan("delete" if kind == "delete" else "trash", selection)
        if p is None:
            return
        if kind == "delete" and p.outside_trash:
            self.notify(ngettext(
                "{n} selected message is not in the Trash. mailclean deletes for good only "
                "from the Trash: move it there first (t).",
                "{n} selected messages are not in the Trash. mailclean deletes for good only "
                "from the Trash: move them there first (t).", p.outside_trash).format(
                n=number(p.outside_trash)), severity="error", timeout=8)
            return
        if not p.messages:
            self.notify(_("Nothing to do: the selected messages are already in the Trash."),
                        severity="warning")
            return
        self._confirm(kind, p, selection)

    def action_empty_trash(self) -> None:
        """Ask to delete for good everything in the Trash."""
        if not self._guard():
            return
        if self.data.trash_path is None:
            self.notify(_("This account has no Trash folder mailclean recognises."),
                        severity="error")
            return
        selection = actions.Selection(folders=(self.data.trash_path,))
        p = self._plan("delete", selection)
        if p is None:
            return
        if not p.messages:
            self.notify(_("The Trash is already empty."), severity="information")
            return
        self._confirm("empty", p, selection)

    def _plan(self, kind: str, selection: actions.Selection) -> actions.Plan | None:
        """What ``kind`` would do to ``selection``, as the CLI plans it (None: said why)."""
        try:
            return workflows.plan(jobs.workspace(self.ctx, self.index), kind, selection)
        except actions.ActionError as exc:
            self.notify(str(exc), severity="error")
            return None

    def _plan_lines(self, kind: str, p: actions.Plan) -> list[tuple[str, str]]:
        evidence = workflows.evidence(jobs.workspace(self.ctx, self.index), p.account_id)
        lines = p.describe(wording.APP, evidence, export=kind == "export")
        if kind == "empty":
            lines.insert(1, ("dim", _("Everything in {trash}.").format(trash=p.target or
                                                                       self.data.trash_path)))
        return lines

    def _confirm(self, kind: str, p: actions.Plan, selection: actions.Selection) -> None:
        titles = {"trash": _("Move to the Trash?"),
                  "export": _("Export, then move to the Trash?"),
                  "delete": _("Delete for good?"), "empty": _("Empty the Trash?")}
        buttons = {"trash": _("Move to Trash"), "export": _("Export and move"),
                   "delete": _("Delete for good"), "empty": _("Empty the Trash")}
        path = None
        if kind == "export":
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            path = str(self.export_dir / f"{self.ctx.account.name}-{stamp}.mbox")
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
            self._start_job(titles[kind].rstrip("?"), cancel, partial(
                jobs.run_action, self.ctx, p, cancel=cancel, export_to=export_to),
                clear_selection=True)

        self.push_screen(screen, answered)

    def action_undo(self) -> None:
        """Ask to put back the last (or the highlighted) move to the Trash."""
        if not self._guard():
            return
        action = None
        if self.main.query_one(TabbedContent).active == "journal":
            action = self._journal_action()
            if action is not None and action.kind != "trash":
                self.notify(_("Only moves to the Trash can be undone."), severity="warning")
                return
        action = action or self.data.last_undoable()
        if action is None:
            self.notify(_("Nothing to undo: no move to the Trash yet."), severity="warning")
            return
        try:
            p = jobs.undo_plan(self.index, self.ctx, action.id)
        except actions.ActionError as exc:
            self.notify(str(exc), severity="error")
            return
        if not p.items:
            self.notify(_("Nothing to put back: those messages are no longer in the Trash."),
                        severity="warning")
            return
        lines = p.describe(wording.APP)
        lines.insert(1, ("dim", _("Action {id}: moved to the Trash on {when}.").format(
            id=action.id, when=when(action.started_at))))

        def answered(answer: str | None) -> None:
            if answer is None:
                return
            cancel = threading.Event()
            self._start_job(_("Putting back"), cancel, partial(
                jobs.run_undo, self.ctx, action.id, cancel=cancel))

        self.push_screen(ConfirmScreen(_("Undo the move to the Trash?"), lines, _("Put back")),
                         answered)

    def action_resume(self) -> None:
        """Finish the highlighted interrupted or cancelled action."""
        if not self._guard():
            return
        if self.main.query_one(TabbedContent).active != "journal":
            return
        action = self._journal_action()
        if action is None or not action.unfinished or action.kind == "export":
            self.notify(_("Highlight an interrupted or cancelled action in the Journal."),
                        severity="warning")
            return
        n, b = action.count("pending", "sent", "copied")
        lines = [("bold", ngettext("Finish action {id} ({kind}): {n} message ({size}) is "
                                   "still to do.",
                                   "Finish action {id} ({kind}): {n} messages ({size}) are "
                                   "still to do.", n).format(
                     id=action.id, kind=_(_KINDS.get(action.kind, action.kind)),
                     n=number(n), size=size(b))),
                 ("dim", _("Each message is checked on the server again first."))]

        def answered(answer: str | None) -> None:
            if answer is None:
                return
            cancel = threading.Event()
            self._start_job(_("Finishing action {id}").format(id=action.id), cancel, partial(
                jobs.run_resume, self.ctx, action.id, cancel=cancel))

        self.push_screen(ConfirmScreen(_("Finish the action?"), lines, _("Finish it")),
                         answered)

    def action_sync(self) -> None:
        """Sync the account with its server, with progress, then reload."""
        if self.busy:
            self.notify(_("Wait for the current task to end."), severity="warning")
            return
        self._start_job(_("Syncing {account}").format(account=self.ctx.account.name), None,
                        partial(jobs.run_sync, self.ctx))

    # -- running jobs -----------------------------------------------------------------

    def _start_job(self, title: str, cancel: threading.Event | None,
                   job: Callable[..., jobs.JobResult], clear_selection: bool = False) -> None:
        self.busy = True
        screen = ProgressScreen(title, cancel)
        self.push_screen(screen)
        progress = _ScreenProgress(self, screen)
        self.run_worker(partial(self._run_job, job, progress, screen, clear_selection),
                        thread=True, group="job", exclusive=True, exit_on_error=False)

    def _run_job(self, job: Callable[..., jobs.JobResult], progress: _ScreenProgress,
                 screen: ProgressScreen, clear_selection: bool) -> None:
        result: jobs.JobResult | None = None
        error: str | None = None
        try:
            result = job(progress=progress)
        except (actions.ActionError, ConnectorError, cfg.ConfigError, RuleError) as exc:
            error = str(exc)
        except Exception as exc:  # a bug must not take the app down with the user's work
            error = f"{type(exc).__name__}: {exc}"
        self.call_from_thread(self._job_done, screen, result, error, clear_selection)

    def _job_done(self, screen: ProgressScreen, result: jobs.JobResult | None,
                  error: str | None, clear_selection: bool) -> None:
        self.busy = False
        self.last_result, self.last_error = result, error
        lines: list[tuple[str, str]] = []
        phase = None
        if result is not None:
            lines += [("dim", note) for note in result.notes]
            if result.done is not None:
                lines += result.done.describe(wording.APP)
            if result.sync is not None and jobs.unchanged(result.sync):
                phase = _("Already up to date")
                lines.append(("bold", _("Already up to date: nothing changed on the server "
                                        "since the last sync.")))
                lines.append(("dim", _("{messages}, {size} in {folders}.").format(
                    **result.sync.counts())))
            elif result.sync is not None:
                lines.append(("bold", _(
                    "{messages}, {size} in {folders}; {new}, {removed}, {flags}.").format(
                    **result.sync.counts())))
            if result.sync is not None:
                lines += wording.sync_detail_lines(result.sync)
        if error:
            lines.append(("error", error))
        if clear_selection and result is not None:
            self.data.clear_selection()
        self.reload_all()
        if screen.is_attached:
            screen.finish(lines, ok=error is None, phase=phase if error is None else None)

    def request_password(self, prompt: str) -> str:
        """Ask for the password in a dialog (called from a worker thread; blocks it)."""
        if self._password is not None:
            return self._password
        answer: list[str | None] = []
        done = threading.Event()

        def ask() -> None:
            def got(value: str | None) -> None:
                answer.append(value)
                done.set()

            self.push_screen(PasswordScreen(prompt), got)

        self.call_from_thread(ask)
        done.wait()
        if not answer or answer[0] is None:
            raise cfg.ConfigError(_("no password given: nothing was done"))
        self._password = answer[0]
        return self._password

    # -- journal ----------------------------------------------------------------------

    def _load_journal(self) -> None:
        table = self.main.query_one("#journal-table", VirtualTable)
        rows = self.data.journal()
        self._journal_rows = rows

        def cells(a: ActionRow) -> tuple[list[str], str]:
            done, b = a.count("done")
            return ([str(a.id), when(a.started_at), _(_KINDS.get(a.kind, a.kind)),
                     _(_STATES.get(a.state, a.state)), number(done), size(b),
                     number(a.count("skipped", "failed")[0]), plain(a.target)],
                    "dim" if a.state == "undone" else "")

        table.set_source(ListSource(rows, cells), cursor=table.cursor, keep_scroll=True)
        self._show_journal_detail()

    def _journal_action(self) -> ActionRow | None:
        rows: list[ActionRow] = getattr(self, "_journal_rows", [])
        if not rows:
            return None
        table = self.main.query_one("#journal-table", VirtualTable)
        return rows[min(table.cursor, len(rows) - 1)]

    @on(VirtualTable.Highlighted, "#journal-table")
    def _journal_highlighted(self, event: VirtualTable.Highlighted) -> None:
        self._show_journal_detail()

    def _show_journal_detail(self) -> None:
        widget = self.main.query_one("#journal-detail", Static)
        a = self._journal_action()
        if a is None:
            widget.update("")
            return
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column()
        grid.add_row(_("Action"), f"{a.id} · {_(_KINDS.get(a.kind, a.kind))} · "
                     f"{_(_STATES.get(a.state, a.state))}")
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
        widget.update(grid)

    # -- timers -----------------------------------------------------------------------

    def _debounce(self, name: str, delay: float, callback: Callable[[], None]) -> None:
        self._cancel_timer(name)
        self._debounced[name] = self.set_timer(delay, callback)

    def _cancel_timer(self, name: str) -> None:
        timer = self._debounced.pop(name, None)
        if timer is not None:
            timer.stop()

    def on_unmount(self) -> None:
        """Close the index."""
        self.index.close()


class _TitledPane(Vertical):
    """A pane whose border title keeps its figures: the name in it is shortened instead."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._title: tuple[str, Callable[[str], str]] | None = None

    def set_title(self, name: str, template: Callable[[str], str]) -> None:
        """Show ``template(name)``, ``name`` ellipsised when the whole does not fit."""
        self._title = (plain(name), template)
        self._fit_title()

    def _fit_title(self) -> None:
        if self._title is None:
            return
        name, template = self._title
        # The border takes a corner, a line and a space on each side of the title.
        room = self.size.width - 6
        if self.size.width and cell_len(template(name)) > room:
            name = fit(name, max(1, room - cell_len(template("")))).rstrip()
        self.border_title = _safe(template(name))

    def on_resize(self, event: events.Resize) -> None:
        """Fit the title to the new width."""
        self._fit_title()


def _safe(text: str) -> Text:
    """Outside text for a border title: control characters replaced, never read as
    markup (a plain string there would be)."""
    return Text(plain(text))


class _Head:
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


class _ScreenProgress(jobs.Progress):
    """Forwards a job's progress from its thread to the progress dialog."""

    def __init__(self, app: ReviewApp, screen: ProgressScreen) -> None:
        self.app = app
        self.screen = screen

    def _call(self, fn: Callable[..., Any], *args: Any) -> None:
        # RuntimeError: the app is closing, nobody is watching any more.
        with contextlib.suppress(RuntimeError):
            self.app.call_from_thread(fn, *args)

    def start(self, messages: int, size: int = 0) -> None:
        """The work starts."""
        self._call(self.screen.set_total, messages, size)

    def advance(self, messages: int, size: int = 0) -> None:
        """More messages were handled."""
        self._call(self.screen.advance, messages, size)

    def phase(self, text: str) -> None:
        """A step starts."""
        self._call(self.screen.set_phase, text)

    def retry(self, error: str, delay: float) -> None:
        """The connection dropped; another attempt follows."""
        self.phase(_("connection lost ({error}); trying again in {delay:.0f} s").format(
            error=error, delay=delay))
