"""The details pane of the Review tab: the highlighted message's headers, where it is, why
each rule flags it, its attachments."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from mailclean.i18n import _, role, size, when
from mailclean.safetext import plain


class DetailsPane(Static):
    """One message in detail (as :meth:`mailclean.tui.data.ReviewData.details` reads it)."""

    def __init__(self) -> None:
        super().__init__("", id="details", classes="pane")
        self.border_title = _("Details")

    def show_nothing(self) -> None:
        """No message is highlighted."""
        self.update(Text(_("Highlight a message to see its details."), style="dim"))

    def show(self, d: dict[str, Any] | None) -> None:
        """Show the message ``d`` (None: it is no longer in the index)."""
        if d is None:
            self.update(Text(_("This message is no longer in the index."), style="dim"))
            return
        self.update(_grid(d))


def _grid(d: dict[str, Any]) -> Table:
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
    return grid
