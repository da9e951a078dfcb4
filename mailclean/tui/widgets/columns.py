"""Columns that give way when the width runs short, and the small tables and bars drawn
with them.

:func:`plan_widths` lays out the columns of a :class:`~mailclean.tui.widgets.table.VirtualTable`
and of a :class:`PlannedTable`: when the width runs short, names are shortened (with an
ellipsis) and low-value columns are dropped, numbers never cut. Plain rich renderables: no
textual here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.style import Style
from rich.text import Text

from mailclean.safetext import plain

#: The narrowest a name column gets before other columns are dropped for it.
MIN_NAME = 8


@dataclass(frozen=True, slots=True)
class Column:
    """A column: its title, width (None: takes what is left) and alignment."""

    title: str
    width: int | None = None
    align: str = "left"
    sort: str | None = None
    """The sort this column's header asks for when clicked (None: not sortable)."""
    min_width: int | None = None
    """How narrow a text column may get, its text ellipsised, when the width runs short
    (default: ``width``, or :data:`MIN_NAME` for a column that takes what is left)."""
    drop: int = 0
    """0: always shown; otherwise the column is left out when even the narrowest widths
    do not fit, the highest ``drop`` first."""
    numeric: bool = False
    """A figure: never cut; the column is as wide as its widest value (and its title)."""


def plan_widths(columns: Sequence[Column], available: int,
                measured: Sequence[int] = ()) -> list[int]:
    """Each column's width for ``available`` cells (one between columns); 0: left out.

    ``measured[i]`` is the widest value of column ``i`` (used for numeric columns, which
    are never narrower than it). In order, as the width shrinks: every column at its
    ``width`` and the others sharing what is left; text columns shortened towards their
    ``min_width``; droppable columns left out, highest ``drop`` first; as a last resort
    text columns below their minimum. Numbers are never cut.
    """
    n = len(columns)
    measured = list(measured) + [0] * (n - len(measured))
    lows: list[int] = []
    prefs: list[int] = []
    for c, m in zip(columns, measured, strict=True):
        if c.numeric:
            low = max(m, cell_len(c.title))
            lows.append(low)
            prefs.append(max(low, c.width or 0))
        elif c.width is None:
            low = MIN_NAME if c.min_width is None else c.min_width
            lows.append(low)
            prefs.append(low)
        else:
            lows.append(c.width if c.min_width is None else min(c.width, c.min_width))
            prefs.append(c.width)

    def need(shown: list[int], widths: Sequence[int]) -> int:
        return sum(widths[i] for i in shown) + max(0, len(shown) - 1)

    shown = list(range(n))
    droppable = sorted((i for i in shown if columns[i].drop),
                       key=lambda i: (-columns[i].drop, -i))
    while need(shown, lows) > available and droppable:
        shown.remove(droppable.pop(0))
    widths = [0] * n
    if need(shown, prefs) <= available:
        for i in shown:
            widths[i] = prefs[i]
        flex = [i for i in shown if columns[i].width is None and not columns[i].numeric]
        if flex:
            share = (available - need(shown, prefs)) // len(flex)
            for i in flex:
                widths[i] += share
        return widths
    for i in shown:
        widths[i] = lows[i]
    if need(shown, lows) <= available:
        # Between the minimum and the preferred widths: each column gives up a share of
        # what it could spare, so no single name is cut to nothing.
        spare = available - need(shown, lows)
        slack = {i: prefs[i] - lows[i] for i in shown}
        total = sum(slack.values())
        given = 0
        for i in shown:
            extra = slack[i] * spare // total if total else 0
            widths[i] += extra
            given += extra
        for i in sorted(shown, key=lambda i: -(prefs[i] - widths[i])):
            if given >= spare:
                break
            if widths[i] < prefs[i]:
                widths[i] += 1
                given += 1
        return widths
    # Too narrow even for that: names give way, down to a cell, before any number does.
    excess = need(shown, lows) - available
    for i in sorted((i for i in shown if not columns[i].numeric), key=lambda i: -lows[i]):
        cut = min(excess, widths[i] - 1)
        widths[i] -= cut
        excess -= cut
        if not excess:
            break
    return widths


def fit(text: str, width: int, align: str = "left") -> str:
    """``text`` on one line without control characters, cut (with an ellipsis) or padded
    to exactly ``width`` cells."""
    if width <= 0:
        return ""
    text = plain(text)
    if cell_len(text) > width:
        return set_cell_size(text, width - 1) + "…"
    pad = width - cell_len(text)
    return " " * pad + text if align == "right" else text + " " * pad


def bar(share: float, width: int) -> str:
    """A horizontal bar of ``width`` cells filled to ``share`` (eighths of a cell)."""
    share = min(max(share, 0.0), 1.0)
    eighths = round(share * width * 8)
    full, rest = divmod(eighths, 8)
    partial = " ▏▎▍▌▋▊▉"[rest] if rest else ""
    return ("█" * full + partial).ljust(width)


Cell = str | tuple[str, str]
"""A cell's text, or its text and a rich style."""


class PlannedTable:
    """A small table (a header and every row) laid out for the width it is drawn in.

    A rich renderable: where a rich ``Table`` would cut numbers or wrap them, its columns
    give way as :func:`plan_widths` says. Cells are plain text, never markup.
    """

    def __init__(self, columns: Sequence[Column], rows: Sequence[Sequence[Cell]], *,
                 header_style: str = "bold") -> None:
        self.columns = list(columns)
        self.rows = [list(r) for r in rows]
        self.header_style = header_style

    @staticmethod
    def _text(cell: Cell) -> tuple[str, str]:
        return (cell, "") if isinstance(cell, str) else cell

    def widths(self, available: int) -> list[int]:
        """The columns' widths (0: left out) in ``available`` cells."""
        measured = [0] * len(self.columns)
        for row in self.rows:
            for i, cell in enumerate(row[:len(measured)]):
                measured[i] = max(measured[i], cell_len(plain(self._text(cell)[0])))
        return plan_widths(self.columns, available, measured)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """The header and the rows, one line each."""
        widths = self.widths(options.max_width)
        header = Text(style=self.header_style, no_wrap=True)
        header.append(" ".join(fit(c.title, w, c.align)
                               for c, w in zip(self.columns, widths, strict=True) if w))
        yield header
        for row in self.rows:
            line = Text(no_wrap=True)
            first = True
            for cell, c, w in zip(row, self.columns, widths, strict=False):
                if not w:
                    continue
                if not first:
                    line.append(" ")
                first = False
                text, style = self._text(cell)
                line.append(fit(text, w, c.align), Style.parse(style) if style else None)
            yield line

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        """As wide as it is given."""
        return Measurement(1, options.max_width)


