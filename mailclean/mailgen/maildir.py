"""Writing generated messages as a Maildir++ tree that Dovecot serves."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from mailclean.mailgen.headers import imap_utf7
from mailclean.mailgen.truth import ANSWERED, FLAGGED, SEEN, STANDARD_FOLDERS, GeneratedMessage


def maildir_dirname(folder: str) -> str:
    """The Maildir++ directory of ``folder`` ("" for INBOX): ``.Projets.D&AOk-lib&AOk-rations``.

    Dots are the hierarchy separator in Maildir++, so folder names must not contain any.
    """
    if folder.upper() == "INBOX":
        return ""
    if "." in folder:
        raise ValueError(f"Maildir++ cannot hold a folder name with a dot: {folder!r}")
    return "." + imap_utf7(folder).replace("/", ".")


_FLAG_LETTERS = {SEEN: "S", FLAGGED: "F", ANSWERED: "R"}


def write_maildir(root: Path, messages: Iterable[GeneratedMessage], *,
                  owner: tuple[int, int] | None = None,
                  written: Callable[[GeneratedMessage, str], None] | None = None,
                  ) -> dict[str, int]:
    """Write ``messages`` into a Maildir++ tree as Dovecot reads it; {folder: count}.

    INBOX is ``root`` itself, folder ``A/B`` is ``root/.A.B`` (modified UTF-7 name); every
    folder, its parents and the standard folders get cur/, new/ and tmp/. Files go to cur/
    named ``<time>.M<n>P<i>.mailgen,S=<LF size>,W=<CRLF size>:2,<flags>`` where n is the
    message's position in ``messages`` and i its position in its folder; contents use LF
    line ends and the mtime is the internal date (Dovecot's INTERNALDATE). With
    ``owner=(uid, gid)`` everything created, root included, is chowned. Empty folders are in
    the result with 0. ``written(message, path)`` is called after each file is written.
    """
    root = Path(root)
    counts: dict[str, int] = {}
    paths: dict[str, str] = {}

    def chown(path: str) -> None:
        if owner is not None:
            os.chown(path, owner[0], owner[1])

    def ensure(folder: str) -> str:
        if folder in paths:
            return paths[folder]
        if "/" in folder:
            ensure(folder.rsplit("/", 1)[0])
        directory = os.path.join(root, maildir_dirname(folder)) if folder != "INBOX" \
            else str(root)
        for sub in ("", "cur", "new", "tmp"):
            path = os.path.join(directory, sub) if sub else directory
            os.makedirs(path, exist_ok=True)
            chown(path)
        if folder != "INBOX":
            marker = os.path.join(directory, "maildirfolder")
            open(marker, "wb").close()  # Maildir++ marks sub-folders so
            chown(marker)
        paths[folder] = os.path.join(directory, "cur")
        counts[folder] = 0
        return paths[folder]

    root.mkdir(parents=True, exist_ok=True)
    chown(str(root))
    for folder in ("INBOX", *STANDARD_FOLDERS):
        ensure(folder)
    for n, message in enumerate(messages):
        cur = ensure(message.folder)
        data = message.raw.replace(b"\r\n", b"\n")
        stamp = int(message.internal_date.timestamp())
        flags = "".join(sorted(_FLAG_LETTERS[f] for f in message.flags))
        name = (f"{stamp}.M{n}P{counts[message.folder]}.mailgen,S={len(data)},"
                f"W={len(message.raw)}:2,{flags}")
        path = os.path.join(cur, name)
        with open(path, "wb") as handle:
            handle.write(data)
        os.utime(path, (stamp, stamp))
        chown(path)
        counts[message.folder] += 1
        if written is not None:
            written(message, path)
    return counts
