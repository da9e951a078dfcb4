"""Progress bars on stderr (rich): the layout every command's bar shares. Loaded only by
the commands that show one."""

from __future__ import annotations

from collections.abc import Callable

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from mailclean.console import err


class RateColumn(ProgressColumn):
    """A task's speed, worded by ``text`` (speed -> words), blank until there is one."""

    def __init__(self, text: Callable[[float], str]) -> None:
        super().__init__()
        self.text = text

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(self.text(speed), style="cyan") if speed else Text("")


def bar(show: bool, *columns: ProgressColumn) -> Progress:
    """A transient progress bar on stderr (shown when ``show`` and stderr is a terminal):
    description, bar, count, then ``columns`` (by default the elapsed time)."""
    return Progress(
        # Descriptions are folder names and other outside text: never read as markup.
        TextColumn("{task.description}", style="bold", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        *(columns or [TimeElapsedColumn()]),
        console=err,
        transient=True,
        disable=not show or not err.is_terminal,
    )
