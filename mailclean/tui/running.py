"""Running a job (sync, an action, undo, finishing an action) in a worker thread behind
the progress dialog, and asking for a password from that thread.

The job is one of :mod:`mailclean.tui.jobs` (plain Python, its own index connection); its
progress reaches the dialog through :class:`ScreenProgress`, its outcome is described with
the same words as the command line's (:mod:`mailclean.wording`), then every list is read
again from the index.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from mailclean import actions, wording
from mailclean import config as cfg
from mailclean.connectors.base import ConnectorError
from mailclean.i18n import _
from mailclean.rules import RuleError
from mailclean.tui import jobs
from mailclean.tui.screens import PasswordScreen, ProgressScreen

if TYPE_CHECKING:
    from mailclean.tui.app import ReviewApp


class JobRunner:
    """One job at a time, in a worker thread, behind the progress dialog."""

    def __init__(self, app: ReviewApp) -> None:
        self.app = app
        self._password: str | None = None

    def start(self, title: str, cancel: threading.Event | None,
              job: Callable[..., jobs.JobResult], clear_selection: bool = False) -> None:
        """Run ``job(progress=...)`` under a progress dialog titled ``title`` (its Cancel
        sets ``cancel``); ``clear_selection``: unselect everything once it has run."""
        app = self.app
        app.busy = True
        screen = ProgressScreen(title, cancel)
        app.push_screen(screen)
        progress = ScreenProgress(app, screen)
        app.run_worker(partial(self._run, job, progress, screen, clear_selection),
                       thread=True, group="job", exclusive=True, exit_on_error=False)

    def _run(self, job: Callable[..., jobs.JobResult], progress: ScreenProgress,
             screen: ProgressScreen, clear_selection: bool) -> None:
        result: jobs.JobResult | None = None
        error: str | None = None
        try:
            result = job(progress=progress)
        except (actions.ActionError, ConnectorError, cfg.ConfigError, RuleError) as exc:
            error = str(exc)
        except Exception as exc:  # a bug must not take the app down with the user's work
            error = f"{type(exc).__name__}: {exc}"
        self.app.call_from_thread(self._done, screen, result, error, clear_selection)

    def _done(self, screen: ProgressScreen, result: jobs.JobResult | None,
              error: str | None, clear_selection: bool) -> None:
        app = self.app
        app.busy = False
        app.last_result, app.last_error = result, error
        lines: list[tuple[str, str]] = []
        phase = None
        if result is not None:
            lines, phase = outcome_lines(result)
        if error:
            lines.append(("error", error))
        if clear_selection and result is not None:
            app.data.clear_selection()
        app.reload_all()
        if screen.is_attached:
            screen.finish(lines, ok=error is None, phase=phase if error is None else None)

    def request_password(self, prompt: str) -> str:
        """Ask for the password in a dialog (called from a worker thread; blocks it); the
        answer is kept for the next jobs."""
        if self._password is not None:
            return self._password
        answer: list[str | None] = []
        done = threading.Event()

        def ask() -> None:
            def got(value: str | None) -> None:
                answer.append(value)
                done.set()

            self.app.push_screen(PasswordScreen(prompt), got)

        self.app.call_from_thread(ask)
        done.wait()
        if not answer or answer[0] is None:
            raise cfg.ConfigError(_("no password given: nothing was done"))
        self._password = answer[0]
        return self._password


def outcome_lines(result: jobs.JobResult) -> tuple[list[tuple[str, str]], str | None]:
    """What the progress dialog says once ``result``'s job has run: (style, text) lines,
    and the phase to show instead of "done" (None: done)."""
    lines: list[tuple[str, str]] = [("dim", note) for note in result.notes]
    phase = None
    if result.done is not None:
        lines += result.done.describe(wording.APP)
    if result.sync is not None and jobs.unchanged(result.sync):
        phase = _("Already up to date")
        lines.append(("bold", _("Already up to date: nothing changed on the server "
                                "since the last sync.")))
        lines.append(("dim", _("{messages}, {size} in {folders}.").format(
            **result.sync.counts())))
    elif result.sync is not None:
        lines.append(("bold", _(
            "{messages}, {size} in {folders}; {new}, {removed}, {flags}.").format(
            **result.sync.counts())))
    if result.sync is not None:
        lines += wording.sync_detail_lines(result.sync)
    return lines, phase


class ScreenProgress(jobs.Progress):
    """Forwards a job's progress from its thread to the progress dialog."""

    def __init__(self, app: ReviewApp, screen: ProgressScreen) -> None:
        self.app = app
        self.screen = screen

    def _call(self, fn: Callable[..., Any], *args: Any) -> None:
        # RuntimeError: the app is closing, nobody is watching any more.
        with contextlib.suppress(RuntimeError):
            self.app.call_from_thread(fn, *args)

    def start(self, messages: int, size: int = 0) -> None:
        """The work starts."""
        self._call(self.screen.set_total, messages, size)

    def advance(self, messages: int, size: int = 0) -> None:
        """More messages were handled."""
        self._call(self.screen.advance, messages, size)

    def phase(self, text: str) -> None:
        """A step starts."""
        self._call(self.screen.set_phase, text)

    def retry(self, error: str, delay: float) -> None:
        """The connection dropped; another attempt follows."""
        self.phase(_("connection lost ({error}); trying again in {delay:.0f} s").format(
            error=error, delay=delay))
