"""Running a snapshot: many mailboxes, a few at a time, each bounded in time, none fatal.

The queue is the snapshot itself: its mailboxes wait as ``pending`` rows in the store, read
page by page, and each result is written as soon as it comes, so memory does not grow with
the number of mailboxes and an interrupted run resumes where it stopped. Worker threads only
measure; the calling thread does every write, the watchdog (attempts past their deadline
get their connection shut down) and the progress callbacks.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from mailclean.connectors.base import AuthenticationError, ConnectorError
from mailclean.i18n import _
from mailclean.snapshot.measure import Aborted, Attempt, MeasureError, retryable
from mailclean.snapshot.store import (
    MailboxFigures,
    PendingMailbox,
    SnapshotError,
    SnapshotStore,
    UnreadableFolder,
)

#: How a mailbox is measured: given the mailbox and the attempt (deadline, abort hook).
Measure = Callable[[PendingMailbox, Attempt], MailboxFigures]

#: How often the watchdog looks at the attempts in flight, in seconds.
TICK = 0.2
#: Pending mailboxes read from the store at a time.
PAGE = 200


@dataclass
class RunOptions:
    """Limits of a run."""

    concurrency: int = 8
    """Mailboxes measured at the same time: a handful of connections is gentle on one
    server and enough to hide its latency."""
    timeout: float = 120.0
    """Seconds one attempt at one mailbox may take."""
    retries: int = 2
    """Further attempts after a failure that may be passing (connection, timeout)."""
    backoff: float = 2.0
    """Seconds before the first retry; doubled each time, with some jitter."""
    stop_after_refused: int | None = 5
    """Stop the run when this many first mailboxes all refused the login: the admin
    credentials are wrong, and trying hundreds more could lock the account."""


class SnapshotProgress:
    """Callbacks for a progress display; the default does nothing."""

    def start(self, total: int, done: int) -> None:
        """The run starts: ``done`` of ``total`` mailboxes were measured before."""

    def mailbox(self, mailbox: str, ok: bool, error: str | None) -> None:
        """One mailbox is finished, measured or failed."""

    def unreadable(self, mailbox: str, folders: list[UnreadableFolder]) -> None:
        """A mailbox was measured in part: these folders could not be read. Their names
        are for the admin's eyes only: the snapshot stores none."""


@dataclass
class RunSummary:
    """What a run did."""

    measured: int = 0
    failed: int = 0
    partial: int = 0
    """Measured in part (counted in ``measured`` too): some folders could not be read."""
    seconds: float = 0.0


class LoginsRefused(SnapshotError):
    """The first mailboxes all refused the login: the run was stopped."""


@dataclass
class _Outcome:
    entry: PendingMailbox
    figures: MailboxFigures | None = None
    error: str | None = None
    attempts: int = 0
    seconds: float = 0.0
    refused: bool = False
    interrupted: bool = False


