"""The demo mailbox: a realistic Maildir built from the fixture generator, no server needed."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from mailclean import mailgen

#: Progress of :func:`build_demo`: (stage, done, total) with stage "compose", "render"
#: (the generator's) then "write", each counted in messages.
Progress = mailgen.Progress


def build_demo(
    root: Path, *, messages: int = 600, seed: int = 2026, progress: Progress | None = None
) -> Path:
    """(Re)build the demo Maildir under ``root`` and return its path.

    Dates are relative to today so that "older than 3 years" means what it says.
    """
    maildir = root / "Maildir"
    if maildir.exists():
        shutil.rmtree(maildir)
    maildir.mkdir(parents=True)
    corpus = mailgen.generate(seed, reference=datetime.now(UTC), messages=messages,
                              progress=progress)
    total = len(corpus)
    done = 0

    def written(_message: mailgen.GeneratedMessage, _path: str) -> None:
        nonlocal done
        done += 1
        if progress is not None and (done % mailgen.PROGRESS_EVERY == 0 or done == total):
            progress("write", done, total)

    mailgen.write_maildir(maildir, corpus, written=written)
    return maildir
