"""SVG snapshots of the review app's main screens, in English and in French.

The fixture index comes from a fixed corpus scanned as of a fixed date, with the clock's
time zone set to UTC, so the screens never depend on when the tests run. Regenerate with
``pytest tests/test_tui_snapshots.py --snapshot-update`` after a deliberate change (and
the French ones after the catalogue gains the app's texts).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot

from mailclean.i18n import language, set_language
from tests.support.review import SIZE, Store, make_maildir_store


@pytest.fixture(autouse=True)
def _utc_and_language(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    before = language()
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    set_language(before)
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return make_maildir_store(tmp_path)


async def _ready(pilot: Pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def _review(pilot: Pilot) -> None:
    """The newsletters rule open in the Review tab, on its biggest group's second message."""
    await _ready(pilot)
    app = pilot.app
    names = [r.name for r in app.rule_figures]  # type: ignore[attr-defined]
    await pilot.press(*["down"] * names.index("newsletters"), "enter", "down", "enter",
                      "down")
    await pilot.pause(0.2)


async def _confirm(pilot: Pilot) -> None:
    """The biggest newsletter group selected, then t: the confirmation dialog."""
    await _review(pilot)
    await pilot.press("left", "space", "t")
    await pilot.pause()


LANGS = ["en", "fr"]


@pytest.mark.parametrize("lang", LANGS)
def test_overview(snap_compare, store: Store, lang: str) -> None:  # type: ignore[no-untyped-def]
    """Mailbox size, what is worth cleaning per rule, freed so far, volume by folder."""
    assert snap_compare(store.app(lang=lang), terminal_size=SIZE, run_before=_ready)


@pytest.mark.parametrize("lang", LANGS)
def test_review(snap_compare, store: Store, lang: str) -> None:  # type: ignore[no-untyped-def]
    """Rules, a rule's groups, a group's messages and a message's details."""
    assert snap_compare(store.app(lang=lang), terminal_size=SIZE, run_before=_review)


@pytest.mark.parametrize("lang", LANGS)
def test_confirm_trash(snap_compare, store: Store, lang: str) -> None:  # type: ignore[no-untyped-def]
    """The confirmation dialog: what, how many, how much, and that Trash frees nothing yet."""
    assert snap_compare(store.app(lang=lang), terminal_size=SIZE, run_before=_confirm)


@pytest.mark.parametrize("lang", LANGS)
def test_help(snap_compare, store: Store, lang: str) -> None:  # type: ignore[no-untyped-def]
    """Every key."""
    assert snap_compare(store.app(lang=lang), terminal_size=SIZE, run_before=_ready,
                        press=["question_mark"])


async def _journal(pilot: Pilot) -> None:
    """The journal tab after one move to the Trash (times shown are masked: they move)."""
    await _confirm(pilot)
    await pilot.press("enter")
    await _ready(pilot)
    await pilot.press("enter", "3")
    await pilot.pause()
    # The action's start and end times are today's: show a fixed one instead.
    index = pilot.app.index  # type: ignore[attr-defined]
    with index.db.atomic():
        index.conn.execute("UPDATE actions SET started_at = '2026-06-01T10:00:00+00:00',"
                           " finished_at = '2026-06-01T10:00:01+00:00', pid = 1")
    pilot.app._load_journal()  # type: ignore[attr-defined]
    await pilot.pause()


@pytest.mark.parametrize("lang", LANGS)
def test_journal_after_trash(snap_compare, store: Store, lang: str) -> None:  # type: ignore[no-untyped-def]
    """The journal tab after one move to the Trash."""
    assert snap_compare(store.app(lang=lang), terminal_size=SIZE, run_before=_journal)


# -- 80×24: the smallest usual terminal. Numbers are never cut there: names are shortened
# and low-value columns left out instead, and the overview's panes are stacked.

SMALL = (80, 24)


@pytest.mark.parametrize("lang", LANGS)
def test_overview_80x24(snap_compare, store: Store, lang: str) -> None:  # type: ignore[no-untyped-def]
    """The overview, its panes one under the other."""
    assert snap_compare(store.app(lang=lang), terminal_size=SMALL, run_before=_ready)


@pytest.mark.parametrize("lang", LANGS)
def test_overview_folders_80x24(snap_compare, store: Store, lang: str) -> None:  # type: ignore[no-untyped-def]
    """The overview scrolled down to the volume by folder."""

    async def run(pilot: Pilot) -> None:
        await _ready(pilot)
        body = pilot.app.main.query_one("#overview-body")  # type: ignore[attr-defined]
        body.scroll_end(animate=False)
        # On a loaded machine the scroll and the repaint after it can take more than one
        # pause: wait until the body is at its end and has been refreshed once more.
        for _ in range(50):
            await pilot.pause()
            if body.max_scroll_y and body.scroll_y >= body.max_scroll_y:
                break
        await pilot.pause()

    assert snap_compare(store.app(lang=lang), terminal_size=SMALL, run_before=run)


@pytest.mark.parametrize("lang", LANGS)
def test_review_80x24(snap_compare, store: Store, lang: str) -> None:  # type: ignore[no-untyped-def]
    """The message list keeps its subjects and sizes; the dates and folders give way."""
    assert snap_compare(store.app(lang=lang), terminal_size=SMALL, run_before=_review)


@pytest.mark.parametrize("lang", LANGS)
def test_journal_80x24(snap_compare, store: Store, lang: str) -> None:  # type: ignore[no-untyped-def]
    """Sizes whole; the target column gives way (the action's pane says it)."""
    assert snap_compare(store.app(lang=lang), terminal_size=SMALL, run_before=_journal)
