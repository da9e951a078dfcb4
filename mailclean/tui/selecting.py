"""What Space, a and c do: select a message, a group or a whole rule (or unselect it), the
whole list, or nothing; the marks on every list and the selection bar follow.

The selection itself is the index connection's TEMP table (:mod:`mailclean.index.review`,
through :class:`~mailclean.tui.data.ReviewData`); this keeps the rules' marks, which
the Overview's and the Review's rule lists share, and tells the panes to redraw.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailclean.tui.data import MessageList, RuleFigures
from mailclean.tui.widgets.selection import SelectionBar
from mailclean.tui.widgets.table import VirtualTable

if TYPE_CHECKING:
    from mailclean.tui.app import ReviewApp


class Selecting:
    """The app's selection commands and marks."""

    def __init__(self, app: ReviewApp) -> None:
        self.app = app
        self.rule_marks: dict[str, int] | None = None
        """Selected messages per rule, counted when a rule list is drawn (None: count
        them again)."""

    def rule_hint(self, rule: RuleFigures) -> str:
        """"selected" when all of the rule is selected, "partial" when some of it is."""
        if self.rule_marks is None:
            self.rule_marks = self.app.data.selected_per_rule()
        n = self.rule_marks.get(rule.name, 0)
        if not n:
            return ""
        return "selected" if n >= rule.messages else "partial"

    def message_toggled(self, index: int) -> None:
        """Space on line ``index`` of the messages: that message, then the next line."""
        review = self.app.review
        if review.message_list is None:
            return
        data = self.app.data
        message_id = review.message_list.ids[index]
        on_ = data.toggle(message_id)
        marks = self.rule_marks
        if marks is not None:
            # One message: its rules' counts change by one, no need to count them all again.
            for rule in data.rules_listing(message_id):
                marks[rule] = marks.get(rule, 0) + (1 if on_ else -1)
        self.changed(keep_rule_marks=True)
        review.messages_pane.table.action_cursor(1)

    def group_toggled(self, index: int) -> None:
        """Space on line ``index`` of the groups: every message of that group."""
        review = self.app.review
        row = review.group_row(index)
        if row is None or review.group_list is None:
            return
        self.toggle_list(self.app.data.messages(review.group_list.rule, row.key,
                                                row.everything))

    def rule_toggled(self, index: int) -> None:
        """Space on line ``index`` of a rule list: every message of that rule."""
        if not self.app.rule_figures:
            return
        rule = self.app.rule_figures[index]
        self.toggle_list(self.app.data.messages(rule.name, None, True))

    def toggle_list(self, listing: MessageList) -> None:
        """Select every message of ``listing``, or unselect them all when they all are."""
        data = self.app.data
        on_ = not data.all_selected(listing)
        data.select_list(listing, on_)
        self.changed()

    def select_all(self) -> None:
        """a: select (or unselect) everything the message list shows."""
        review = self.app.review
        if review.message_list is None or review.focused_list() not in (
                "groups", "messages", "rules"):
            return
        self.toggle_list(review.message_list)

    def clear(self) -> None:
        """Unselect everything."""
        self.app.data.clear_selection()
        self.changed()

    def changed(self, keep_rule_marks: bool = False) -> None:
        """The selection changed: every list's marks and the selection bar follow."""
        if not keep_rule_marks:
            self.rule_marks = None
        review = self.app.review
        if review.group_list is not None:
            review.group_list.invalidate_marks()
        if review.message_list is not None:
            review.message_list.invalidate()
        for table in self.app.main.query(VirtualTable):
            table.refresh_rows()
        self.update_bar()

    def update_bar(self) -> None:
        """Show the selection's size in the selection bar."""
        self.app.main.query_one(SelectionBar).show(*self.app.data.selection_totals())
