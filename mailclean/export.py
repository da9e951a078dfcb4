"""Exporting whole messages to an mbox file or a tree of .eml files, and reading the export
back to prove it holds exactly what was written before anything is removed.

The mbox is *mboxrd*: every line that starts with ``From `` after any number of ``>`` gets
one more ``>``, so reading undoes the quoting exactly. Messages are stored with LF line
ends (the mbox convention); .eml files keep the bytes exactly as the server sent them.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mailclean.i18n import _, ngettext
from mailclean.private import open_private, private_dir

FORMATS = ("mbox", "eml")
_QUOTED_FROM = re.compile(rb"^>*From ", re.MULTILINE)


class ExportError(Exception):
    """The export cannot be written, or does not read back as written."""


def format_for(path: Path, explicit: str | None = None) -> str:
    """``explicit``, else "mbox" for a ``.mbox`` file name, else "eml" (a directory)."""
    if explicit:
        if explicit not in FORMATS:
            raise ExportError(_("unknown export format {fmt!r}").format(fmt=explicit))
        return explicit
    return "mbox" if path.suffix.lower() == ".mbox" else "eml"


def canonical(raw: bytes) -> bytes:
    """The message with LF line ends and a final line end: what both formats preserve."""
    data = raw.replace(b"\r\n", b"\n")
    return data if data.endswith(b"\n") else data + b"\n"


def crlf_size(raw: bytes) -> int:
    """The size a server counts (RFC822.SIZE): every line end as CRLF."""
    return len(raw) + raw.count(b"\n") - raw.count(b"\r\n")


def digest(raw: bytes) -> str:
    """Fingerprint of a message, independent of its line ends."""
    return hashlib.sha256(canonical(raw)).hexdigest()


@dataclass(slots=True)
class Verified:
    """What reading an export back found."""

    messages: int
    bytes: int
    """Bytes of the messages read back, counted as a server counts them (CRLF); an mbox
    adds a final line end to a message without one."""


class Writer:
    """Base of the two writers: remembers the fingerprint of everything written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.written: Counter[str] = Counter()
        self.bytes = 0

    def add(self, raw: bytes, folder: str, name: str) -> None:
        """Write one message (``folder`` and ``name`` place it in an .eml tree)."""
        self.written[digest(raw)] += 1
        self.bytes += crlf_size(self.stored(raw))

    def stored(self, raw: bytes) -> bytes:
        """The message as this format keeps it (and reads it back)."""
        return raw

    def close(self) -> None:
        """Flush and close."""

    def verify(self) -> Verified:
        """Read the export back: same messages, same count, same bytes; else ExportError."""
        found: Counter[str] = Counter()
        size = 0
        for raw in read(self.path, self.format):
            found[digest(raw)] += 1
            size += crlf_size(raw)
        if found != self.written or size != self.bytes:
            missing = sum((self.written - found).values())
            extra = sum((found - self.written).values())
            raise ExportError(
                _(
                    "the export {path} does not read back as written ({missing}, {extra}): "
                    "nothing was removed"
                ).format(
                    path=self.path,
                    missing=ngettext(
                        "{n} message missing or altered", "{n} messages missing or altered", missing
                    ).format(n=missing),
                    extra=ngettext("{n} unexpected", "{n} unexpected", extra).format(n=extra),
                )
            )
        return Verified(sum(found.values()), size)

    format = ""


class MboxWriter(Writer):
    """An mboxrd file; refuses to overwrite an existing one."""

    format = "mbox"

    def stored(self, raw: bytes) -> bytes:
        """LF line ends and a final line end."""
        return canonical(raw)

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        if path.exists() and path.stat().st_size > 0:
            raise ExportError(
                _("{path} already exists: choose another file name").format(path=path)
            )
        try:
            # Exports hold whole messages: the owner's alone (0600 in a 0700 directory).
            self._file = os.fdopen(
                open_private(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "wb")
        except OSError as exc:
            raise ExportError(
                _("cannot write {path}: {reason}").format(path=path, reason=exc.strerror)
            ) from exc

    def add(self, raw: bytes, folder: str, name: str) -> None:
        """Append one message with its ``From`` line."""
        super().add(raw, folder, name)
        body = _QUOTED_FROM.sub(lambda m: b">" + m.group(0), canonical(raw))
        stamp = time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime())
        try:
            self._file.write(f"From MAILER-DAEMON {stamp}\n".encode() + body + b"\n")
        except OSError as exc:
            raise ExportError(
                _("cannot write {path}: {reason}").format(path=self.path, reason=exc.strerror)
            ) from exc

    def close(self) -> None:
        """Flush to disk."""
        self._file.flush()
        self._file.close()


class EmlWriter(Writer):
    """One ``.eml`` file per message under ``<dir>/<folder>/``, bytes as the server gave."""

    format = "eml"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise ExportError(
                _("{path} already exists and is not an empty folder: choose another").format(
                    path=path
                )
            )
        self.count = 0

    def add(self, raw: bytes, folder: str, name: str) -> None:
        """Write ``<dir>/<folder>/<n>-<name>.eml``."""
        super().add(raw, folder, name)
        self.count += 1
        parts = [_safe(p) for p in re.split(r"[/.]", folder) if p] or ["INBOX"]
        target = self.path.joinpath(*parts)
        try:
            private_dir(target)
            with os.fdopen(open_private(target / f"{self.count:06d}-{_safe(name)}.eml"),
                           "wb") as f:
                f.write(raw)
        except OSError as exc:
            raise ExportError(
                _("cannot write {path}: {reason}").format(path=target, reason=exc.strerror)
            ) from exc


def writer_for(path: Path, fmt: str) -> Writer:
    """A writer of ``fmt`` at ``path``."""
    return MboxWriter(path) if fmt == "mbox" else EmlWriter(path)


def read(path: Path, fmt: str) -> Iterator[bytes]:
    """The messages of an export, as written (mbox: LF line ends, quoting undone)."""
    if fmt == "eml":
        for file in sorted(path.rglob("*.eml")):
            yield file.read_bytes()
        return
    current: list[bytes] | None = None
    with path.open("rb") as f:
        for line in f:
            if line.startswith(b"From "):
                if current is not None:
                    yield _unquote(current)
                current = []
            elif current is not None:
                current.append(line)
    if current is not None:
        yield _unquote(current)


def _unquote(lines: list[bytes]) -> bytes:
    # The writer ends every message with one blank line of its own.
    if lines and lines[-1] == b"\n":
        lines = lines[:-1]
    return b"".join(line[1:] if re.match(rb">+From ", line) else line for line in lines)


def _safe(name: str) -> str:
    cleaned = re.sub(r"[^\w.@+-]+", "_", name, flags=re.UNICODE).strip("._")
    return cleaned[:80] or "message"
