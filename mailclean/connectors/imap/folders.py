"""Folders: LIST with roles and STATUS counters, sizes, the quota."""

from __future__ import annotations

import re
from dataclasses import replace

from imapclient.imap_utf7 import decode as decode_utf7

from mailclean.connectors import imapwire
from mailclean.connectors.imap import limits
from mailclean.connectors.imap.commands import _ImapCommands
from mailclean.connectors.imap.errors import Refused
from mailclean.model import FolderInfo, Quota, folder_role

_RFC822_SIZE = re.compile(rb"RFC822\.SIZE (\d{1,19})(?!\d)")  # longer: junk, and int() refuses


class _ImapFolders(_ImapCommands):
    """Folders with their roles and counters, a folder's size summed by hand, the quota."""

    def list_folders(self) -> list[FolderInfo]:
        """LIST every folder, with roles and STATUS counters (SIZE where advertised).

        With LIST-STATUS (RFC 5819) one command brings every folder's counters; otherwise
        each selectable folder costs a STATUS round trip.
        """
        items = ["MESSAGES", "UIDNEXT", "UIDVALIDITY"]
        if "CONDSTORE" in self.capabilities:
            items.append("HIGHESTMODSEQ")
        if "STATUS=SIZE" in self.capabilities:
            items.append("SIZE")
        with self._errors():
            if "LIST-STATUS" in self.capabilities:
                listed, statuses = self._list_status(items)
            else:
                listed, statuses = self._c.list_folders(), {}
        folders = []
        for flags, delimiter, name in listed:
            path = name if isinstance(name, str) else name.decode("utf-8", "replace")
            delim = delimiter.decode() if isinstance(delimiter, bytes) else (delimiter or "/")
            lower = {f.lower() for f in flags}
            selectable = not ({b"\\noselect", b"\\nonexistent"} & lower)
            info = FolderInfo(
                path=path,
                delimiter=delim,
                role=folder_role(path, delim, flags),
                selectable=selectable,
            )
            if selectable:
                st = statuses.get(path)
                if st is None:
                    with self._errors():
                        st = self._c.folder_status(path, items)
                info = replace(
                    info,
                    uidvalidity=st.get(b"UIDVALIDITY"),
                    uidnext=st.get(b"UIDNEXT"),
                    highestmodseq=st.get(b"HIGHESTMODSEQ"),
                    messages=st.get(b"MESSAGES"),
                    bytes=st.get(b"SIZE"),
                )
            folders.append(info)
        return folders

    def _list_status(self, items: list[str]) -> tuple[list, dict[str, dict[bytes, int]]]:
        """``LIST "" "*" RETURN (STATUS (...))``: the folders and their counters by path."""
        imap = self._c._imap
        for response in ("LIST", "STATUS"):
            imap.untagged_responses.pop(response, None)
        typ, data = imap._simple_command(
            "LIST", '""', '"*"', "RETURN", f"(STATUS ({' '.join(items)}))"
        )
        if typ != "OK":
            raise Refused(self.settings.host, "LIST", typ, data)
        typ, data = imap._untagged_response(typ, data, "LIST")
        listed = self._c._proc_folder_list(data)
        statuses: dict[str, dict[bytes, int]] = {}
        raw = imap.untagged_responses.pop("STATUS", [])
        values = imapwire.parse_tokens(raw)
        for i in range(0, len(values) - 1, 2):
            name, counters = values[i], values[i + 1]
            if isinstance(name, int):
                name = str(name).encode()
            if not isinstance(name, bytes) or not isinstance(counters, list):
                continue
            statuses[decode_utf7(name)] = {
                k.upper(): v
                for k, v in zip(counters[::2], counters[1::2], strict=False)
                if isinstance(k, bytes) and isinstance(v, int)
            }
        return listed, statuses

    def folder_size(self, path: str) -> tuple[int, int]:
        """(messages, bytes) of a folder as the sum of its RFC822.SIZE: for servers without
        STATUS=SIZE. The folder is EXAMINEd (read-only): no flag, not even \\Recent, changes."""
        with self._errors():
            exists = int(self._select(path).get(b"EXISTS", 0))
            total = 0
            imap = self._c._imap
            for start in range(1, exists + 1, limits.SIZE_CHUNK):
                end = min(start + limits.SIZE_CHUNK - 1, exists)
                imap.untagged_responses.pop("FETCH", None)
                tag = imap._command("FETCH", f"{start}:{end}", "(RFC822.SIZE)")
                typ, data = imap._command_complete("FETCH", tag)
                if typ != "OK":
                    raise Refused(self.settings.host, "FETCH", typ, data)
                _typ, data = imap._untagged_response(typ, data, "FETCH")
                # A regular expression rather than the parser: only one number per line
                # matters, and a large folder sends hundreds of thousands of lines.
                total += sum(
                    int(n) for d in data if isinstance(d, bytes) for n in _RFC822_SIZE.findall(d)
                )
        return exists, total

    def quota(self) -> Quota | None:
        """GETQUOTAROOT INBOX's STORAGE resource, in bytes; None without QUOTA."""
        if "QUOTA" not in self.capabilities:
            return None
        with self._errors():
            _roots, quotas = self._c.get_quota_root("INBOX")
        for q in quotas:
            if q.resource.upper() == "STORAGE":
                return Quota(used=q.usage * 1024, limit=q.limit * 1024 or None, root=q.quota_root)
        return None