class _Attempts:
    """The attempts in flight, shared by the workers and the watchdog."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.current: dict[int, Attempt] = {}

    def add(self, key: int, attempt: Attempt) -> None:
        with self.lock:
            self.current[key] = attempt

    def remove(self, key: int) -> None:
        with self.lock:
            self.current.pop(key, None)

    def overdue(self, now: float) -> None:
        with self.lock:
            late = [a for a in self.current.values() if now > a.deadline]
        for attempt in late:
            attempt.abort("timeout")

    def abort_all(self) -> None:
        with self.lock:
            everyone = list(self.current.values())
        for attempt in everyone:
            attempt.abort("interrupted")


def _measure_one(
    entry: PendingMailbox,
    measure: Measure,
    options: RunOptions,
    attempts: _Attempts,
    stop: threading.Event,
) -> _Outcome:
    started = time.monotonic()
    outcome = _Outcome(entry)
    for n in range(1, options.retries + 2):
        if stop.is_set():
            outcome.interrupted = True
            return outcome
        outcome.attempts = n
        attempt = Attempt(time.monotonic() + options.timeout, time.monotonic)
        attempts.add(entry.id, attempt)
        again = False
        try:
            outcome.figures = measure(entry, attempt)
            outcome.error = None
            break
        except Aborted:
            if stop.is_set():
                outcome.interrupted = True
                return outcome
            outcome.error = _("no complete answer within {seconds:g} s").format(
                seconds=options.timeout
            )
            again = True
        except MeasureError as exc:
            outcome.error = str(exc)
            outcome.refused = isinstance(exc.__cause__, AuthenticationError)
            again = exc.retryable
        except ConnectorError as exc:
            outcome.error = str(exc)
            outcome.refused = isinstance(exc, AuthenticationError)
            again = retryable(exc)
        except Exception as exc:  # a bug must cost one mailbox, not the run
            outcome.error = _("internal error: {error}").format(
                error=f"{type(exc).__name__}: {exc}"[:300]
            )
        finally:
            attempts.remove(entry.id)
        if not again or n > options.retries:
            break
        delay = options.backoff * 2 ** (n - 1) * random.uniform(0.75, 1.25)
        if stop.wait(delay):
            outcome.interrupted = True
            return outcome
    outcome.seconds = time.monotonic() - started
    return outcome


def run(
    store: SnapshotStore,
    snapshot_id: int,
    measure: Measure,
    options: RunOptions | None = None,
    progress: SnapshotProgress | None = None,
) -> RunSummary:
    """Measure every pending mailbox of a snapshot and record each result as it comes.

    A mailbox that fails is recorded with its error and the run goes on. On an interruption
    (Ctrl-C, or any exception raised by a progress callback) the attempts in flight are
    stopped, the snapshot is marked interrupted, and the exception propagates: the mailboxes
    not recorded stay pending for ``--resume``. Raises LoginsRefused when the first mailboxes
    all refuse the login (see :attr:`RunOptions.stop_after_refused`).
    """
    options = options or RunOptions()
    progress = progress or SnapshotProgress()
    summary = RunSummary()
    started = time.monotonic()
    counts = store.conn.execute(
        "SELECT count(*), coalesce(sum(state != 'pending'), 0) FROM snapshot_mailboxes"
        " WHERE snapshot_id = ?",
        [snapshot_id],
    ).fetchone()
    store.set_state(snapshot_id, "running")
    progress.start(int(counts[0]), int(counts[1]))
    running = _Run(store, snapshot_id, measure, options, progress, summary)
    in_flight = running.in_flight
    try:
        while True:
            running.fill()
            if not in_flight:
                break
            finished, _pending = wait(in_flight, timeout=TICK, return_when=FIRST_COMPLETED)
            running.attempts.overdue(time.monotonic())
            for future in finished:
                in_flight.pop(future)
                outcome = future.result()
                if outcome.interrupted:
                    continue
                running.finish(outcome)
    except BaseException:
        running.interrupt()
        raise
    running.executor.shutdown(wait=True)
    left = store.conn.execute(
        "SELECT count(*) FROM snapshot_mailboxes WHERE snapshot_id = ? AND state = 'pending'",
        [snapshot_id],
    ).fetchone()[0]
    store.set_state(snapshot_id, "complete" if left == 0 else "interrupted")
    summary.seconds = time.monotonic() - started
    return summary


class _Run:
    """What one run shares between its loop and its interruption: the pending mailboxes
    read page by page, the pool and the attempts in flight, and what was recorded."""

    def __init__(
        self,
        store: SnapshotStore,
        snapshot_id: int,
        measure: Measure,
        options: RunOptions,
        progress: SnapshotProgress,
        summary: RunSummary,
    ) -> None:
        self.store = store
        self.snapshot_id = snapshot_id
        self.measure = measure
        self.options = options
        self.progress = progress
        self.summary = summary
        self.attempts = _Attempts()
        self.stop = threading.Event()
        self.buffer: deque[PendingMailbox] = deque()
        self.cursor = 0
        self.exhausted = False
        self.refused_first = 0
        self.recorded = 0
        self.in_flight: dict[Future[_Outcome], PendingMailbox] = {}
        self.executor = ThreadPoolExecutor(
            max_workers=max(1, options.concurrency), thread_name_prefix="mailclean-snapshot"
        )

    def next_entry(self) -> PendingMailbox | None:
        """The next pending mailbox, reading the store a page at a time; None at the end."""
        if not self.buffer and not self.exhausted:
            page = self.store.pending(self.snapshot_id, after=self.cursor, limit=PAGE)
            if not page:
                self.exhausted = True
            else:
                self.cursor = page[-1].id
                self.buffer.extend(page)
        return self.buffer.popleft() if self.buffer else None

    def fill(self) -> None:
        """Hand pending mailboxes to the pool until ``concurrency`` are in flight."""
        while len(self.in_flight) < max(1, self.options.concurrency):
            entry = self.next_entry()
            if entry is None:
                break
            future = self.executor.submit(
                _measure_one, entry, self.measure, self.options, self.attempts, self.stop
            )
            self.in_flight[future] = entry

    def record(self, outcome: _Outcome) -> None:
        """Write one mailbox's result to the store and count it."""
        self.store.record(
            self.snapshot_id,
            outcome.entry.mailbox,
            outcome.figures,
            error=outcome.error,
            attempts=outcome.attempts,
            seconds=outcome.seconds,
        )
        self.recorded += 1
        summary = self.summary
        if outcome.figures is not None:
            summary.measured += 1
            summary.partial += bool(outcome.figures.unreadable)
        else:
            summary.failed += 1
        if outcome.refused and self.refused_first == self.recorded - 1:
            self.refused_first += 1

    def finish(self, outcome: _Outcome) -> None:
        """Record a mailbox measured or failed and tell the progress; raise LoginsRefused
        when the first mailboxes all refused the login."""
        progress, options = self.progress, self.options
        self.record(outcome)
        if outcome.figures is not None and outcome.figures.unreadable:
            progress.unreadable(outcome.entry.mailbox, outcome.figures.unreadable)
        progress.mailbox(outcome.entry.mailbox, outcome.figures is not None, outcome.error)
        limit = options.stop_after_refused
        if limit and self.recorded == limit and self.refused_first == limit:
            raise LoginsRefused(
                _(
                    "the first {n} mailboxes all refused the login ({error}): check the "
                    "admin user, its password and --login-format, then run again with "
                    "--resume --retry-failed"
                ).format(n=limit, error=outcome.error)
            )

    def interrupt(self) -> None:
        """Stop the attempts in flight and the pool, keep the mailboxes measured while
        stopping, and mark the snapshot interrupted."""
        self.stop.set()
        self.attempts.abort_all()
        self.executor.shutdown(wait=True, cancel_futures=True)
        # Mailboxes finished while stopping are measured all the same: keep them.
        for future, _entry in self.in_flight.items():
            if future.done() and not future.cancelled() and future.exception() is None:
                outcome = future.result()
                if not outcome.interrupted and outcome.figures is not None:
                    self.record(outcome)
        self.store.set_state(self.snapshot_id, "interrupted")
