"""Measuring mailboxes straight from a mail root on disk, read-only.

A Dovecot (or Courier) server keeps each mailbox as a Maildir++ tree: the inbox is the
tree's root (``cur/``, ``new/``), folder ``Archives/2019`` is the sub-directory
``.Archives.2019`` (names in modified UTF-7, ``.`` for the hierarchy). An admin who can
read the mail root (``/srv/mail``, ``/var/vmail``) measures every mailbox of the staff file
without logging in to anything: ``--maildir-root /srv/mail --user-pattern
'{domain}/{local}/Maildir'``.

Quick depth lists the directories and reads nothing but file names: a message's size is
Dovecot's ``,W=`` field (its RFC822.SIZE, what IMAP reports), else the ``,S=`` field or the
file's size on disk (the message with bare LF line ends: a little less). Messages waiting
in ``tmp/`` are not delivered yet and are not counted; a message moving from ``new/`` to
``cur/`` while the folder is listed counts once. The quota is Dovecot's ``maildirsize``
file when there is one. Full depth also syncs the mailbox with the Maildir connector into
a temporary index and runs the rules, as over IMAP.

Nothing is ever written, renamed or locked: the tree is only listed, and (full depth)
read.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from imapclient.imap_utf7 import decode as decode_utf7

from mailclean.connectors.base import Change, Connector, ConnectorError
from mailclean.connectors.maildir import MaildirConnector
from mailclean.i18n import _
from mailclean.model import FolderInfo, FolderState, folder_role
from mailclean.snapshot.measure import (
    Aborted,
    Attempt,
    ImapMeasure,
    MeasureError,
    counted_role,
    scrub,
)
from mailclean.snapshot.store import (
    FolderFigures,
    MailboxFigures,
    PendingMailbox,
    UnreadableFolder,
)

#: Where a mailbox lives under the mail root, by default (Dovecot's ``/srv/mail/%u/Maildir``).
DEFAULT_USER_PATTERN = "{user}/Maildir"
#: What a user pattern may use: the login (or mailbox), and the two halves of an address.
PATTERN_FIELDS = ("user", "local", "domain")


@dataclass(frozen=True)
class MaildirRoot:
    """Where the mailboxes of a snapshot are on disk: a mail root, and the path of each
    mailbox under it (``pattern``, with ``{user}``, ``{local}`` and ``{domain}``)."""

    root: Path
    pattern: str = DEFAULT_USER_PATTERN

    def __post_init__(self) -> None:
        try:
            probe = self.pattern.format(user="u", local="l", domain="d")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                _("--user-pattern may only use {{user}}, {{local}} and {{domain}}: {error}").format(
                    error=exc
                )
            ) from None
        if "{user}" not in self.pattern and "{local}" not in self.pattern:
            raise ValueError(_("--user-pattern must contain {user} or {local}"))
        if Path(probe).is_absolute() or ".." in Path(probe).parts:
            raise ValueError(_("--user-pattern is a path under --maildir-root"))

    def directory(self, mailbox: str, login: str | None = None) -> Path:
        """The Maildir of one mailbox; MeasureError when its name cannot be a directory's."""
        user = login or mailbox
        local, _at, domain = user.partition("@")
        values = {"user": user, "local": local, "domain": domain}
        for value in values.values():
            if "/" in value or "\\" in value or "\x00" in value or value in (".", ".."):
                raise MeasureError(
                    _("{user} cannot name a directory under the mail root").format(user=user),
                    retryable=False,
                )
        return self.root / self.pattern.format(**values)

    def describe(self) -> dict:
        """The settings worth remembering with a snapshot."""
        return {"kind": "maildir", "root": str(self.root), "user_pattern": self.pattern}


@dataclass(frozen=True, slots=True)
class _Folder:
    path: str
    directory: Path
    messages: int
    bytes: int


def message_size(name: str, directory: str) -> int:
    """A message's size from its file name (``,W=`` then ``,S=``), else from the file."""
    key = name.partition(":")[0]
    physical = None
    for part in key.split(",")[1:]:
        if part.startswith("W=") and part[2:].isdigit():
            return int(part[2:])
        if part.startswith("S=") and part[2:].isdigit():
            physical = int(part[2:])
    if physical is not None:
        return physical
    return os.stat(os.path.join(directory, name)).st_size


