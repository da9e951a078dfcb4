"""Local Maildir++ connector (the layout Dovecot and Courier use).

Offline analysis, the demo mailbox and tests. Folder ``A/B`` lives in ``<root>/.A.B``
with its name in modified UTF-7; the inbox is the root itself. A message's server id is
the unique part of its file name (before ``:2,``); its size is the CRLF size Dovecot
records as ``,W=`` in the name, else computed from the file.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from imapclient.imap_utf7 import decode as decode_utf7
from imapclient.imap_utf7 import encode as encode_utf7

from mailclean import mime
from mailclean.connectors.base import (
    CHANGED,
    FLAGGED,
    VANISHED,
    Change,
    Connector,
    ConnectorError,
    Credentials,
    FlagsChanged,
    FolderNotFound,
    FolderSynced,
    MessagesAdded,
    MessagesRemoved,
    MoveResult,
)
from mailclean.connectors.headers import meta_from_headers
from mailclean.i18n import _
from mailclean.model import FolderInfo, FolderState, ItemRef, MessageMeta, folder_role

CHUNK = 500


@dataclass(frozen=True, slots=True)
class _Entry:
    path: Path
    flags: str
    size: int | None


class MaildirConnector(Connector):
    """A Maildir++ tree on the local disk."""

    kind = "maildir"

    @classmethod
    def account_problems(cls, account: Any, where: str) -> list[str]:
        """A "maildir" entry needs its ``path``."""
        if not account.path:
            return [_("{where}: 'path' is missing").format(where=where)]
        return []

    @classmethod
    def from_account(cls, account: Any, credentials: Credentials) -> MaildirConnector:
        """Build a connector from an ``[accounts]`` entry of kind "maildir" (no secret)."""
        return cls(account.path or "")

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()
        self._dirs: dict[str, Path] = {}

    def connect(self) -> None:
        """Check that the root is a Maildir."""
        if not (self.root / "cur").is_dir():
            raise ConnectorError(f"{self.root} is not a Maildir (it has no cur/ folder)")

    def close(self) -> None:
        """Nothing to release."""

    def list_folders(self) -> list[FolderInfo]:
        """The inbox and every ``.Sub.Folder`` directory, with counts and sizes."""
        dirs = {"INBOX": self.root}
        for child in sorted(self.root.iterdir()):
            if child.name.startswith(".") and child.name not in (".", "..") and (
                child / "cur"
            ).is_dir():
                try:
                    name = decode_utf7(child.name[1:].encode("ascii", "replace"))
                except UnicodeDecodeError:  # not modified UTF-7 ("R&D"): named by another tool
                    name = child.name[1:]
                dirs[name.replace(".", "/")] = child
        self._dirs = dirs
        folders = []
        for path, directory in dirs.items():
            entries = _scan(directory)
            folders.append(
                FolderInfo(
                    path=path,
                    delimiter="/",
                    role=folder_role(path, "/", ()),
                    messages=len(entries),
                    bytes=sum(e.size for e in entries.values() if e.size is not None)
                    if all(e.size is not None for e in entries.values())
                    else None,
                )
            )
        return folders

    def sync_folder(
        self,
        folder: FolderInfo,
        state: FolderState,
        known_ids: Callable[[], set[str]],
    ) -> Iterator[Change]:
        """Diff the folder's files with the index: new files, gone files, flag changes."""
        if not self._dirs:
            self.list_folders()
        directory = self._dirs.get(folder.path)
        if directory is None or not directory.is_dir():
            raise FolderNotFound(f"no folder {folder.path!r} in {self.root}")
        entries = _scan(directory)
        known = known_ids()
        gone = known - entries.keys()
        if gone:
            yield MessagesRemoved(sorted(gone))
        flags = [(k, "S" in e.flags, "F" in e.flags) for k, e in entries.items() if k in known]
        if flags:
            yield FlagsChanged(flags)
        new = sorted(k for k in entries if k not in known)
        for i in range(0, len(new), CHUNK):
            batch = []
            for key in new[i : i + CHUNK]:
                meta = _read(key, entries[key])
                if meta is not None:
                    batch.append(meta)
            yield MessagesAdded(batch, state)
        total = sum(e.size or 0 for e in entries.values())
        yield FolderSynced(state, len(entries), total)


    # -- actions: files move between folder directories under the same unique name ----

    def _dir(self, folder: str) -> Path:
        directory = self._dirs.get(folder)
        if directory is None or not directory.is_dir():
            self.list_folders()
            directory = self._dirs.get(folder)
        if directory is None or not directory.is_dir():
            raise FolderNotFound(f"no folder {folder!r} in {self.root}")
        return directory

    def folder_validity(self, folder: str) -> int | None:
        """Maildir names never get reused: there is no validity to check."""
        self._dir(folder)
        return None

    def verify(self, folder: str, validity: int | None, refs: list[ItemRef]) -> dict[str, str]:
        """Same unique name, same size and Message-ID."""
        entries = _scan(self._dir(folder))
        problems = {}
        for r in refs:
            entry = entries.get(r.server_id)
            if entry is None:
                problems[r.server_id] = VANISHED
            elif _identity(entry) != (r.size, r.message_id):
                problems[r.server_id] = CHANGED
            elif "F" in entry.flags and not r.flagged:
                problems[r.server_id] = FLAGGED
        return problems

    def move(self, folder: str, refs: list[ItemRef], target: str) -> MoveResult:
        """Rename each file into the target's ``cur/`` (atomic on one file system)."""
        entries = _scan(self._dir(folder))
        cur = self._dir(target) / "cur"
        moved: dict[str, str | None] = {}
        for r in refs:
            entry = entries.get(r.server_id)
            if entry is None:
                continue
            try:
                os.rename(entry.path, cur / entry.path.name)
            except FileNotFoundError:
                continue
            moved[r.server_id] = r.server_id
        return MoveResult(moved)

    def delete(self, folder: str, refs: list[ItemRef]) -> list[str]:
        """Unlink each file."""
        entries = _scan(self._dir(folder))
        removed = []
        for r in refs:
            entry = entries.get(r.server_id)
            if entry is None:
                continue
            with contextlib.suppress(FileNotFoundError):
                entry.path.unlink()
                removed.append(r.server_id)
        return removed

    def fetch(self, folder: str, refs: list[ItemRef]) -> Iterator[tuple[str, bytes]]:
        """The files' bytes."""
        entries = _scan(self._dir(folder))
        for r in refs:
            entry = entries.get(r.server_id)
            if entry is None:
                continue
            try:
                yield r.server_id, entry.path.read_bytes()
            except FileNotFoundError:
                continue

    def locate(self, folder: str, refs: list[ItemRef], floor: str | None) -> dict[str, str]:
        """The same unique name if there; else a message with the same Message-ID and size."""
        entries = _scan(self._dir(folder))
        found: dict[str, str] = {}
        by_identity: dict[tuple[int, str | None], list[str]] | None = None
        for r in refs:
            entry = entries.get(r.server_id)
            if entry is not None and _identity(entry) == (r.size, r.message_id):
                found[r.server_id] = r.server_id
                continue
            if by_identity is None:
                by_identity = {}
                for key, e in entries.items():
                    by_identity.setdefault(_identity(e), []).append(key)
            candidates = [
                k for k in by_identity.get((r.size, r.message_id), []) if k not in found.values()
            ]
            if candidates:
                found[r.server_id] = candidates[0]
        return found

    def create_folder(self, path: str) -> None:
        """Create ``.A.B`` with its ``cur``, ``new`` and ``tmp``."""
        name = "." + encode_utf7(path.replace("/", ".")).decode("ascii")
        for sub in ("cur", "new", "tmp"):
            (self.root / name / sub).mkdir(parents=True, exist_ok=True)
        self._dirs = {}


