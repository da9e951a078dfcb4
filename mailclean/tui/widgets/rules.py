"""The rules as the Overview (with bars) and the Review (without) list them."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mailclean.i18n import _, number, size
from mailclean.safetext import plain
from mailclean.tui.data import RuleFigures
from mailclean.tui.widgets.columns import Column, bar
from mailclean.tui.widgets.table import ListSource

#: Whether a rule is selected: "selected" (all of it), "partial" (some) or "".
RuleHint = Callable[[RuleFigures], str]


def rule_columns(bars: bool = True, longest: int = 0) -> list[Column]:
    """Rule, messages, size (and a bar); ``longest``: the widest title, in cells."""
    # When the width runs short, names are shortened first, then the columns with a
    # ``drop`` rank go (highest first); numbers are never cut (see plan_widths). With
    # bars, the titles keep up to 30 cells before the bars give way.
    cols = [Column(_("Rule"), min_width=max(16, min(longest, 30) if bars else 0)),
            Column(_("Msgs"), 7, "right", numeric=True),
            Column(_("Size"), 9, "right", numeric=True)]
    return [*cols, Column("", 10, drop=1)] if bars else cols


def rule_source(figures: Sequence[RuleFigures], hint: RuleHint,
                biggest: int | None = None) -> ListSource:
    """The rules' lines, with a bar scaled to ``biggest`` bytes when given."""
    if biggest is None:
        return ListSource(figures, lambda r: (
            [plain(r.title), number(r.messages), size(r.bytes)], hint(r)))
    return ListSource(figures, lambda r: (
        [plain(r.title), number(r.messages), size(r.bytes), bar(r.bytes / biggest, 10)],
        hint(r)))
