"""What the panes share for their border titles: outside text made safe, the sort and
filter line, and a pane whose title keeps its figures when the width runs short."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.containers import Vertical

from mailclean.i18n import _
from mailclean.safetext import plain
from mailclean.tui.data import sort_label
from mailclean.tui.widgets.columns import fit


def safe(text: str) -> Text:
    """Outside text for a border title: control characters replaced, never read as
    markup (a plain string there would be)."""
    return Text(plain(text))


def filter_subtitle(text: str, sort: str) -> Text:
    """A list's border subtitle: its filter (if any) and its order."""
    parts = [sort_label(sort)]
    if text:
        parts.insert(0, _("filter: {text}").format(text=text))
    return safe(" · ".join(parts))


class TitledPane(Vertical):
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
        self.border_title = safe(template(name))

    def on_resize(self, event: events.Resize) -> None:
        """Fit the title to the new width."""
        self._fit_title()
