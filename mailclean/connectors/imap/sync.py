"""Header-only incremental sync of one folder, parsed in worker processes when large."""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace

from imapclient.exceptions import IMAPClientAbortError

from mailclean.connectors import imapwire
from mailclean.connectors.base import (
    Change,
    FlagsChanged,
    FolderReset,
    FolderSynced,
    MessagesAdded,
    MessagesRemoved,
)
from mailclean.connectors.imap import limits
from mailclean.connectors.imap.commands import _ImapCommands
from mailclean.connectors.imap.responses import FETCH_ITEMS, _flags, messages_from_fetch
from mailclean.model import FolderInfo, FolderState, MessageMeta


class _ImapSync(_ImapCommands):
    """Header-only incremental sync of one folder (UIDVALIDITY, cursor, CONDSTORE, QRESYNC)."""

    def sync_folder(
        self,
        folder: FolderInfo,
        state: FolderState,
        known_ids: Callable[[], set[str]],
    ) -> Iterator[Change]:
        """Yield the changes since ``state``: see :meth:`Connector.sync_folder`."""
        with self._errors():
            yield from self._sync_folder(folder, state, known_ids)

    def _sync_folder(
        self, folder: FolderInfo, state: FolderState, known_ids: Callable[[], set[str]]
    ) -> Iterator[Change]:
        condstore = "CONDSTORE" in self.capabilities or "QRESYNC" in self.capabilities
        if (
            condstore
            and folder.highestmodseq is not None
            and state.uidvalidity == folder.uidvalidity
            and state.highestmodseq == folder.highestmodseq
            and state.uidnext == folder.uidnext
            and state.indexed == folder.messages
        ):
            # Nothing was added, expunged or re-flagged since the last complete sync:
            # the folder need not even be selected.
            yield FolderSynced(state, folder.messages, folder.bytes)
            return

        sel = self._select(folder.path)
        uidvalidity = sel.get(b"UIDVALIDITY")
        if state.uidvalidity is not None and uidvalidity != state.uidvalidity:
            state = FolderState(uidvalidity=uidvalidity)
            yield FolderReset(state)
        state = replace(state, uidvalidity=uidvalidity)
        start_modseq = sel.get(b"HIGHESTMODSEQ")
        start_uidnext = sel.get(b"UIDNEXT")
        exists = sel.get(b"EXISTS", 0)

        if state.cursor > 0:
            yield from self._sync_known(state, known_ids, condstore)

        new_uids = self._list_uids(state.cursor + 1)
        for chunk, messages in self._fetch_new(new_uids):
            state = replace(state, cursor=max(state.cursor, chunk[-1]))
            yield MessagesAdded(messages, state)

        state = replace(
            state,
            uidnext=start_uidnext,
            highestmodseq=start_modseq if condstore else None,
        )
        # The server's own count, read again now that the folder is indexed: the sync
        # compares it with what was stored, so that a server reading a command otherwise
        # than we do is noticed instead of leaving a silently wrong index.
        after = int(self._select(folder.path).get(b"EXISTS", exists))
        yield FolderSynced(state, after, folder.bytes if after == folder.messages else None)

    def _sync_known(
        self, state: FolderState, known_ids: Callable[[], set[str]], condstore: bool
    ) -> Iterator[Change]:
        """Flag changes and expunges among the messages already indexed (UIDs <= cursor)."""
        known_range = f"1:{state.cursor}"
        c = self._c
        if "QRESYNC" in self.capabilities and state.highestmodseq:
            c._imap.untagged_responses.pop("VANISHED", None)
            data = self._uid_command(
                "FETCH", known_range, "(UID FLAGS)",
                f"(CHANGEDSINCE {state.highestmodseq} VANISHED)",
            )
            vanished = imapwire.parse_vanished(c._imap.untagged_responses.pop("VANISHED", []))
            if vanished:
                yield MessagesRemoved([str(u) for u in vanished])
            yield FlagsChanged(_flags(data))
            return
        if condstore and state.highestmodseq:
            data = self._uid_command(
                "FETCH", known_range, "(UID FLAGS)", f"(CHANGEDSINCE {state.highestmodseq})"
            )
            flags = _flags(data)
            present = {str(u) for u in self._list_uids(1, state.cursor)}
        else:
            # Over 1:* rather than 1:cursor: the message at the cursor may have been
            # expunged, and GNU Mailutils misreads a range ending where no message is
            # (BAD, or other messages than named); "*" always names one.
            data = self._uid_command("FETCH", "1:*", "(UID FLAGS)")
            flags = [f for f in _flags(data) if int(f[0]) <= state.cursor]
            present = {f[0] for f in flags}
        # Rows above the cursor were put there by an action (a move with COPYUID), not by
        # a sync: the fetch of new UIDs that follows replaces them.
        gone = {k for k in known_ids() - present if int(k) <= state.cursor}
        if gone:
            yield MessagesRemoved(sorted(gone, key=int))
        if flags:
            yield FlagsChanged(flags)

    def _fetch_raw(self, uids: list[int]) -> list:
        return self._fetch_uids(uids, FETCH_ITEMS)

    def _fetch_new(self, uids: list[int]) -> Iterator[tuple[list[int], list[MessageMeta]]]:
        """(chunk, its messages) in UID order; large folders are parsed by worker processes
        while the next chunk is read and the previous one stored.

        Chunks adapt to the link: a chunk whose answer is cut halves the next attempt's
        chunks (the connection is re-made by the caller), each complete one doubles them
        again up to FETCH_CHUNK, so a link that drops every few hundred kilobytes still
        moves forward.
        """
        # Once the workers run (a large folder came first), any folder of two chunks or
        # more gains from them.
        big = len(uids) >= limits.PARALLEL_FROM or (
            self._pool is not None and len(uids) > limits.FETCH_CHUNK
        )
        pool = self._workers() if big else None
        pending: deque[tuple[list[int], list, Future]] = deque()
        ahead = (self._pool_size + 1) if pool is not None else 0
        start = 0
        while start < len(uids):
            chunk = uids[start : start + self._chunk]
            try:
                data = self._fetch_raw(chunk)
            except (IMAPClientAbortError, OSError, EOFError):
                self._chunk = max(1, len(chunk) // 2)
                # The chunks read in full before the cut are being parsed by the workers,
                # which need no connection: hand them over to be stored first, or a link
                # that drops every few chunks would lose them every time and never advance.
                while pending:
                    yield _result(*pending.popleft())
                raise
            self._chunk = min(limits.FETCH_CHUNK, self._chunk * 2)
            start += len(chunk)
            if pool is None:
                yield chunk, messages_from_fetch(data, chunk)
                continue
            try:
                future = pool.submit(messages_from_fetch, data, chunk)
            except BrokenProcessPool:
                future = Future()
                future.set_result(messages_from_fetch(data, chunk))
            pending.append((chunk, data, future))
            if len(pending) > ahead:
                yield _result(*pending.popleft())
        while pending:
            yield _result(*pending.popleft())

    def _workers(self) -> ProcessPoolExecutor | None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        if (cpus or 1) < 2:
            return None
        if self._pool is None:
            methods = multiprocessing.get_all_start_methods()
            method = "forkserver" if "forkserver" in methods else "spawn"
            context = multiprocessing.get_context(method)
            self._pool_size = min(cpus or 1, 4)
            self._pool = ProcessPoolExecutor(
                max_workers=self._pool_size, mp_context=context, initializer=_worker_init
            )
        return self._pool


def _result(chunk: list[int], data: list, future: Future) -> tuple[list[int], list[MessageMeta]]:
    try:
        return chunk, future.result()
    except BrokenProcessPool:
        # A worker died (out of memory, killed): parse here rather than lose the chunk.
        return chunk, messages_from_fetch(data, chunk)


def _worker_init() -> None:
    # Ctrl-C is the main process's to handle; workers just stop when it closes the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
