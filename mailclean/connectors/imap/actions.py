"""The actions on an IMAP mailbox: verify, move, delete, fetch, locate, create a folder."""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterator

from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from mailclean.connectors import imapwire
from mailclean.connectors.base import (
    CHANGED,
    FLAGGED,
    RESET,
    VANISHED,
    FolderNotFound,
    MoveResult,
    UnsafeExpunge,
)
from mailclean.connectors.imap import limits
from mailclean.connectors.imap.commands import _ImapCommands
from mailclean.connectors.imap.errors import Refused, _text
from mailclean.connectors.imap.responses import IDENTITY_ITEMS, _copyuid, _identities
from mailclean.i18n import _, ngettext
from mailclean.model import ItemRef


class _ImapActions(_ImapCommands):
    """What :mod:`mailclean.actions` asks of the mailbox.

    Every action command names exact UIDs. Nothing here ever sends a bare EXPUNGE while
    messages outside the selection are marked \\Deleted."""

    def _open(self, folder: str) -> int | None:
        """SELECT ``folder`` read-write (once per folder); its UIDVALIDITY."""
        if self._selected == folder:
            return self._validity
        # A SELECT that fails leaves no folder selected (RFC 3501 6.3.1).
        self._selected = None
        try:
            sel = self._c.select_folder(folder, readonly=False)
        except IMAPClientAbortError:
            raise
        except IMAPClientError as exc:
            raise FolderNotFound(
                _("cannot open folder '{path}': {reason}").format(path=folder, reason=_text(exc))
            ) from exc
        self._selected = folder
        self._validity = sel.get(b"UIDVALIDITY")
        return self._validity

    def folder_validity(self, folder: str) -> int | None:
        """UIDVALIDITY of ``folder`` (selected read-write for the action that follows)."""
        with self._errors():
            return self._open(folder)

    def next_id(self, folder: str) -> str | None:
        """UIDNEXT of ``folder``: copies we make from now on get UIDs at or above it."""
        with self._errors():
            return self._uidnext(folder)

    def _uidnext(self, folder: str) -> str | None:
        value = self._c.folder_status(folder, ["UIDNEXT"]).get(b"UIDNEXT")
        return str(value) if value is not None else None

    def verify(self, folder: str, validity: int | None, refs: list[ItemRef]) -> dict[str, str]:
        """Same UIDVALIDITY, and for each UID the same RFC822.SIZE and Message-ID; not
        flagged since the plan (flags come in the same FETCH as the identity)."""
        with self._errors():
            current = self._open(folder)
            if validity is not None and current != validity:
                return {r.server_id: RESET for r in refs}
            found: dict[int, tuple[int, str | None, bool]] = {}
            uids = sorted({int(r.server_id) for r in refs})
            for chunk in imapwire.chunk_uids(uids, limits.VERIFY_CHUNK):
                found.update(_identities(self._fetch_uids(chunk, IDENTITY_ITEMS)))
        problems: dict[str, str] = {}
        for r in refs:
            got = found.get(int(r.server_id))
            if got is None:
                problems[r.server_id] = VANISHED
            elif got[:2] != (r.size, r.message_id):
                problems[r.server_id] = CHANGED
            elif got[2] and not r.flagged:
                problems[r.server_id] = FLAGGED
        return problems

    def move(self, folder: str, refs: list[ItemRef], target: str) -> MoveResult:
        """``UID MOVE`` where the server has it; else COPY, then ``\\Deleted`` and
        ``UID EXPUNGE`` of exactly those UIDs (or a plain EXPUNGE only when nothing else
        in the folder is marked deleted).

        Messages another client expunged meanwhile (``NO [EXPUNGEISSUED]``) are left out
        and the rest moved; what the answer does not account for is for the caller to
        settle (the moved result lacks it).
        """
        uids = sorted(int(r.server_id) for r in refs)
        with self._errors():
            self._open(folder)
            if "MOVE" not in self.capabilities:
                self._check_expunge_safe(folder, uids)
            reported = "UIDPLUS" in self.capabilities
            floor = None if reported else self._uidnext(target)
            mapping: dict[int, int] = {}
            target_validity: int | None = None
            for chunk in imapwire.chunk_uids(uids, limits.ACTION_CHUNK):
                validity, pairs, sent = self._move_chunk(folder, chunk, target)
                target_validity = validity or target_validity
                mapping.update(pairs)
                if "MOVE" not in self.capabilities and sent:
                    self._expunge(folder, sent)
            if reported and mapping:
                moved: dict[str, str | None] = {str(s): str(d) for s, d in mapping.items()}
            else:
                moved, located = self._moved_unreported(folder, refs, uids, target, floor)
                target_validity = target_validity or located
        after = str(max(mapping.values()) + 1) if mapping else None
        return MoveResult(moved, target_validity, after)

    def _moved_unreported(
        self, folder: str, refs: list[ItemRef], uids: list[int], target: str, floor: str | None
    ) -> tuple[dict[str, str | None], int | None]:
        """What a move the server did not report (no UIDPLUS) did: what left the folder
        *and* arrived in the target, found there by Message-ID and size above the floor
        taken before the command. A message another client expunged meanwhile also left
        the folder, but arrived nowhere: it is not counted as moved.

        Also the target's UIDVALIDITY the ids found belong to (None when none was found):
        without it the journal could not tell these ids from another validity's, and a
        delete from the Trash would not know mailclean put the message there."""
        present = self._present(uids)
        gone = [r for r in refs if int(r.server_id) not in present]
        found = self._locate(target, gone, floor)
        # _locate selected the target: its UIDVALIDITY is the one of the ids it found.
        validity = self._validity if found else None
        self._open(folder)
        # A message without a Message-ID cannot be recognised in the target: the command
        # that took it out of the folder is what moved it.
        return {r.server_id: found.get(r.server_id) for r in gone
                if r.server_id in found or not r.message_id}, validity

    def _move_chunk(
        self, folder: str, chunk: list[int], target: str
    ) -> tuple[int | None, dict[int, int], list[int]]:
        """MOVE (or COPY) one chunk: (target validity, COPYUID pairs, UIDs the command
        that succeeded named)."""
        command = "MOVE" if "MOVE" in self.capabilities else "COPY"
        mailbox = self._c._normalise_folder(target)
        validity: int | None = None
        mapping: dict[int, int] = {}
        sent = chunk
        for attempt in range(2):
            self._c._imap.untagged_responses.pop("COPYUID", None)
            try:
                self._uid_simple(command, imapwire.sequence_set(sent), mailbox)
            except Refused as exc:
                if exc.code != "EXPUNGEISSUED" or attempt:
                    raise
                # Another client expunged some of these since we looked. A refused COPY
                # copied nothing (RFC 3501); a MOVE may have moved part: keep what it
                # reports, and send again what is still here.
                v, pairs = self._copied()
                validity, sent = v or validity, []
                mapping.update(pairs)
                here = self._present(chunk)
                sent = [u for u in chunk if u in here and u not in mapping]
                if not sent:
                    break
                continue
            v, pairs = self._copied()
            validity = v or validity
            mapping.update(pairs)
            break
        return validity, mapping, sent

    def _copied(self) -> tuple[int | None, dict[int, int]]:
        """The COPYUID codes of the last command: target validity, source -> target UID."""
        validity: int | None = None
        mapping: dict[int, int] = {}
        for code in self._c._imap.untagged_responses.pop("COPYUID", []):
            v, pairs = _copyuid(code)
            validity = v or validity
            mapping.update(pairs)
        return validity, mapping

    def delete(self, folder: str, refs: list[ItemRef]) -> list[str]:
        """``\\Deleted`` then ``UID EXPUNGE`` of exactly ``refs``; the UIDs gone."""
        uids = sorted(int(r.server_id) for r in refs)
        with self._errors():
            self._open(folder)
            self._check_expunge_safe(folder, uids)
            # What another program moved or expunged since the identity check left the
            # folder, but was not deleted by us: only what is here now can be (NOOP: the
            # server tells this session of other sessions' expunges only when asked).
            self._c.noop()
            here = self._present(uids)
            for chunk in imapwire.chunk_uids(uids, limits.ACTION_CHUNK):
                self._expunge(folder, chunk)
            present = self._present(uids)
        return [str(u) for u in uids if u in here and u not in present]

    def _expunge(self, folder: str, uids: list[int]) -> None:
        uid_set = imapwire.sequence_set(uids)
        self._uid_simple("STORE", uid_set, "+FLAGS.SILENT", "(\\Deleted)")
        if "UIDPLUS" in self.capabilities:
            self._uid_simple("EXPUNGE", uid_set)
            return
        # Checked again right before the expunge: another client may have marked
        # messages since the check made before the first command.
        self._check_expunge_safe(folder, uids, ours_marked=True)
        with self._errors():
            self._c.expunge()

    def _check_expunge_safe(self, folder: str, uids: list[int], ours_marked: bool = False) -> None:
        """Without UIDPLUS, refuse when messages outside ``uids`` are marked \\Deleted."""
        if "UIDPLUS" in self.capabilities:
            return
        # NOOP first: a session sees other sessions' new flags only once told of them.
        self._c.noop()
        marked = set(self._search_uids_criteria("DELETED"))
        others = marked - set(uids)
        if others:
            if ours_marked:
                # Put our own marks back: the messages stay where they were.
                self._uid_simple(
                    "STORE", imapwire.sequence_set(uids), "-FLAGS.SILENT", "(\\Deleted)"
                )
            raise UnsafeExpunge(
                folder,
                len(others),
                ngettext(
                    "{count} other message in '{folder}' is marked for deletion by another "
                    "program, and this server (no UIDPLUS) can only remove all marked messages "
                    "at once: nothing was removed from '{folder}'. Remove or unmark it in "
                    "your mail program, then try again.",
                    "{count} other messages in '{folder}' are marked for deletion by another "
                    "program, and this server (no UIDPLUS) can only remove all marked messages "
                    "at once: nothing was removed from '{folder}'. Remove or unmark them in "
                    "your mail program, then try again.",
                    len(others),
                ).format(count=len(others), folder=folder),
            )

    def fetch(self, folder: str, refs: list[ItemRef]) -> Iterator[tuple[str, bytes]]:
        """Whole messages, ``BODY.PEEK[]`` (nothing is marked seen), a few MB per command."""
        with self._errors():
            self._open(folder)
            batch: list[int] = []
            weight = 0
            for r in sorted(refs, key=lambda r: int(r.server_id)):
                batch.append(int(r.server_id))
                weight += r.size
                if weight >= limits.FETCH_BYTES or len(batch) >= limits.ACTION_CHUNK:
                    yield from self._fetch_bodies(batch)
                    batch, weight = [], 0
            if batch:
                yield from self._fetch_bodies(batch)

    def _fetch_bodies(self, uids: list[int]) -> Iterator[tuple[str, bytes]]:
        data = self._uid_command("FETCH", imapwire.sequence_set(uids), "(UID BODY.PEEK[])")
        bodies: dict[int, bytes] = {}
        for item in imapwire.parse_fetch(data):
            uid, body = item.get(b"UID"), item.get(b"BODY[]")
            if isinstance(uid, int) and isinstance(body, bytes):
                bodies[uid] = body
        for uid in uids:
            if uid in bodies:
                yield str(uid), bodies[uid]

    def locate(self, folder: str, refs: list[ItemRef], floor: str | None) -> dict[str, str]:
        """Find each ref in ``folder`` by Message-ID and size among UIDs from ``floor``.

        The folder's identities are read (``UID FETCH floor:*``) and matched here: a
        Message-ID is never sent to the server, so none can be too long for its command
        line, hold bytes it cannot take, or be read differently by it.
        """
        with self._errors():
            return self._locate(folder, refs, floor)

    def _locate(self, folder: str, refs: list[ItemRef], floor: str | None) -> dict[str, str]:
        wanted = [r for r in refs if r.message_id]
        if not wanted:
            return {}
        low = int(floor) if floor and floor.isdigit() else 1
        self._open(folder)
        uids = self._list_uids(low)
        found_ids: dict[int, tuple[int, str | None, bool]] = {}
        for chunk in imapwire.chunk_uids(uids, limits.VERIFY_CHUNK):
            found_ids.update(_identities(self._fetch_uids(chunk, IDENTITY_ITEMS)))
        by_identity: dict[tuple[int, str | None], list[int]] = defaultdict(list)
        for uid in sorted(found_ids):
            size, msgid, _flagged = found_ids[uid]
            by_identity[(size, msgid)].append(uid)
        found: dict[str, str] = {}
        for r in wanted:
            pool = by_identity.get((r.size, r.message_id))
            if pool:
                found[r.server_id] = str(pool.pop(0))
        return found

    def create_folder(self, path: str) -> None:
        """CREATE ``path`` (and subscribe to it, so mail programs show it)."""
        with self._errors():
            self._c.create_folder(path)
            with contextlib.suppress(IMAPClientError):
                self._c.subscribe_folder(path)