def _identity(entry: _Entry) -> tuple[int, str | None]:
    """(CRLF size, Message-ID) of a message file, read from its header."""
    try:
        data = entry.path.read_bytes()
    except FileNotFoundError:
        return (-1, None)
    size = entry.size
    if size is None:
        size = len(data) + data.count(b"\n") - data.count(b"\r\n")
    end = data.find(b"\n\n")
    header = data[: end + 2] if end != -1 else data
    return size, mime.normalize_message_id(mime.parse_header_block(header).get("message-id"))


def _scan(directory: Path) -> dict[str, _Entry]:
    entries: dict[str, _Entry] = {}
    for sub in ("new", "cur"):
        try:
            names = os.listdir(directory / sub)
        except FileNotFoundError:
            continue
        for name in names:
            if name.startswith("."):
                continue
            key, _, info = name.partition(":")
            flags = info[2:] if info.startswith("2,") else ""
            size = None
            for field in key.split(",")[1:]:
                if field.startswith("W=") and field[2:].isdigit():
                    size = int(field[2:])
            entries[key] = _Entry(directory / sub / name, flags, size)
    return entries


def _read(key: str, entry: _Entry) -> MessageMeta | None:
    try:
        data = entry.path.read_bytes()
        mtime = entry.path.stat().st_mtime
    except FileNotFoundError:
        return None  # moved or deleted while we were reading: the next sync sees it
    size = entry.size
    if size is None:
        # RFC822.SIZE counts CRLF line ends; Maildir files usually hold bare LF.
        size = len(data) + data.count(b"\n") - data.count(b"\r\n")
    end = data.find(b"\n\n")
    end_crlf = data.find(b"\r\n\r\n")
    if end_crlf != -1 and (end == -1 or end_crlf < end):
        header = data[: end_crlf + 4]
    else:
        header = data[: end + 2] if end != -1 else data
    message = email.message_from_bytes(data, policy=email.policy.compat32)
    attachments, problems = mime.attachments_from_message(message)
    return meta_from_headers(
        header,
        server_id=key,
        size=size,
        received_at=datetime.fromtimestamp(int(mtime), UTC).isoformat(),
        seen="S" in entry.flags,
        flagged="F" in entry.flags,
        attachments=attachments,
        problems=problems,
    )