def count_folder(directory: Path) -> tuple[int, int]:
    """(messages, bytes) of one Maildir folder; OSError when it cannot be listed."""
    seen: set[str] = set()
    total = 0
    # new/ first: a message Dovecot moves to cur/ meanwhile is then seen again, not missed.
    for sub in ("new", "cur"):
        where = os.path.join(directory, sub)
        try:
            names = os.listdir(where)
        except FileNotFoundError:
            continue  # no new/ (or the folder went while being measured): nothing there
        for name in names:
            key = name.partition(":")[0]
            if name.startswith(".") or key in seen:
                continue
            try:
                total += message_size(name, where)
            except FileNotFoundError:
                continue  # moved or deleted since it was listed
            seen.add(key)
    return len(seen), total


def folder_directories(root: Path) -> list[tuple[str, Path]]:
    """(path, directory) of the inbox and each Maildir++ sub-folder, named as the Maildir
    connector names them; OSError when the mailbox itself cannot be listed. A sub-folder
    whose directory cannot even be looked into is listed: counting it will say why."""
    out = [("INBOX", root)]
    for name in sorted(os.listdir(root)):
        if not name.startswith(".") or name in (".", ".."):
            continue
        try:
            mode = os.stat(root / name / "cur").st_mode
        except (FileNotFoundError, NotADirectoryError):
            continue  # not a folder: a file or directory of the server's own
        except OSError:
            mode = stat.S_IFDIR
        if not stat.S_ISDIR(mode):
            continue
        try:
            path = decode_utf7(name[1:].encode("ascii", "replace")).replace(".", "/")
        except UnicodeDecodeError:  # not modified UTF-7 ("R&D"): named by another tool
            path = name[1:].replace(".", "/")
        out.append((path, root / name))
    return out


def _roles(paths: list[str]) -> dict[str, str]:
    """The role each folder counts under; a parent Maildir++ leaves out (``.Archives.2019``
    without ``.Archives``) still gives its role to its sub-folders."""
    by_path: dict[str, FolderInfo] = {}
    for path in paths:
        parts = path.split("/")
        for n in range(1, len(parts) + 1):
            sub = "/".join(parts[:n])
            by_path.setdefault(sub, FolderInfo(sub, "/", folder_role(sub, "/", ())))
    return {path: counted_role(by_path[path], by_path) for path in paths}


def walk(
    root: Path, check: Callable[[], None] | None = None
) -> tuple[list[_Folder], list[UnreadableFolder]]:
    """The readable folders of a Maildir with their counts, and those that cannot be read."""
    directories = folder_directories(root)
    roles = _roles([path for path, _d in directories])
    folders: list[_Folder] = []
    unreadable: list[UnreadableFolder] = []
    for path, directory in directories:
        if check is not None:
            check()
        try:
            messages, size = count_folder(directory)
        except OSError as exc:
            unreadable.append(UnreadableFolder(roles[path], path, exc.strerror or str(exc)))
            continue
        folders.append(_Folder(path, directory, messages, size))
    return folders, unreadable


def maildirsize_quota(root: Path) -> tuple[int | None, int | None]:
    """(bytes used, byte limit) from a Maildir++ ``maildirsize`` file: its first line holds
    the limits (``1000000000S,10000C``), every other line a change (bytes, messages)."""
    try:
        lines = (root / "maildirsize").read_text("ascii", errors="replace").splitlines()
    except OSError:
        return None, None
    if not lines:
        return None, None
    limit = None
    for part in lines[0].split(","):
        part = part.strip()
        if part.endswith("S") and part[:-1].isdigit():
            limit = int(part[:-1]) or None
    used = 0
    for line in lines[1:]:
        fields = line.split()
        if fields and fields[0].lstrip("-").isdigit():
            used += int(fields[0])
    return max(used, 0), limit


