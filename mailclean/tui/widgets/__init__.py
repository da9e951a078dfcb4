"""The review app's widgets: the table every list is drawn with, and the panes.

- :mod:`.columns`: columns that give way when the width runs short, bars, small tables;
- :mod:`.table`: :class:`VirtualTable`, a table of any length on the Line API;
- the panes, one module each, fed by :mod:`mailclean.tui.data`: :mod:`.overview` (the
  Overview tab and the title bar), :mod:`.review` (the Review tab: the rules, then
  :mod:`.groups`, :mod:`.messages` and :mod:`.details`), :mod:`.journal` (the Journal
  tab), :mod:`.selection` (the selection bar); :mod:`.rules` and :mod:`.titles` hold what
  several panes share.

Only the table's names are re-exported here (``from mailclean.tui.widgets import
VirtualTable``); the panes are imported from their modules.
"""

from __future__ import annotations

from mailclean.tui.widgets.columns import (
    MIN_NAME,
    Cell,
    Column,
    PlannedTable,
    bar,
    fit,
    plan_widths,
)
from mailclean.tui.widgets.table import ListSource, Source, VirtualTable

__all__ = ["MIN_NAME", "Cell", "Column", "ListSource", "PlannedTable", "Source",
           "VirtualTable", "bar", "fit", "plan_widths"]
