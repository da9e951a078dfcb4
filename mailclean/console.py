"""The terminal consoles every command prints to, and the one-line error exit."""

from __future__ import annotations

import sys
from typing import NoReturn

from rich.console import Console

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a one-line error and exit: the user's mistake or the world's, never a trace."""
    err.print(f"[bold red]mailclean:[/] {message}", markup=True, soft_wrap=True)
    sys.exit(code)