def maildir_figures(root: Path, attempt: Attempt) -> tuple[MailboxFigures, list[str]]:
    """Volume per folder role of the Maildir at ``root``, and the paths of the folders
    measured. MeasureError (not retried) when there is no Maildir there or it cannot be
    listed; a folder that cannot be read is left out and listed in ``unreadable``."""
    try:
        if not (root / "cur").is_dir():
            problem = (
                _("no mailbox at {path}") if not root.exists() else _("{path} is not a Maildir")
            )
            raise MeasureError(problem.format(path=root), retryable=False)
        folders, unreadable = walk(root, attempt.check)
    except OSError as exc:
        raise MeasureError(
            _("cannot read {path}: {error}").format(path=root, error=exc.strerror or exc),
            retryable=False,
        ) from exc
    roles_of = _roles([f.path for f in folders])
    roles: dict[str, list[int]] = {}
    for f in folders:
        acc = roles.setdefault(roles_of[f.path], [0, 0, 0])
        acc[0] += 1
        acc[1] += f.messages
        acc[2] += f.bytes
    used, limit = maildirsize_quota(root)
    figures = MailboxFigures(
        messages=sum(v[1] for v in roles.values()),
        bytes=sum(v[2] for v in roles.values()),
        roles={r: FolderFigures(*v) for r, v in roles.items()},
        quota_used=used,
        quota_limit=limit,
        size_source="maildir",
        unreadable=unreadable,
    )
    return figures, [f.path for f in folders]


class SnapshotMaildir(MaildirConnector):
    """The Maildir connector as a full snapshot uses it: only the folders that can be read
    (the others are reported by the quick part), file errors as connector errors, and a
    way to stop it from another thread (the attempt's time is up, or Ctrl-C)."""

    def __init__(self, root: str | Path) -> None:
        super().__init__(root)
        self.stopped = False

    def abort(self) -> None:
        """Stop at the next batch of messages read."""
        self.stopped = True

    def list_folders(self) -> list[FolderInfo]:
        """The readable folders, with their counts."""
        try:
            folders, _unreadable = walk(self.root)
        except OSError as exc:
            raise ConnectorError(
                _("cannot read {path}: {error}").format(path=self.root, error=exc.strerror)
            ) from exc
        self._dirs = {f.path: f.directory for f in folders}
        return [
            FolderInfo(
                path=f.path,
                delimiter="/",
                role=folder_role(f.path, "/", ()),
                messages=f.messages,
                bytes=f.bytes,
            )
            for f in folders
        ]

    def sync_folder(
        self, folder: FolderInfo, state: FolderState, known_ids: Callable[[], set[str]]
    ) -> Iterator[Change]:
        """As the Maildir connector, a file that cannot be read failing as a ConnectorError."""
        try:
            for change in super().sync_folder(folder, state, known_ids):
                if self.stopped:
                    raise Aborted("stopped")
                yield change
        except OSError as exc:
            raise ConnectorError(
                _("cannot read a folder: {error}").format(error=exc.strerror or exc)
            ) from exc


@dataclass
class MaildirMeasure(ImapMeasure):
    """Measures mailboxes in a mail root on disk: quick (file names only) or full."""

    access: MaildirRoot  # type: ignore[assignment]

    def _setup(self) -> None:
        """Nothing to prepare: no connection, no TLS."""

    def connector(self, entry: PendingMailbox) -> Connector:
        """The Maildir connector on one mailbox's directory (full depth)."""
        return SnapshotMaildir(self.access.directory(entry.mailbox, entry.login))

    def stopper(self, connector: Connector) -> Callable[[], None]:
        """What stops a full sync between two batches of messages."""
        return connector.abort

    def __call__(self, entry: PendingMailbox, attempt: Attempt) -> MailboxFigures:
        """Measure one mailbox (raises MeasureError, Aborted)."""
        root = self.access.directory(entry.mailbox, entry.login)
        figures, paths = maildir_figures(root, attempt)
        if self.depth == "full":
            try:
                self._full(entry, figures, paths, attempt)
            except ConnectorError as exc:
                attempt.check()
                names = paths + [u.name for u in figures.unreadable]
                raise MeasureError(scrub(str(exc), names), retryable=False) from exc
        return figures
