"""The review app: where the volume is, bulk selection, cleaning, the journal.

Three tabs: **Overview** (size, quota, folders, rules as bars, freed so far), **Review**
(rules → groups → messages with details; select and clean), **Journal** (every action;
undo, finish an interrupted one). Each tab is a widget of :mod:`mailclean.tui.widgets`;
what spans the tabs is the app's: selecting (:mod:`mailclean.tui.selecting`), acting
(:mod:`mailclean.tui.cleaning`) and running the work (:mod:`mailclean.tui.running`).
Everything slow (scan, sync, actions) runs in a worker thread of its own (see
:mod:`mailclean.tui.jobs`); the main thread only reads the index.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from textual import events, on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, TabbedContent, TabPane

from mailclean import actions
from mailclean.i18n import _
from mailclean.index import Index
from mailclean.rules import RuleError
from mailclean.safetext import plain
from mailclean.tui import jobs
from mailclean.tui.cleaning import Cleaning
from mailclean.tui.data import GroupList, MessageList, Overview, ReviewData, RuleFigures
from mailclean.tui.running import JobRunner
from mailclean.tui.screens import HelpScreen
from mailclean.tui.selecting import Selecting
from mailclean.tui.text import N_, TranslatedBindings, key_name
from mailclean.tui.widgets.journal import JournalTab
from mailclean.tui.widgets.overview import OverviewTab, TitleBar
from mailclean.tui.widgets.review import BIG_RULE, ReviewTab
from mailclean.tui.widgets.selection import SelectionBar
from mailclean.tui.widgets.table import VirtualTable

__all__ = ["BIG_RULE", "NARROW", "SHORT", "MainScreen", "ReviewApp"]

#: Under this width (in cells) the overview's panes are stacked instead of side by side.
NARROW = 120
#: Under this height (in lines) the details pane is shorter.
SHORT = 30


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

    overview: OverviewTab
    review: ReviewTab
    journal_tab: JournalTab

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
        self.busy = False
        self.ready = False
        self._ask_password = ask_password
        self.last_result: jobs.JobResult | None = None
        self.last_error: str | None = None
        self.selecting = Selecting(self)
        self.cleaning = Cleaning(self)
        self.runner = JobRunner(self)

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
        self.overview = OverviewTab()
        self.review = ReviewTab(self.data, self.ctx.index_path, self.selecting.rule_hint)
        self.journal_tab = JournalTab()
        yield TitleBar()
        with TabbedContent(initial="overview"):
            with TabPane(_("1 Overview"), id="overview"):
                yield self.overview
            with TabPane(_("2 Review"), id="review"):
                yield self.review
            with TabPane(_("3 Journal"), id="journal"):
                yield self.journal_tab
        yield SelectionBar()
        yield Footer()

    @property
    def active_tab(self) -> str:
        """The id of the tab shown: "overview", "review" or "journal"."""
        return self.main.query_one(TabbedContent).active

    # -- what the review shows (the Review tab keeps it) ------------------------------

    @property
    def rule(self) -> RuleFigures | None:
        """The rule under the cursor of the Rules pane."""
        return self.review.rule

    @property
    def group_list(self) -> GroupList | None:
        """The groups the Groups pane lists (None: none, or still being counted)."""
        return self.review.group_list

    @property
    def message_list(self) -> MessageList | None:
        """The messages the Messages pane lists."""
        return self.review.message_list

    @property
    def message_sort(self) -> str:
        """The order of the Messages pane."""
        return self.review.message_sort

    @property
    def _rule_marks(self) -> dict[str, int] | None:
        # Selected messages per rule, as last counted (the tests check the counting).
        return self.selecting.rule_marks

    # -- start ------------------------------------------------------------------------

    def started(self) -> None:
        """Show what the index holds, then scan in the background (the screen is ready)."""
        main = self.main
        main.query_one("#messages", VirtualTable).on_toggle = self.selecting.message_toggled
        main.query_one("#groups", VirtualTable).on_toggle = self.selecting.group_toggled
        main.query_one("#rules", VirtualTable).on_toggle = self.selecting.rule_toggled
        main.query_one("#ov-rules", VirtualTable).on_toggle = self.selecting.rule_toggled
        self.title = f"mailclean · {plain(self.ctx.account.name)}"
        self.selecting.update_bar()
        self.overview.rules.focus()
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
        self.selecting.update_bar()
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
        self.review.show_rules(self.rule_figures, keep_cursor=keep_cursor)
        self._load_journal()
        self.selecting.update_bar()
        self.ready = True

    def _refresh_overview(self, ov: Overview | None = None) -> None:
        ov = ov or self.data.overview()
        self.main.query_one(TitleBar).show(ov, self.ctx.account.name, self.data.indexed)
        self.rule_figures = ov.rules
        self.selecting.rule_marks = None
        self.overview.show(ov, self.data.indexed, self.selecting.rule_hint)

    def _load_journal(self) -> None:
        self.journal_tab.show(self.data.journal())

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

    @on(VirtualTable.Activated, "#ov-rules")
    def _overview_rule_activated(self, event: VirtualTable.Activated) -> None:
        self.open_rule(event.index)

    def open_rule(self, index: int) -> None:
        """Show rule number ``index`` in the Review tab, its groups focused."""
        self.main.query_one(TabbedContent).active = "review"
        self.review.open_rule(index)

    def action_help(self) -> None:
        """Show every key."""
        self.push_screen(HelpScreen())

    # -- the keys: the review's lists -------------------------------------------------

    def action_filter(self) -> None:
        """/ opens the filter of the focused list."""
        self.review.open_filter()

    def action_sort(self) -> None:
        """s: next sort order of the focused list."""
        self.review.next_sort()

    def action_clear_filter(self) -> None:
        """Escape clears the filter of the focused list."""
        self.review.clear_filter()

    def action_pane(self, delta: int) -> None:
        """Left and right arrows: the neighbouring pane of the review."""
        self.review.move_pane(delta)

    # -- the keys: selecting ----------------------------------------------------------

    def action_select_all(self) -> None:
        """a: select (or unselect) everything the message list shows."""
        self.selecting.select_all()

    def action_clear_selection(self) -> None:
        """Unselect everything."""
        self.selecting.clear()

    # -- the keys: acting -------------------------------------------------------------

    def action_clean(self, kind: str) -> None:
        """Ask to trash, export-then-trash or delete what is selected."""
        self.cleaning.clean(kind)

    def action_empty_trash(self) -> None:
        """Ask to delete for good everything in the Trash."""
        self.cleaning.empty_trash()

    def action_undo(self) -> None:
        """Ask to put back the last (or the highlighted) move to the Trash."""
        self.cleaning.undo()

    def action_resume(self) -> None:
        """Finish the highlighted interrupted or cancelled action."""
        self.cleaning.resume()

    def action_sync(self) -> None:
        """Sync the account with its server, with progress, then reload."""
        self.cleaning.sync()

    def request_password(self, prompt: str) -> str:
        """Ask for the password in a dialog (called from a worker thread; blocks it)."""
        return self.runner.request_password(prompt)

    def on_unmount(self) -> None:
        """Close the index."""
        self.index.close()
