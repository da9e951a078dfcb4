"""The progress bars of syncs and actions on the command line, loaded only by the commands
that show one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import Progress, TimeElapsedColumn

from mailclean.bars import RateColumn, bar
from mailclean.i18n import _, rate
from mailclean.progress import Progress as JobProgress
from mailclean.safetext import plain


class RichSyncProgress(JobProgress):
    """A rich progress bar on stderr: folder, bar, count, messages/s, elapsed."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task = progress.add_task(_("connecting"), total=None)

    def start(self, messages: int, size: int = 0) -> None:
        self.progress.update(self.task, total=max(messages, 1), completed=0)

    def folder(self, path: str) -> None:
        self.progress.update(self.task, description=plain(path))

    def advance(self, messages: int, size: int = 0) -> None:
        self.progress.advance(self.task, messages)

    def retry(self, error: str, delay: float) -> None:
        self.progress.console.print(
            _("connection lost ({error}); trying again in {delay:.0f} s").format(
                error=error, delay=delay
            )
        )


class RichActionProgress(JobProgress):
    """A progress bar on stderr for an action: step, bar, messages, volume, elapsed."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task = progress.add_task(_("checking the server"), total=None)

    def start(self, messages: int, size: int = 0) -> None:
        self.progress.update(self.task, total=max(messages, 1), completed=0)

    def advance(self, messages: int, size: int = 0) -> None:
        self.progress.advance(self.task, messages)

    def phase(self, text: str) -> None:
        self.progress.update(self.task, description=plain(text))


@contextmanager
def sync_progress(show: bool) -> Iterator[RichSyncProgress]:
    """A sync's progress bar, with its speed in messages per second."""
    speed = RateColumn(lambda speed: _("{rate} msg/s").format(rate=rate(speed)))
    with bar(show, speed, TimeElapsedColumn()) as progress:
        yield RichSyncProgress(progress)


@contextmanager
def action_progress(show: bool) -> Iterator[RichActionProgress]:
    """An action's progress bar."""
    with bar(show) as progress:
        yield RichActionProgress(progress)
