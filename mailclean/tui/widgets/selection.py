"""The selection bar under the tabs: what is selected, and the keys that act on it."""

from __future__ import annotations

from textual.widgets import Static

from mailclean.i18n import _, ngettext, number, size


class SelectionBar(Static):
    """One line: the selection's size and the keys that act on it, or how to select."""

    def __init__(self) -> None:
        super().__init__("", id="selection-bar", markup=False)

    def show(self, messages: int, volume: int) -> None:
        """``messages`` are selected, ``volume`` bytes in all."""
        if messages:
            self.add_class("active")
            self.update(ngettext(
                "Selected: {n} message · {size}   —   t: to Trash · e: export then Trash · "
                "D: delete for good (from Trash) · c: clear",
                "Selected: {n} messages · {size}   —   t: to Trash · e: export then Trash · "
                "D: delete for good (from Trash) · c: clear", messages).format(
                n=number(messages), size=size(volume)))
        else:
            self.remove_class("active")
            self.update(_("Nothing selected. Space selects a message, a whole group or a "
                          "rule; a selects the whole list."))
