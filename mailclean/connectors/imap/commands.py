"""The raw commands the connector sends (``UID FETCH``, ``UID SEARCH``...), and how a
server's disputed readings are avoided.
"""

from __future__ import annotations

from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from mailclean.connectors import imapwire
from mailclean.connectors.base import FolderNotFound
from mailclean.connectors.imap.errors import Refused, _text, log
from mailclean.connectors.imap.session import _ImapSession
from mailclean.i18n import _


class _ImapCommands(_ImapSession):
    """Raw commands over the session, answered as :mod:`mailclean.connectors.imapwire` reads
    them, in the forms every server reads alike."""

    def _select(self, path: str) -> dict:
        self._selected = None
        try:
            sel: dict = self._c.select_folder(path, readonly=True)
        except IMAPClientAbortError:
            raise
        except IMAPClientError as exc:
            raise FolderNotFound(
                _("cannot open folder '{path}': {reason}").format(path=path, reason=_text(exc))
            ) from exc
        return sel

    def _uid_command(self, *args: str) -> list:
        """Send ``UID <args>``, return its untagged data (named after the command).
        Raises :class:`Refused` when the server answers NO or BAD."""
        imap = self._c._imap
        name = args[0]
        imap.untagged_responses.pop(name, None)
        tag = imap._command("UID", *args)
        typ, data = imap._command_complete(name, tag)
        if typ != "OK":
            raise Refused(self.settings.host, f"UID {name}", typ, data)
        typ, data = imap._untagged_response(typ, data, name)
        return [d for d in data if d is not None]

    def _uid_simple(self, *args: str) -> None:
        """``UID <args>`` whose untagged answers (EXPUNGE, FETCH...) are not needed.
        Raises :class:`Refused` when the server answers NO or BAD."""
        imap = self._c._imap
        tag = imap._command("UID", *args)
        typ, data = imap._command_complete(args[0], tag)
        for name in ("FETCH", "EXPUNGE", "VANISHED"):
            imap.untagged_responses.pop(name, None)
        if typ != "OK":
            raise Refused(self.settings.host, f"UID {args[0]}", typ, data)

    def _list_uids(self, low: int, high: int | None = None) -> list[int]:
        """Sorted UIDs of the selected folder from ``low`` (to ``high``, or the end).

        Only commands whose meaning no server disputes: ESEARCH's ``UID SEARCH RETURN
        (ALL) UID low:high`` where advertised, else ``UID SEARCH ALL``, the range applied
        here. GNU Mailutils reads the set of ``UID SEARCH UID`` as message numbers, and
        misreads a ``UID FETCH low:high`` whose ends fall where no message is (BAD, or
        other messages than named), as they do once messages are expunged or moved. A
        range ending in ``*`` always holds the last message, so UIDs below ``low`` are
        dropped.
        """
        span = f"{low}:{high if high is not None else '*'}"
        if "ESEARCH" in self.capabilities:
            data = self._uid_command("SEARCH", "RETURN", "(ALL)", "UID", span)
            uids = imapwire.parse_esearch(self._c._imap.untagged_responses.pop("ESEARCH", []))
            uids += imapwire.parse_esearch(data)
        else:
            uids = imapwire.parse_search(self._uid_command("SEARCH", "ALL"))
        return sorted({u for u in uids if u >= low and (high is None or u <= high)})

    def _search_uids_criteria(self, *criteria: str) -> list[int]:
        if "ESEARCH" in self.capabilities:
            data = self._uid_command("SEARCH", "RETURN", "(ALL)", *criteria)
            uids = imapwire.parse_esearch(self._c._imap.untagged_responses.pop("ESEARCH", []))
            return sorted(set(uids + imapwire.parse_esearch(data)))
        return sorted(set(imapwire.parse_search(self._uid_command("SEARCH", *criteria))))

    def _present(self, uids: list[int]) -> set[int]:
        """Which of ``uids`` the selected folder holds now (read over their range)."""
        if not uids:
            return set()
        wanted = set(uids)
        return {u for u in self._list_uids(min(uids), max(uids)) if u in wanted}

    def _fetch_uids(self, uids: list[int], items: str) -> list:
        """``UID FETCH`` of exactly ``uids``: the untagged data.

        A server that answers BAD when a listed UID no longer exists (GNU Mailutils) fails
        the whole command for one expunged message: the set is then split in two and each
        half asked again, down to the single UIDs that are gone, which are left out.
        """
        if not uids:
            return []
        try:
            return self._uid_command("FETCH", imapwire.sequence_set(uids), items)
        except Refused as exc:
            if exc.typ != "BAD":
                raise
            if len(uids) == 1:
                log.debug("UID FETCH %s answered BAD (gone?): %s", uids[0], exc)
                return []
        half = len(uids) // 2
        return self._fetch_uids(uids[:half], items) + self._fetch_uids(uids[half:], items)
