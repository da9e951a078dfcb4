"""The Review tab: rules → groups → messages → the highlighted message's details.

It keeps what the review shows (the rule, group and message lists, their filters and
orders) and moves from one list to the next: a rule highlighted lists its groups, a group
its messages, a message its details. Selecting and acting are the app's (they span the
tabs): the tables' Space goes to :class:`mailclean.tui.selecting.Selecting`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from textual import on
from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.timer import Timer
from textual.widgets import Input

from mailclean.i18n import _
from mailclean.index.review import read_only
from mailclean.tui.data import (
    GROUP_SORTS,
    SORTS,
    GroupList,
    GroupQuery,
    GroupRow,
    MessageList,
    ReviewData,
    RuleFigures,
)
from mailclean.tui.widgets.details import DetailsPane
from mailclean.tui.widgets.groups import GroupsPane
from mailclean.tui.widgets.messages import MessagesPane
from mailclean.tui.widgets.rules import RuleHint, rule_columns, rule_source
from mailclean.tui.widgets.table import VirtualTable
from mailclean.tui.widgets.titles import filter_subtitle

#: Rules flagging more messages than this have their groups counted in a worker thread.
BIG_RULE = 50_000

#: (rule, group, the whole rule?, title): which messages the messages pane shows.
Target = tuple[str, str | None, bool, str]

#: The review's panes, left to right (the arrows move between them).
PANES = ("rules", "groups", "messages")


class ReviewTab(Horizontal):
    """Rules and groups on the left, messages and details on the right."""

    def __init__(self, data: ReviewData, index_path: Path, hint: RuleHint) -> None:
        super().__init__()
        self.data = data
        self.index_path = index_path
        """The index file, for the workers counting a big rule's groups."""
        self.hint = hint
        self.rule_figures: list[RuleFigures] = []
        self.group_list: GroupList | None = None
        self.message_list: MessageList | None = None
        self.group_filter = ""
        self.message_filter = ""
        self.group_sort = "size"
        self.message_sort = "size"
        self._debounced: dict[str, Timer] = {}
        self._groups_generation = 0
        self._groups_rule: str | None = None

    def compose(self) -> ComposeResult:
        """Rules over groups, messages over details."""
        with Vertical(id="review-left"):
            rules = VirtualTable(rule_columns(bars=False), id="rules", classes="pane")
            rules.border_title = _("Rules")
            yield rules
            yield GroupsPane()
        with Vertical(id="review-right"):
            yield MessagesPane()
            yield DetailsPane()

    @property
    def rules_table(self) -> VirtualTable:
        """The Rules pane."""
        return self.query_one("#rules", VirtualTable)

    @property
    def groups_pane(self) -> GroupsPane:
        """The Groups pane."""
        return self.query_one(GroupsPane)

    @property
    def messages_pane(self) -> MessagesPane:
        """The Messages pane."""
        return self.query_one(MessagesPane)

    # -- rules ------------------------------------------------------------------------

    def show_rules(self, figures: list[RuleFigures], keep_cursor: bool = True) -> None:
        """List ``figures`` (then the groups of the rule under the cursor)."""
        self.rule_figures = figures
        table = self.rules_table
        cursor = table.cursor if keep_cursor else 0
        table.set_source(rule_source(figures, self.hint), cursor=cursor,
                         keep_scroll=keep_cursor)
        self.load_groups(keep_cursor=keep_cursor)

    @property
    def rule(self) -> RuleFigures | None:
        """The rule under the cursor of the Rules pane."""
        table = self.rules_table
        if not self.rule_figures:
            return None
        return self.rule_figures[min(table.cursor, len(self.rule_figures) - 1)]

    @on(VirtualTable.Highlighted, "#rules")
    def _rule_highlighted(self, event: VirtualTable.Highlighted) -> None:
        if self.rule is not None and self.rule.name != self._groups_rule:
            self.group_filter = ""
            self._hide_filter(self.groups_pane.field)
            self.load_groups(keep_cursor=False)

    @on(VirtualTable.Activated, "#rules")
    def _rule_activated(self, event: VirtualTable.Activated) -> None:
        self.groups_pane.table.focus()

    def open_rule(self, index: int) -> None:
        """Put the Rules pane on rule number ``index``, its groups focused."""
        self.rules_table.move_to(index)
        self.groups_pane.table.focus()

    # -- groups -----------------------------------------------------------------------

    def load_groups(self, keep_cursor: bool = True) -> None:
        """List the groups of the rule under the cursor (then the messages of the group
        under the cursor)."""
        pane = self.groups_pane
        rule = self.rule
        if rule is None or not self.data.indexed:
            self._groups_rule = None
            self.group_list = None
            pane.clear()
            self.load_messages()
            return
        cursor = pane.table.cursor if keep_cursor else 0
        self._groups_generation += 1
        self._groups_rule = rule.name
        if rule.messages > BIG_RULE:
            # Grouping hundreds of thousands of hits takes a moment: the rule's messages
            # show at once, its groups when a worker has counted them.
            self.group_list = None
            pane.counting(rule)
            self.load_messages(target=(rule.name, None, True, rule.title))
            query = GroupList.query(self.data, rule.name, self.group_filter, self.group_sort)
            app = self.app
            app.run_worker(partial(self._groups_job, app, self._groups_generation, rule,
                                   self.group_filter, self.group_sort, query, cursor),
                           thread=True, group="groups", exit_on_error=False)
            return
        self._show_groups(rule, GroupList(self.data, rule.name, self.group_filter,
                                          self.group_sort), cursor, keep_cursor)
        self.load_messages(keep_cursor=keep_cursor)

    def _groups_job(self, app: App[Any], generation: int, rule: RuleFigures, text: str,
                    sort: str, query: GroupQuery, cursor: int) -> None:
        # In a worker thread, on a read-only connection of its own.
        conn = read_only(self.index_path)
        try:
            rows = query.fetch(conn)
        finally:
            conn.close()

        def show() -> None:
            if generation != self._groups_generation:
                return  # another rule, filter or order was chosen meanwhile
            groups = GroupList(self.data, rule.name, text, sort, rows=rows)
            self._show_groups(rule, groups, cursor, keep_scroll=cursor != 0)
            if cursor:
                self.load_messages(keep_cursor=True)

        app.call_from_thread(show)

    def _show_groups(self, rule: RuleFigures, groups: GroupList, cursor: int,
                     keep_scroll: bool) -> None:
        self.group_list = groups
        self.groups_pane.show(rule, groups, cursor, keep_scroll,
                              filter_subtitle(self.group_filter, self.group_sort))

    @on(VirtualTable.Highlighted, "#groups")
    def _group_highlighted(self, event: VirtualTable.Highlighted) -> None:
        if self.group_list is None:
            return  # still being counted: the rule's messages are showing
        current = self.message_list
        if current is not None and self.group_list is not None and \
                current.rule == self.group_list.rule:
            row = self.group_row(event.index)
            if row is not None and (row.everything, row.key) == (current.everything,
                                                                 current.group):
                return
        self._debounce("messages", 0.12, self.load_messages)

    @on(VirtualTable.Activated, "#groups")
    def _group_activated(self, event: VirtualTable.Activated) -> None:
        self.load_messages()
        self.messages_pane.table.focus()

    def group_row(self, index: int | None = None) -> GroupRow | None:
        """Line ``index`` of the groups (default: the one under the cursor)."""
        if self.group_list is None or not len(self.group_list):
            return None
        table = self.groups_pane.table
        i = table.cursor if index is None else index
        return self.group_list.row(min(i, len(self.group_list) - 1))

    # -- messages ---------------------------------------------------------------------

    def load_messages(self, keep_cursor: bool = False, target: Target | None = None) -> None:
        """Show the messages of ``target`` (rule, group, whole rule?, title), by default
        those of the group under the cursor."""
        self._cancel_timer("messages")
        pane = self.messages_pane
        row = self.group_row()
        if target is None and row is not None and self.group_list is not None:
            title = row.label if not row.everything else (self.rule.title if self.rule
                                                          else "")
            target = (self.group_list.rule, row.key, row.everything, title)
        if target is None:
            self.message_list = None
            pane.clear()
            self.show_details()
            return
        cursor = pane.table.cursor if keep_cursor else 0
        rule_name, key, everything, title = target
        self.message_list = self.data.messages(rule_name, key, everything,
                                               self.message_filter, self.message_sort)
        pane.show(self.message_list, title, cursor, keep_cursor,
                  filter_subtitle(self.message_filter, self.message_sort))
        self.show_details()

    @on(VirtualTable.Highlighted, "#messages")
    def _message_highlighted(self, event: VirtualTable.Highlighted) -> None:
        self._debounce("details", 0.05, self.show_details)

    def show_details(self) -> None:
        """Show the message under the cursor of the Messages pane."""
        self._cancel_timer("details")
        try:
            widget = self.query_one(DetailsPane)
            table = self.messages_pane.table
        except NoMatches:  # a debounced call after the panes went (the app is closing)
            return
        if self.message_list is None or not len(self.message_list):
            widget.show_nothing()
            return
        mid = self.message_list.ids[min(table.cursor, len(self.message_list) - 1)]
        widget.show(self.data.details(mid))

    # -- moving, sorting and filtering ------------------------------------------------

    def focused_list(self) -> str | None:
        """Which list has the focus: "groups" and "messages" (their filter fields
        included), else the focused widget's id (None: nothing focused)."""
        focused = self.screen.focused
        if focused is None:
            return None
        if focused.id in ("groups", "group-filter"):
            return "groups"
        if focused.id in ("messages", "message-filter"):
            return "messages"
        return focused.id

    def move_pane(self, delta: int) -> None:
        """Focus the pane ``delta`` places right (left when negative) of the focused one."""
        focused = self.screen.focused
        if focused is None or focused.id not in PANES:
            return
        i = max(0, min(PANES.index(focused.id) + delta, len(PANES) - 1))
        self.query_one(f"#{PANES[i]}", VirtualTable).focus()

    def open_filter(self) -> None:
        """Show and focus the filter of the focused list."""
        which = self.focused_list()
        if which not in ("groups", "messages"):
            return
        field = self.groups_pane.field if which == "groups" else self.messages_pane.field
        field.add_class("shown")
        field.focus()

    def next_sort(self) -> None:
        """The focused list's next order."""
        which = self.focused_list()
        if which == "groups":
            self._sort_groups(GROUP_SORTS[(GROUP_SORTS.index(self.group_sort) + 1)
                                          % len(GROUP_SORTS)])
        elif which == "messages":
            self._sort_messages(SORTS[(SORTS.index(self.message_sort) + 1) % len(SORTS)])

    def _sort_groups(self, sort: str) -> None:
        self.group_sort = sort
        self.load_groups(keep_cursor=False)

    def _sort_messages(self, sort: str) -> None:
        if sort == "date-asc" and self.message_sort == "date-asc":
            sort = "date-desc"
        self.message_sort = sort
        self.load_messages()

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
        pane = self.groups_pane if event.input.id == "group-filter" else self.messages_pane
        pane.table.focus()
        if not event.input.value:
            event.input.remove_class("shown")

    def _apply_filter(self, field: Input) -> None:
        self._cancel_timer("filter")
        value = field.value.strip()
        if field.id == "group-filter":
            if value != self.group_filter:
                self.group_filter = value
                self.load_groups(keep_cursor=False)
        elif value != self.message_filter:
            self.message_filter = value
            self.load_messages()

    @staticmethod
    def _hide_filter(field: Input) -> None:
        field.value = ""
        field.remove_class("shown")

    def clear_filter(self) -> None:
        """Clear and hide the filter of the focused list."""
        which = self.focused_list()
        groups, messages = self.groups_pane, self.messages_pane
        if which == "groups" and (self.group_filter or groups.field.has_class("shown")):
            self._hide_filter(groups.field)
            self.group_filter = ""
            self.load_groups(keep_cursor=False)
            groups.table.focus()
        elif which == "messages" and (self.message_filter or
                                      messages.field.has_class("shown")):
            self._hide_filter(messages.field)
            self.message_filter = ""
            self.load_messages()
            messages.table.focus()

    # -- timers -----------------------------------------------------------------------

    def _debounce(self, name: str, delay: float, callback: Callable[[], None]) -> None:
        self._cancel_timer(name)
        self._debounced[name] = self.set_timer(delay, callback)

    def _cancel_timer(self, name: str) -> None:
        timer = self._debounced.pop(name, None)
        if timer is not None:
            timer.stop()
