"""The one progress protocol of long jobs (sync, actions, undo, resume).

The library reports progress through a :class:`Progress`; the command line draws a rich bar
(``cli_progress``), the app a dialog (``tui``). The default does nothing, so every callback
is optional. Nothing here imports a display library.
"""

from __future__ import annotations


class Progress:
    """Callbacks for a progress display; the default does nothing."""

    def start(self, messages: int, size: int = 0) -> None:
        """The work starts on ``messages`` messages of ``size`` bytes (0: not known; a
        sync's count is an estimate)."""

    def advance(self, messages: int, size: int = 0) -> None:
        """That many more messages were handled (stored, done or skipped)."""

    def phase(self, text: str) -> None:
        """A step starts ("checking the server", "exporting", ...): plain outside text
        may be in it (a folder's name), the display escapes it."""

    def folder(self, path: str) -> None:
        """A sync reaches a folder."""
        self.phase(path)

    def retry(self, error: str, delay: float) -> None:
        """The connection dropped; another attempt follows in ``delay`` seconds."""
