"""A table of any length on textual's Line API: :class:`VirtualTable` draws only the lines
on screen and asks its :class:`Source` for those rows, so a list of a million messages
costs what its visible page costs. Its columns are laid out by
:func:`~mailclean.tui.widgets.columns.plan_widths`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Protocol

from rich.cells import cell_len
from rich.segment import Segment
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from mailclean.safetext import plain
from mailclean.tui.text import N_, TranslatedBindings
from mailclean.tui.widgets.columns import Column, fit, plan_widths


class Source(Protocol):
    """What a VirtualTable shows: a length and, per line, its cells."""

    def __len__(self) -> int: ...

    def cells(self, index: int) -> tuple[Sequence[str], str]:
        """The texts of line ``index`` and a style hint ("", "selected", "partial", "dim")."""
        ...


class ListSource:
    """A Source over a Python list, with a function that turns an item into cells."""

    def __init__(self, items: Sequence[Any],
                 render: Callable[[Any], tuple[Sequence[str], str]]) -> None:
        self.items = items
        self.render = render

    def __len__(self) -> int:
        return len(self.items)

    def cells(self, index: int) -> tuple[Sequence[str], str]:
        """The cells of item ``index``."""
        return self.render(self.items[index])


class VirtualTable(TranslatedBindings, ScrollView, can_focus=True):
    """A table of any length drawn line by line from a :class:`Source`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", N_("Up"), show=False),
        Binding("down,j", "cursor(1)", N_("Down"), show=False),
        Binding("pageup", "page(-1)", N_("Page up"), show=False),
        Binding("pagedown", "page(1)", N_("Page down"), show=False),
        Binding("home,g", "first", N_("First"), show=False),
        Binding("end,G", "last", N_("Last"), show=False),
        Binding("enter", "activate", N_("Open"), show=False),
        Binding("space", "toggle_line", N_("Select"), show=True),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "vt--header", "vt--cursor", "vt--selected", "vt--partial", "vt--dim", "vt--empty",
    }

    DEFAULT_CSS = """
    VirtualTable {
        height: 1fr;
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-size-vertical: 1;
    }
    VirtualTable > .vt--header { text-style: bold; color: $text-muted; }
    VirtualTable > .vt--cursor { background: $surface-lighten-2; }
    VirtualTable:focus > .vt--cursor { background: $accent 40%; text-style: bold; }
    VirtualTable > .vt--selected { color: $warning; }
    VirtualTable > .vt--partial { color: $warning 70%; }
    VirtualTable > .vt--dim { color: $text-disabled; }
    VirtualTable > .vt--empty { color: $text-muted; text-style: italic; }
    """

    cursor: reactive[int] = reactive(0, always_update=True, init=False)

    class Highlighted(Message):
        """The cursor moved to ``index``."""

        def __init__(self, table: VirtualTable, index: int) -> None:
            super().__init__()
            self.table = table
            self.index = index

        @property
        def control(self) -> VirtualTable:
            """The table."""
            return self.table

    class Activated(Highlighted):
        """Enter or a double click on line ``index``."""

    class Toggled(Highlighted):
        """Space on line ``index`` (select or unselect it)."""

    class SortRequested(Message):
        """A click on the header of a sortable column."""

        def __init__(self, table: VirtualTable, sort: str) -> None:
            super().__init__()
            self.table = table
            self.sort = sort

        @property
        def control(self) -> VirtualTable:
            """The table."""
            return self.table

    def __init__(self, columns: Sequence[Column], *, empty: str = "",
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.columns = list(columns)
        self.source: Source = ListSource([], lambda item: ((), ""))
        self.empty = empty
        self.marker_width = 2
        self.on_toggle: Callable[[int], None] | None = None
        """Called at once by Space (else a Toggled message is posted): keys typed right
        after Space then see the selection it made."""
        self._version = 0
        self._plan: tuple[tuple[int, int, int], list[int]] | None = None

    # -- data -------------------------------------------------------------------------

    def set_source(self, source: Source, *, cursor: int = 0, keep_scroll: bool = False) -> None:
        """Show ``source``; the cursor goes to ``cursor`` (clamped)."""
        self.source = source
        self._version += 1
        self._update_virtual_size()
        n = len(source)
        if not keep_scroll:
            self.scroll_to(y=0, animate=False, immediate=True)
        self.cursor = max(0, min(cursor, n - 1)) if n else 0
        self.refresh()

    def set_columns(self, columns: Sequence[Column]) -> None:
        """Change the columns (a rule grouping by thread shows other ones)."""
        self.columns = list(columns)
        self._version += 1
        self.refresh()

    def refresh_rows(self) -> None:
        """Redraw the visible lines (their data changed, not their number)."""
        self._version += 1
        self.refresh()

    def _update_virtual_size(self) -> None:
        self.virtual_size = Size(self.size.width, len(self.source) + 1)

    def on_resize(self, event: events.Resize) -> None:
        """Keep the virtual size's width in step with the widget."""
        self._update_virtual_size()

    # -- geometry ---------------------------------------------------------------------

    @property
    def page_height(self) -> int:
        """Rows on screen (the header takes a line)."""
        return max(1, self.scrollable_content_region.height - 1)

    def _widths(self, total: int) -> list[int]:
        """The columns' widths for ``total`` cells (0: left out), numbers sized to the
        widest value on screen."""
        top = int(self.scroll_offset.y)
        key = (total, top, self._version)
        if self._plan is not None and self._plan[0] == key:
            return self._plan[1]
        measured = [0] * len(self.columns)
        numeric = [i for i, c in enumerate(self.columns) if c.numeric]
        if numeric:
            for index in range(top, min(len(self.source), top + self.page_height)):
                cells = self.source.cells(index)[0]
                for i in numeric:
                    if i < len(cells):
                        measured[i] = max(measured[i], cell_len(plain(cells[i])))
        widths = plan_widths(self.columns, total - self.marker_width, measured)
        self._plan = (key, widths)
        return widths

    def _join(self, texts: Sequence[str], widths: Sequence[int]) -> str:
        return " ".join(fit(str(t), w, c.align) for t, c, w in
                        zip(texts, self.columns, widths, strict=False) if w)

    # -- drawing ----------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        """Line ``y`` of the widget: the header, a row, or blank."""
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            style = base + self.get_component_rich_style("vt--header")
            widths = self._widths(width)
            text = " " * self.marker_width + self._join([c.title for c in self.columns],
                                                        widths)
            return Strip([Segment(fit(text, width), style)], width)
        n = len(self.source)
        index = int(self.scroll_offset.y) + y - 1
        if n == 0:
            if y == 1 and self.empty:
                style = base + self.get_component_rich_style("vt--empty")
                return Strip([Segment(fit("  " + self.empty, width), style)], width)
            return Strip.blank(width, base)
        if index >= n:
            return Strip.blank(width, base)
        cells, hint = self.source.cells(index)
        style = base
        marker = "  "
        if hint == "selected":
            style = style + self.get_component_rich_style("vt--selected")
            marker = "● "
        elif hint == "partial":
            style = style + self.get_component_rich_style("vt--partial")
            marker = "◐ "
        elif hint == "dim":
            style = style + self.get_component_rich_style("vt--dim")
        if index == self.cursor:
            style = style + self.get_component_rich_style("vt--cursor")
            marker = (marker[0] if marker.strip() else "›") + " "
        text = marker + self._join(cells, self._widths(width))
        return Strip([Segment(fit(text, width), style)], width)

    # -- cursor -----------------------------------------------------------------------

    def watch_cursor(self, old: int, new: int) -> None:
        """Keep the cursor on screen and say where it is."""
        self._scroll_to_cursor()
        self.refresh()
        self.post_message(self.Highlighted(self, new))

    def _scroll_to_cursor(self) -> None:
        top = int(self.scroll_offset.y)
        page = self.page_height
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + page:
            self.scroll_to(y=self.cursor - page + 1, animate=False, immediate=True)

    def move_to(self, index: int) -> None:
        """Put the cursor on line ``index`` (clamped)."""
        n = len(self.source)
        self.cursor = max(0, min(index, n - 1)) if n else 0

    def action_cursor(self, delta: int) -> None:
        """Move the cursor by ``delta`` lines."""
        self.move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        """Move a page up or down, the page scrolling with it."""
        page = self.page_height
        n = len(self.source)
        if not n:
            return
        target = max(0, min(self.cursor + direction * page, n - 1))
        top = max(0, min(int(self.scroll_offset.y) + direction * page, max(0, n - page)))
        self.scroll_to(y=top, animate=False, immediate=True)
        self.cursor = target

    def action_first(self) -> None:
        """Go to the first line."""
        self.move_to(0)

    def action_last(self) -> None:
        """Go to the last line."""
        self.move_to(len(self.source) - 1)

    def action_activate(self) -> None:
        """Open the line under the cursor."""
        if len(self.source):
            self.post_message(self.Activated(self, self.cursor))

    def action_toggle_line(self) -> None:
        """Select or unselect the line under the cursor (not ``action_toggle``: textual's
        DOMNode has one, toggling an attribute)."""
        if len(self.source):
            self._toggle(self.cursor)

    def _toggle(self, index: int) -> None:
        if self.on_toggle is not None:
            self.on_toggle(index)
        else:
            self.post_message(self.Toggled(self, index))

    # -- mouse ------------------------------------------------------------------------

    def on_click(self, event: events.Click) -> None:
        """A click on a row moves the cursor there (twice: opens it); on a header, sorts."""
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            x = offset.x - self.marker_width
            for column, w in zip(self.columns, self._widths(
                    self.scrollable_content_region.width), strict=True):
                if not w:
                    continue
                if 0 <= x < w + 1:
                    if column.sort:
                        self.post_message(self.SortRequested(self, column.sort))
                    return
                x -= w + 1
            return
        index = int(self.scroll_offset.y) + offset.y - 1
        if 0 <= index < len(self.source):
            if offset.x < self.marker_width:
                self.cursor = index
                self._toggle(index)
            elif event.chain >= 2 and index == self.cursor:
                self.post_message(self.Activated(self, index))
            else:
                self.cursor = index

