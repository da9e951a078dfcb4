"""The demo mailbox: a realistic Maildir built from the fixture generator, no server needed."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from mailclean import mailgen


def build_demo(root: Path, *, messages: int = 600, seed: int = 2026) -> Path:
    """(Re)build the demo Maildir under ``root`` and return its path.

    Dates are relative to today so that "older than 3 years" means what it says.
    """
    maildir = root / "Maildir"
    if maildir.exists():
        shutil.rmtree(maildir)
    maildir.mkdir(parents=True)
    corpus = mailgen.generate(seed, reference=datetime.now(UTC), messages=messages)
    mailgen.write_maildir(maildir, corpus)
    return maildir
