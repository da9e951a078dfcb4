"""Files that hold mail data are the user's alone: 0600 files in 0700 directories.

The index (subjects, senders, attachment names), the journal, exports and snapshot stores
are created through these helpers. Modes are asked of the system, which removes what the
umask forbids, so a stricter umask is respected; a file or directory that already exists
with more permissions than these loses them (never gains any).
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) readable by the owner only; an existing one
    is left as it is (it may be the user's own, shared on purpose)."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile by another process
            os.mkdir(directory, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Make sure ``path`` exists and is readable and writable by its owner only."""
    private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        if mode & 0o077:
            os.fchmod(fd, mode & ~0o077)
    finally:
        os.close(fd)
    return path


def tighten(path: Path) -> None:
    """Take group and other permissions away from an existing file or directory."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077:
        os.chmod(path, mode & ~0o077)


def open_private(path: Path, flags: int = os.O_WRONLY | os.O_CREAT | os.O_EXCL) -> int:
    """``os.open`` of a new file with mode 0600 (in a private directory); its descriptor."""
    private_dir(path.parent)
    return os.open(path, flags, FILE_MODE)
