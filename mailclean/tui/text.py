"""Translation helpers for what textual declares at import time (key bindings).

``BINDINGS`` are class attributes, built before the language is chosen: they hold the
English text marked with :func:`N_` (which ``pybabel extract`` collects by default), and
:class:`TranslatedBindings` translates them when a widget or screen is created.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from textual.binding import Binding, BindingsMap

from mailclean.i18n import _


def N_(message: str) -> str:
    """Mark ``message`` for translation without translating it now."""
    return message


def translate_bindings(bindings: BindingsMap) -> BindingsMap:
    """A copy of ``bindings`` with descriptions and tooltips in the active language."""
    keys: dict[str, list[Binding]] = {}
    for key, items in bindings.key_to_bindings.items():
        keys[key] = [
            replace(b, description=_(b.description) if b.description else "",
                    tooltip=_(b.tooltip) if b.tooltip else "")
            for b in items
        ]
    return BindingsMap.from_keys(keys)


class TranslatedBindings:
    """Mixin for textual DOM nodes: their bindings' texts in the active language."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._bindings = translate_bindings(self._bindings)  # type: ignore[has-type]


#: Keys as the footer and the help name them: one word each, in the active language.
KEY_NAMES = {
    "space": N_("Space"),
    "enter": N_("Enter"),
    "escape": N_("Escape"),
    "tab": N_("Tab"),
    "shift+tab": N_("Shift+Tab"),
    "delete": N_("Del"),
    "pageup": N_("PgUp"),
    "pagedown": N_("PgDn"),
    "home": N_("Home"),
    "end": N_("End"),
}
_SYMBOLS = {"up": "↑", "down": "↓", "left": "←", "right": "→", "question_mark": "?",
            "slash": "/"}


def key_name(key: str) -> str:
    """How ``key`` (a textual key name: "space", "pageup", "question_mark"…) is called."""
    if key in KEY_NAMES:
        return _(KEY_NAMES[key])
    return _SYMBOLS.get(key, key)


def keys_text(keys: str) -> str:
    """A help line's keys ("space", "up down  j k") named as :func:`key_name` does; two
    spaces between groups of keys stay."""
    return "  ".join(" ".join(key_name(k) for k in group.split())
                     for group in keys.split("  "))
