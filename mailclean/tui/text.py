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
