"""How long to keep trying a server that fails: attempts with backoff, within a deadline.

A dead server must not hold a person for minutes: every sync and action gives up once
``deadline`` seconds have passed without progress (a batch stored, a batch acted on),
whatever the number of attempts left. Progress starts the count again, so a long sync
over a link that drops now and then goes on as long as it moves forward.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from mailclean.i18n import _, number

#: Seconds without progress after which a sync or an action gives up on the server.
DEFAULT_DEADLINE = 120.0
#: Seconds a single read may wait for the server before the connection counts as dead.
DEFAULT_TIMEOUT = 30.0


@dataclass
class Network:
    """The waits in force in this process: the defaults, or the config's ``[settings]``
    ``timeout`` and ``deadline`` (set once at start by the command line)."""

    timeout: float = DEFAULT_TIMEOUT
    deadline: float = DEFAULT_DEADLINE


NETWORK = Network()


def configure(*, timeout: float | None = None, deadline: float | None = None) -> None:
    """Set the waits of this process (None keeps the default)."""
    NETWORK.timeout = DEFAULT_TIMEOUT if timeout is None else float(timeout)
    NETWORK.deadline = DEFAULT_DEADLINE if deadline is None else float(deadline)


@dataclass
class Retrier:
    """Counts failures since the last progress and decides whether to try again."""

    attempts: int = 4
    """Reconnections in a row (without progress in between) before giving up."""
    backoff: float = 1.0
    """First pause in seconds; each further attempt doubles it."""
    deadline: float = field(default_factory=lambda: NETWORK.deadline)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] | None = None
    """Seconds, monotonic (``time.monotonic`` unless given)."""
    failures: int = 0
    last_progress: float = field(default=0.0)
    first_failure_at: datetime | None = None
    """Wall-clock time of the first failure since the last progress: when the server
    stopped answering, for the message the user reads."""

    def __post_init__(self) -> None:
        self.last_progress = self._now()

    def _now(self) -> float:
        return (self.clock or time.monotonic)()

    def progress(self) -> None:
        """Something was achieved: failures so far no longer count."""
        self.failures = 0
        self.first_failure_at = None
        self.last_progress = self._now()

    def idle(self) -> float:
        """Seconds since the last progress."""
        return self._now() - self.last_progress

    def remaining(self) -> float:
        """Seconds left before the deadline (never negative)."""
        return max(0.0, self.deadline - (self._now() - self.last_progress))

    def again(self) -> float | None:
        """A failure happened: the pause before the next attempt, or None to give up."""
        if self.first_failure_at is None:
            self.first_failure_at = datetime.now().astimezone()
        self.failures += 1
        if self.failures > self.attempts:
            return None
        delay = self.backoff * 2.0 ** (self.failures - 1)
        if delay >= self.remaining():
            return None
        return delay

    def wait(self, delay: float) -> None:
        """Pause before the next attempt."""
        self.sleep(delay)

    def stopped_at(self) -> str:
        """"14:02" (local time) of the first failure since the last progress."""
        at = self.first_failure_at or datetime.now().astimezone()
        return at.strftime("%H:%M")


class Watchdog:
    """Breaks the connection when nothing has progressed for the deadline and one read's
    timeout more: a server that trickles bytes never lets a single read time out, so
    without this a sync or an action would wait on it for ever.

    Used as a context manager around the work the :class:`Retrier` counts progress for;
    ``abort`` (the connector's) must make a blocked call return with ConnectionFailed.
    The retrier then finds its deadline passed and gives up; :attr:`fired` tells the
    message which cause to name.
    """

    def __init__(
        self,
        retrier: Retrier,
        abort: Callable[[], None],
        *,
        grace: float | None = None,
        interval: float | None = None,
    ) -> None:
        self.retrier = retrier
        self.abort = abort
        self.grace = NETWORK.timeout if grace is None else grace
        limit = retrier.deadline + self.grace
        self.interval = interval if interval is not None else min(1.0, max(0.05, limit / 20))
        self.fired = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start watching (in a daemon thread); idempotent."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._watch, name="mailclean-watchdog",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop watching; idempotent."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    def __enter__(self) -> Watchdog:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _watch(self) -> None:
        aborted_at: float | None = None
        while not self._stop.wait(self.interval):
            since = self.retrier.last_progress
            if aborted_at == since:
                continue  # already broken for this stall; progress re-arms it
            if self.retrier.idle() >= self.retrier.deadline + self.grace:
                aborted_at = since
                self.fired = True
                self.abort()


def too_slow(retrier: Retrier) -> str:
    """Why a connection the :class:`Watchdog` broke was given up, in words."""
    return _("the server answers too slowly: nothing could be completed in {seconds} s").format(
        seconds=number(round(retrier.deadline)))
