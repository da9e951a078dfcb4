"""What the review app's tests share (``tests/test_tui*.py``): the terminal size, a seeded
store described the way the app is given one (:class:`Store`), the Maildir store built once
per session, and how to drive the app with Pilot without an asyncio plugin."""

from __future__ import annotations

import asyncio
import atexit
import functools
import shutil
import tempfile
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mailclean import config as cfg
from mailclean import mailgen
from mailclean.connectors.base import Connector
from mailclean.connectors.maildir import MaildirConnector
from mailclean.index import Index
from mailclean.rules import load_rules, scan
from mailclean.sync import sync_account
from tests.support.corpora import REFERENCE, standard_mailbox

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from mailclean.tui.app import ReviewApp

ACCOUNT = "work"
#: The terminal the app is driven in (columns, lines); the SVG snapshots are this size.
SIZE = (140, 40)


@dataclass
class Store:
    """A seeded mail store as the review app is given one: the config file naming it, the
    path of an index already synced from it and scanned as of :data:`REFERENCE` (the app
    opens the index itself), the app's connector factory, and the store's own oracle.

    Not the same double as ``Box`` in ``tests/test_other_servers.py`` or in
    ``tests/test_actions.py``: those drive the library directly (an open
    :class:`~mailclean.index.Index`, connectors built without a config) and read the
    server message by message as another client; a Store holds nothing open, so each test
    builds a fresh app from it, the way ``mailclean review`` starts.
    """

    kind: str
    config: Path
    index: Path
    status: Callable[[], dict[str, tuple[int, int]]]
    """The store's own {folder: (messages, bytes)}."""
    factory: Callable[[cfg.AccountConfig], Connector] | None = None
    """The app's ``connector_factory`` (None: the app builds it from the config)."""
    root: Path | None = None
    trash: str = "Trash"
    """The Trash folder's path (Exchange names it "Deleted Items")."""

    def app(self, **kw: object) -> ReviewApp:
        from mailclean.tui import build_app

        return build_app(self.index, self.config, ACCOUNT, lang=kw.pop("lang", "en"),  # type: ignore[arg-type]
                         connector_factory=kw.pop("factory", self.factory),  # type: ignore[arg-type]
                         **kw)  # type: ignore[arg-type]


def maildir_status(root: Path) -> dict[str, tuple[int, int]]:
    return {f.path: (f.messages or 0, f.bytes or 0) for f in MaildirConnector(root).list_folders()}


_TEMPLATES: dict[str, Path] = {}


def make_maildir_store(tmp: Path) -> Store:
    """A Maildir account of :func:`~tests.support.corpora.standard_mailbox`, synced and
    scanned as of REFERENCE (built once per session, then copied)."""
    template = _TEMPLATES.get("maildir")
    if template is None or not template.exists():
        template = Path(tempfile.mkdtemp(prefix="mailclean-tui-"))
        root = template / "Maildir"
        mailgen.write_maildir(root, standard_mailbox())
        index = Index(template / "index.db")
        try:
            sync_account(index, ACCOUNT, MaildirConnector(root))
            scan(index, ACCOUNT, load_rules(None), now=REFERENCE)
            # What the screens show must not depend on when the test runs.
            with index.db.atomic():
                index.conn.execute(
                    "UPDATE accounts SET synced_at = '2026-06-01T09:00:00+00:00'")
            # Everything in the main file, so that copying it copies the index.
            index.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            index.close()
        _TEMPLATES["maildir"] = template
        atexit.register(shutil.rmtree, template, ignore_errors=True)
    shutil.copytree(template / "Maildir", tmp / "Maildir", symlinks=True)
    shutil.copy2(template / "index.db", tmp / "index.db")
    root = tmp / "Maildir"
    config = cfg.Config(path=tmp / "config.toml")
    config.add(cfg.AccountConfig(name=ACCOUNT, kind="maildir", path=str(root)))
    config.save()
    return Store("maildir", config.path, tmp / "index.db", lambda: maildir_status(root),
                 root=root)


def index_account(path: Path, connector: Connector) -> None:
    """Sync the account into a new index at ``path`` and scan it as of REFERENCE."""
    index = Index(path)
    try:
        sync_account(index, ACCOUNT, connector)
        scan(index, ACCOUNT, load_rules(None), now=REFERENCE)
    finally:
        index.close()


def pilot_test(fn: Callable[..., Coroutine[object, object, None]]) -> Callable[..., None]:
    """Run an async test body in its own event loop (no pytest asyncio plugin needed)."""

    @functools.wraps(fn)
    def wrapper(*args: object, **kwargs: object) -> None:
        asyncio.run(fn(*args, **kwargs))

    return wrapper


async def settle(pilot: Pilot) -> None:
    """Let workers finish and the screen catch up."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
