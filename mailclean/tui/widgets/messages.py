"""The messages pane of the Review tab: a group's (or a whole rule's) messages, with a
filter field above them, its title counting them."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Input

from mailclean.i18n import _, ngettext, number, size
from mailclean.safetext import plain
from mailclean.tui.data import MessageList
from mailclean.tui.widgets.columns import Column
from mailclean.tui.widgets.table import ListSource, VirtualTable
from mailclean.tui.widgets.titles import TitledPane


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


def message_columns() -> list[Column]:
    """Date, sender, subject, folder, attachments, size: the first to go, the least
    telling (highest ``drop``) when the width runs short."""
    return [Column(_("Date"), 10, sort="date-asc", drop=2),
            Column(_("From"), 18, min_width=10, drop=1),
            Column(_("Subject"), sort=None, min_width=16),
            Column(_("Folder"), 14, min_width=8, drop=4),
            Column(_("Att."), 4, "right", numeric=True, drop=5),
            Column(_("Size"), 9, "right", sort="size", numeric=True)]


class MessagesPane(TitledPane):
    """A list of messages; its title says whose, how many and how big."""

    def __init__(self) -> None:
        super().__init__(id="messages-pane", classes="pane")

    def compose(self) -> ComposeResult:
        """The filter field (shown by /) over the table."""
        yield Input(placeholder=_("filter messages by sender or subject…"),
                    id="message-filter", classes="filter")
        yield VirtualTable(message_columns(), id="messages", empty=_("No message here."))

    @property
    def table(self) -> VirtualTable:
        """The messages' table."""
        return self.query_one("#messages", VirtualTable)

    @property
    def field(self) -> Input:
        """The filter field."""
        return self.query_one("#message-filter", Input)

    def clear(self) -> None:
        """No group to show."""
        self.table.set_source(ListSource([], lambda x: ([], "")))
        self.set_title(_("Messages"), lambda name: name)
        self.border_subtitle = ""

    def show(self, messages: MessageList, title: str, cursor: int, keep_scroll: bool,
             subtitle: Text) -> None:
        """Show ``messages`` under ``title`` (with their count and volume), the cursor on
        line ``cursor``; ``subtitle``: the filter and order."""
        self.table.set_source(MessageSource(messages), cursor=cursor, keep_scroll=keep_scroll)
        n, volume = len(messages), size(messages.total_bytes)
        self.set_title(title, lambda name: ngettext(
            "{title} · {n} message, {size}", "{title} · {n} messages, {size}", n).format(
            title=name, n=number(n), size=volume))
        self.border_subtitle = subtitle
