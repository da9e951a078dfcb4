"""The terminal consoles every command prints to, and the one-line error exit.

Outside text (subjects, names, folders, server messages, the user's own files) is never
read as markup and never reaches the terminal with its control characters: both consoles
print without markup unless a call asks for it (and then places outside text through
:func:`mailclean.safetext.markup`), and every string they render, table cells included,
goes through :func:`mailclean.safetext.plain` first.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

from rich.console import Console
from rich.text import Text

from mailclean.safetext import markup, plain


class SafeConsole(Console):
    """A rich console that strips control characters from every string it renders."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        """Render ``text`` (markup only where the caller asked), control characters out."""
        return super().render_str(plain(text, one_line=False), **kwargs)


err = SafeConsole(stderr=True, highlight=False, soft_wrap=True, markup=False)
out = SafeConsole(highlight=False, soft_wrap=True, markup=False)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a one-line error and exit: the user's mistake or the world's, never a trace."""
    err.print(f"[bold red]mailclean:[/] {markup(message, one_line=False)}", markup=True,
              soft_wrap=True)
    sys.exit(code)
