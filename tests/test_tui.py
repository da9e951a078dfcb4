"""The review app driven by Pilot against real mail stores: a local Maildir and the private
Dovecot (user ``user2``). The oracle is the store itself (the Maildir's files, ``doveadm
mailbox status``) and the journal, never the app's own display.
"""

from __future__ import annotations

import gettext
import html
import io
import mailbox
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Static

from mailclean import config as cfg
from mailclean import i18n
from mailclean.connectors.base import Connector
from mailclean.connectors.ews import EwsConnector, EwsSettings
from mailclean.connectors.imap import ImapConnector, ImapSettings
from mailclean.i18n import language, number, set_language, size
from mailclean.index import Index
from mailclean.index.journal import Journal
from mailclean.tui.app import ReviewApp
from mailclean.tui.screens import ConfirmScreen, HelpScreen, ProgressScreen
from mailclean.tui.widgets import VirtualTable
from tests.ews import EwsServer
from tests.support.corpora import standard_mailbox
from tests.support.review import (
    ACCOUNT,
    SIZE,
    Store,
    index_account,
    make_maildir_store,
    pilot_test,
    settle,
)

USER, PASSWORD = "user2", "secret2"


@pytest.fixture(autouse=True)
def _restore_language() -> Iterator[None]:
    before = language()
    yield
    set_language(before)


@pytest.fixture
def maildir_store(tmp_path: Path) -> Store:
    return make_maildir_store(tmp_path)


@pytest.fixture
def dovecot_store(dovecot, tmp_path: Path) -> Store:  # type: ignore[no-untyped-def]
    dovecot.reset_user(USER)
    dovecot.seed(USER, standard_mailbox())
    config = cfg.Config(path=tmp_path / "config.toml")
    config.add(cfg.AccountConfig(name=ACCOUNT, kind="imap", host=dovecot.host,
                                 port=dovecot.port, user=USER, security="none",
                                 password="env", password_env="MAILCLEAN_TEST_UNUSED"))
    config.save()

    def factory(acc: cfg.AccountConfig) -> Connector:
        return ImapConnector(ImapSettings(dovecot.host, USER, PASSWORD, port=dovecot.port,
                                          security="none"))

    index_account(tmp_path / "index.db", factory(config.account(ACCOUNT)))
    return Store("dovecot", config.path, tmp_path / "index.db",
                 lambda: dovecot.status(USER), factory=factory)


@pytest.fixture(scope="module")
def ews_server() -> Iterator[EwsServer]:
    """One loopback EWS server for the module; each test resets and seeds its mailbox."""
    with EwsServer() as server:
        yield server


@pytest.fixture
def ews_store(ews_server: EwsServer, tmp_path: Path) -> Store:
    """The same corpus in an Exchange mailbox, through the loopback EWS server (exchangelib
    unmodified)."""
    ews_server.reset()
    ews_server.seed(standard_mailbox())
    config = cfg.Config(path=tmp_path / "config.toml")
    config.add(cfg.AccountConfig(name=ACCOUNT, kind="ews", ews_url=ews_server.url,
                                 email=ews_server.email, user="MAIRIE\\agent", auth="basic",
                                 password="env", password_env="MAILCLEAN_TEST_UNUSED"))
    config.save()

    def factory(acc: cfg.AccountConfig) -> Connector:
        return EwsConnector(EwsSettings(email=ews_server.email, ews_url=ews_server.url,
                                        auth="none", max_wait=5.0))

    index_account(tmp_path / "index.db", factory(config.account(ACCOUNT)))
    return Store("ews", config.path, tmp_path / "index.db", ews_server.store.truth,
                 factory=factory, trash=ews_server.store.by_distinguished["deleteditems"].name)


@pytest.fixture(params=["maildir", "dovecot", "ews"])
def store(request: pytest.FixtureRequest) -> Store:
    return request.getfixturevalue(f"{request.param}_store")


# -- helpers ------------------------------------------------------------------------------


def sender_group(store: Store) -> tuple[str, dict[str, tuple[int, int]]]:
    """The biggest newsletter group that is one sender's address, and what it holds per
    folder (outside the Trash), read straight from the index."""
    index = Index(store.index)
    try:
        key = index.conn.execute(
            "SELECT h.group_key FROM hits h JOIN messages m ON m.id = h.message_id"
            " JOIN folders f ON f.id = m.folder_id WHERE h.rule = 'newsletters'"
            " AND h.group_key LIKE '%@%' AND coalesce(f.role, '') != 'trash'"
            " GROUP BY h.group_key ORDER BY sum(h.bytes) DESC LIMIT 1"
        ).fetchone()[0]
        per_folder = {
            r[0]: (r[1], r[2]) for r in index.conn.execute(
                "SELECT f.path, count(*), sum(m.size) FROM hits h JOIN messages m"
                " ON m.id = h.message_id JOIN folders f ON f.id = m.folder_id"
                " WHERE h.rule = 'newsletters' AND h.group_key = ?"
                " AND coalesce(f.role, '') != 'trash' GROUP BY f.path", [key])
        }
    finally:
        index.close()
    return key, per_folder


async def open_newsletters(pilot: Pilot, app: ReviewApp) -> None:
    """From the overview: the newsletters rule, opened in the Review tab."""
    await settle(pilot)
    names = [r.name for r in app.rule_figures]
    for _ in range(names.index("newsletters")):
        await pilot.press("down")
    await pilot.press("enter")
    await pilot.pause()
    assert app.main.query_one("#groups").has_focus
    assert app.group_list is not None and app.group_list.rule == "newsletters"


async def select_group(pilot: Pilot, app: ReviewApp, key: str) -> None:
    """Move to the group ``key`` and select it whole with Space."""
    assert app.group_list is not None
    for _ in range(app.group_list.keys.index(key) + 1):  # line 0 is "all groups"
        await pilot.press("down")
    await pilot.press("space")
    await pilot.pause()


async def confirm(pilot: Pilot, app: ReviewApp, key: str = "enter") -> str:
    """Answer the confirmation dialog with ``key``; what it said."""
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, ConfirmScreen), screen
    text = dialog_text(screen)
    await pilot.press(key)
    return text


async def close_progress(pilot: Pilot, app: ReviewApp) -> str:
    """Wait for the job, close its dialog; what it said at the end."""
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, ProgressScreen), screen
    assert screen.finished
    text = dialog_text(screen)
    await pilot.press("enter")
    await pilot.pause()
    assert not isinstance(app.screen, ProgressScreen)
    return text


def dialog_text(screen: ConfirmScreen | ProgressScreen) -> str:
    return "\n".join(text_of(s) for s in screen.query(".line"))


def text_of(widget: Static) -> str:
    """What a Static shows, as plain text (rich renderables rendered 200 columns wide)."""
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


def screen_text(app: ReviewApp) -> str:
    """What the terminal shows, line by line, from textual's own rendering (the SVG of a
    screenshot: runs of text, spaces between them dropped)."""
    svg = app.export_screenshot()
    lines: dict[int, list[str]] = {}
    for match in re.finditer(r'<text [^>]*clip-path="url\(#[^)]*-line-(\d+)\)">(.*?)</text>',
                             svg):
        lines.setdefault(int(match.group(1)), []).append(html.unescape(match.group(2)))
    return "\n".join("".join(parts).replace("\xa0", " ") for _, parts in sorted(lines.items()))


def table_lines(table: VirtualTable) -> list[str]:
    """The lines a VirtualTable draws (header first), as text."""
    return [table.render_line(y).text for y in range(table.scrollable_content_region.height)]


def moved(before: dict[str, tuple[int, int]], per_folder: dict[str, tuple[int, int]],
          trash: str) -> dict[str, tuple[int, int]]:
    """The store's counts after ``per_folder`` moved to ``trash``."""
    after = dict(before)
    for folder, (n, b) in per_folder.items():
        after[folder] = (after[folder][0] - n, after[folder][1] - b)
        after[trash] = (after[trash][0] + n, after[trash][1] + b)
    return after


# -- tests --------------------------------------------------------------------------------


@pilot_test
async def test_trash_one_senders_newsletters(store: Store) -> None:
    """Select all newsletters of one sender, trash them, confirm: the store changes by
    exactly that selection and the journal (and the overview) show the volume."""
    key, per_folder = sender_group(store)
    count = sum(n for n, _ in per_folder.values())
    volume = sum(b for _, b in per_folder.values())
    assert count >= 5
    before = store.status()
    app = store.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_newsletters(pilot, app)
        await select_group(pilot, app, key)
        assert app.data.selection_totals() == (count, volume)
        await pilot.press("t")
        text = await confirm(pilot, app)
        assert f"Move {count} messages" in text and "frees nothing" in text
        assert f"Moved {count} messages" in await close_progress(pilot, app)
        # The review moved on: the group is gone from the newsletters, the selection too.
        assert key not in app.group_list.keys  # type: ignore[union-attr]
        assert app.data.selection_totals() == (0, 0)
        freed = app.data.overview().freed_total
        assert freed["trashed_bytes"] == volume == freed["still_in_trash_bytes"]
        assert freed["deleted_bytes"] == 0
    assert store.status() == moved(before, per_folder, store.trash)
    index = Index(store.index)
    try:
        (action,) = Journal(index).actions(1)
        assert (action.kind, action.state) == ("trash", "done")
        assert action.count("done") == (count, volume)
    finally:
        index.close()


@pilot_test
async def test_cancel_mid_action_then_finish_from_the_journal(dovecot_store: Store) -> None:
    """Escape during an action stops it after the batch in flight; the store holds exactly
    what was done; the Journal tab finishes it."""
    store = dovecot_store
    key, per_folder = sender_group(store)
    assert list(per_folder) == ["INBOX"]
    count, volume = per_folder["INBOX"]
    first_batch, gate = threading.Event(), threading.Event()

    def slow_factory(acc: cfg.AccountConfig) -> Connector:
        c = store.factory(acc)  # type: ignore[misc]
        real = c.move

        def move(*args: object, **kwargs: object) -> object:
            result = real(*args, **kwargs)  # type: ignore[arg-type]
            first_batch.set()
            assert gate.wait(20)
            return result

        c.move = move  # type: ignore[method-assign]
        return c

    before = store.status()
    app = store.app(factory=slow_factory, batch=2)
    async with app.run_test(size=SIZE) as pilot:
        await open_newsletters(pilot, app)
        await select_group(pilot, app, key)
        await pilot.press("t")
        await confirm(pilot, app)
        for _ in range(200):
            if first_batch.is_set():
                break
            await pilot.pause(0.05)
        assert first_batch.is_set()
        assert isinstance(app.screen, ProgressScreen)
        await pilot.press("escape")
        gate.set()
        assert "Cancelled" in await close_progress(pilot, app)
        status = store.status()
        assert status["INBOX"][0] == before["INBOX"][0] - 2
        assert status["Trash"][0] == before["Trash"][0] + 2
        index = Index(store.index)
        try:
            (action,) = Journal(index).actions(1)
            assert action.state == "cancelled"
            assert action.count("done")[0] == 2 and action.unfinished == count - 2
            assert status["Trash"][1] - before["Trash"][1] == action.count("done")[1]
        finally:
            index.close()
        # Finish it from the journal: r, confirm.
        await pilot.press("3")
        await pilot.pause()
        await pilot.press("r")
        await confirm(pilot, app)
        await close_progress(pilot, app)
    assert store.status() == moved(before, per_folder, "Trash")
    index = Index(store.index)
    try:
        (action,) = Journal(index).actions(1)
        assert action.state == "done" and action.count("done") == (count, volume)
    finally:
        index.close()


@pilot_test
async def test_undo_puts_the_messages_back(store: Store) -> None:
    key, per_folder = sender_group(store)
    before = store.status()
    app = store.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_newsletters(pilot, app)
        await select_group(pilot, app, key)
        await pilot.press("t")
        await confirm(pilot, app)
        await close_progress(pilot, app)
        assert store.status() == moved(before, per_folder, store.trash)
        await pilot.press("u")
        text = await confirm(pilot, app)
        assert f"Put {sum(n for n, _ in per_folder.values())} messages" in text
        await close_progress(pilot, app)
        assert key in app.group_list.keys  # type: ignore[union-attr]
        freed = app.data.overview().freed_total
        assert freed["trashed_bytes"] == 0
        assert freed["restored_bytes"] == sum(b for _, b in per_folder.values())
    assert store.status() == before


@pilot_test
async def test_delete_is_refused_outside_the_trash_and_empty_trash_frees(
    maildir_store: Store,
) -> None:
    """D on messages outside the Trash does nothing; X asks with Cancel focused (Enter alone
    deletes nothing), then deletes the Trash for good and counts it as freed."""
    store = maildir_store
    key, _per_folder = sender_group(store)
    before = store.status()
    app = store.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_newsletters(pilot, app)
        await select_group(pilot, app, key)
        await pilot.press("D")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert store.status() == before
        await pilot.press("X")
        text = await confirm(pilot, app)  # Enter on the focused button: Cancel
        assert "for good" in text
        await settle(pilot)
        assert store.status() == before
        await pilot.press("X")
        await pilot.pause()
        await pilot.click("#yes")
        await close_progress(pilot, app)
        freed = app.data.overview().freed_total
    after = store.status()
    index = Index(store.index)
    try:
        flagged = index.conn.execute(
            "SELECT count(*), coalesce(sum(size), 0) FROM messages m JOIN folders f ON"
            " f.id = m.folder_id WHERE f.role = 'trash' AND m.flagged = 1").fetchone()
    finally:
        index.close()
    assert after["Trash"] == tuple(flagged)
    assert freed["deleted_bytes"] == before["Trash"][1] - flagged[1] > 0
    assert {k: v for k, v in after.items() if k != "Trash"} == \
        {k: v for k, v in before.items() if k != "Trash"}


@pilot_test
async def test_export_then_trash_writes_a_checked_mbox(store: Store, tmp_path: Path) -> None:
    key, per_folder = sender_group(store)
    count = sum(n for n, _ in per_folder.values())
    before = store.status()
    app = store.app(export_dir=tmp_path / "exports")
    async with app.run_test(size=SIZE) as pilot:
        await open_newsletters(pilot, app)
        await select_group(pilot, app, key)
        await pilot.press("e")
        await pilot.pause()
        await pilot.click("#yes")
        assert "read back and checked" in await close_progress(pilot, app)
    (path,) = (tmp_path / "exports").iterdir()
    assert len(mailbox.mbox(path)) == count
    assert store.status() == moved(before, per_folder, store.trash)


@pilot_test
async def test_filter_sort_select_all_and_details(maildir_store: Store) -> None:
    app = maildir_store.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_newsletters(pilot, app)
        await pilot.press("enter")  # "all groups": every newsletter
        await pilot.pause()
        listing = app.message_list
        assert listing is not None and app.main.query_one("#messages").has_focus
        sizes = [listing.row(i).size for i in range(len(listing))]
        assert sizes == sorted(sizes, reverse=True) and len(sizes) > 20
        await pilot.press("s")  # oldest first
        dates = [app.message_list.row(i).date for i in range(len(app.message_list))]
        assert dates == sorted(dates)
        subject = app.message_list.row(0).subject
        word = max(subject.split(), key=len)
        await pilot.press("slash", *word, "enter")
        await pilot.pause()
        filtered = app.message_list
        assert 0 < len(filtered) < len(listing)
        assert all(word.lower() in (filtered.row(i).subject + filtered.row(i).sender).lower()
                   for i in range(len(filtered)))
        await pilot.press("a")
        assert app.data.selection_totals()[0] == len(filtered)
        details = text_of(app.main.query_one("#details", Static))
        assert "Why" in details and filtered.row(0).subject[:20] in details
        await pilot.press("escape")  # clears the filter, keeps the selection
        await pilot.pause()
        assert len(app.message_list) == len(listing)
        assert app.data.selection_totals()[0] == len(filtered)
        await pilot.press("c")
        assert app.data.selection_totals() == (0, 0)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


@pilot_test
async def test_sync_from_the_app_shows_new_mail(maildir_store: Store) -> None:
    store = maildir_store
    assert store.root is not None
    for i in range(3):
        (store.root / "new" / f"1780000000.new{i}.test").write_text(
            f"From: someone@example.org\nTo: agent@example.org\nSubject: new {i}\n"
            f"Message-ID: <new{i}@example.org>\nDate: Mon, 1 Jun 2026 10:00:00 +0000\n\n"
            "hello\n")
    expected = sum(n for n, _ in store.status().values())
    app = store.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.data.overview().messages == expected - 3
        await pilot.press("R")
        assert "3 new" in await close_progress(pilot, app)
        assert app.data.overview().messages == expected


@pilot_test
async def test_french_interface(maildir_store: Store) -> None:
    """With lang="fr" the app's own texts go through the French catalogue and sizes read
    "ko/Mo" (texts not yet translated stay English until the catalogue has them)."""
    app = maildir_store.app(lang="fr")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        head = text_of(app.main.query_one("#ov-head", Static))
        assert " Mo" in head and "MB" not in head
        assert language() == "fr"


# -- small terminals, marks, keys, words ---------------------------------------------------


def rendered(widget: Static) -> str:
    """What a Static shows at its own width, as plain text."""
    console = Console(width=widget.content_region.width, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


@pilot_test
async def test_80x24_never_cuts_numbers(maildir_store: Store) -> None:
    """At 80×24 every count and size shows whole: in the overview's rules and folders, in
    the message list (which keeps its subjects) and in the journal."""
    app = maildir_store.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        overview = app.data.overview()
        rules = table_lines(app.main.query_one("#ov-rules", VirtualTable))
        for r, line in zip(overview.rules, rules[1:], strict=False):
            assert re.search(rf"\s{re.escape(number(r.messages))}\s+{re.escape(size(r.bytes))}",
                             line), line
        folders = rendered(app.main.query_one("#ov-folders", Static)).splitlines()
        for f in overview.folders:
            (line,) = [x for x in folders if x.strip().startswith(f"{f['name']} ")]
            assert re.search(rf"\s{re.escape(number(f['messages']))}\s+"
                             rf"{re.escape(size(f['bytes']))}(\s|$)", line), line
        await open_newsletters(pilot, app)
        await pilot.press("enter")
        await pilot.pause()
        lines = table_lines(app.main.query_one("#messages", VirtualTable))
        assert "Subject" in lines[0] and lines[0].rstrip().endswith("Size")
        listing = app.message_list
        assert listing is not None
        for i, line in enumerate(lines[1:4]):
            assert line.rstrip().endswith(size(listing.row(i).size)), line
        key, _per_folder = sender_group(maildir_store)
        await pilot.press("left")
        await select_group(pilot, app, key)
        await pilot.press("t")
        await confirm(pilot, app)
        await close_progress(pilot, app)
        await pilot.press("3")
        await pilot.pause()
        (action,) = app.data.journal()
        row = table_lines(app.main.query_one("#journal-table", VirtualTable))[1]
        done, done_bytes = action.count("done")
        assert re.search(rf"\s{done}\s+{re.escape(size(done_bytes))}(\s|$)", row), row


@pilot_test
async def test_rules_selected_with_space_show_a_mark(maildir_store: Store) -> None:
    """● when all of a rule is selected, ◐ when some of it is (in the Review's Rules pane
    and in the overview's)."""
    app = maildir_store.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        names = [r.name for r in app.rule_figures]
        i = names.index("duplicates")
        app.open_rule(i)
        await pilot.pause()
        await pilot.press("left")  # the Rules pane
        assert app.main.query_one("#rules").has_focus
        await pilot.press("space")
        await pilot.pause()
        rules = app.main.query_one("#rules", VirtualTable)
        assert table_lines(rules)[1 + i].startswith("● ")
        # The overview's list (its tab hidden) marks the rule the same way.
        assert app.main.query_one("#ov-rules", VirtualTable).source.cells(i)[1] == "selected"
        # Unselect the rule, then select one of its groups: some of the rule.
        await pilot.press("space", "right", "down", "space")
        await pilot.pause()
        assert table_lines(rules)[1 + i].startswith("◐ ")
        others = [line for n, line in enumerate(table_lines(rules)[1:8]) if n != i]
        assert not any(line.startswith("● ") for line in others)
        # Space on messages keeps the marks' counts up to date one message at a time.
        await pilot.press("c")
        await pilot.pause()
        table_lines(rules)  # the marks are counted again
        await pilot.press("home", "enter", "space", "space")  # two of the rule's messages
        await pilot.pause()
        table_lines(rules)
        assert app.data.selection_totals()[0] == 2
        assert {k: v for k, v in (app._rule_marks or {}).items() if v} == \
            app.data.selected_per_rule()


@pilot_test
async def test_arrow_keys_move_between_dialog_buttons(maildir_store: Store) -> None:
    key, _per_folder = sender_group(maildir_store)
    before = maildir_store.status()
    app = maildir_store.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_newsletters(pilot, app)
        await select_group(pilot, app, key)
        await pilot.press("t")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ConfirmScreen)
        assert screen.focused is not None and screen.focused.id == "yes"
        await pilot.press("right")
        assert screen.focused.id == "no"
        await pilot.press("right")  # the last button stays
        assert screen.focused.id == "no"
        await pilot.press("left")
        assert screen.focused.id == "yes"
        await pilot.press("escape")
        await pilot.pause()
        # Emptying the Trash starts on Cancel; the left arrow reaches the red button.
        await pilot.press("X")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ConfirmScreen) and screen.focused is not None
        assert screen.focused.id == "no"
        await pilot.press("left")
        assert screen.focused.id == "yes"
        await pilot.press("escape")
        await pilot.pause()
    assert maildir_store.status() == before  # arrows move, they never press


class _Words(gettext.NullTranslations):
    """The active catalogue, with a few words of a translator's."""

    def __init__(self, words: dict[str, str], fallback: gettext.NullTranslations) -> None:
        super().__init__()
        self.words = words
        self.add_fallback(fallback)

    def gettext(self, message: str) -> str:
        return self.words.get(message) or super().gettext(message)


@pilot_test
async def test_keys_are_one_word_in_the_footer_and_the_help(maildir_store: Store,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    """Keys are named in words of the interface's language, one word a key; the help says
    exactly what Space does."""
    app = maildir_store.app(lang="fr")
    words = {"Space": "Espace", "Enter": "Entrée", "Escape": "Échap", "PgUp": "PgPréc",
             "PgDn": "PgSuiv", "Home": "Début", "End": "Fin", "Shift+Tab": "Maj+Tab"}
    monkeypatch.setattr(i18n, "_translation", _Words(words, i18n._translation))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        keys = [k.key_display for k in app.main.query("FooterKey")]
        assert "Espace" in keys and "space" not in keys
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = text_of(app.screen.query_one("VerticalScroll Static", Static))
        for word in words.values():
            assert word in text
        assert not re.search(r"\b(space|Space|Enter|Escape|PgUp|Home)\b", text)
    set_language("en")
    app = maildir_store.app(lang="en")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "Space" in [k.key_display for k in app.main.query("FooterKey")]
        await pilot.press("question_mark")
        await pilot.pause()
        text = " ".join(text_of(app.screen.query_one("VerticalScroll Static", Static)).split())
        assert "Space Select or unselect the highlighted line: a message (then the cursor " \
            "moves to the next one), a whole group, or a whole rule" in text


@pilot_test
async def test_french_figures_use_the_french_separators(maildir_store: Store) -> None:
    """Sizes with a decimal comma, percentages with a space ("25 %"), the progress
    dialog's too (textual's own "25%" is not shown)."""
    app = maildir_store.app(lang="fr")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        head = text_of(app.main.query_one("#ov-head", Static))
        assert "49,0 Mo" in head and "\u202f%" in head and "49.0" not in head
        screen = ProgressScreen("Test", None)
        app.push_screen(screen)
        await pilot.pause()
        screen.set_total(4, 4_000_000)
        screen.advance(1, 1_500_000)
        await pilot.pause()
        text = screen_text(app)
        assert "25\u202f%" in text or "25 %" in text
        assert "25%" not in text and "1,5 Mo" in text


@pilot_test
async def test_sync_of_an_unchanged_mailbox_says_it_is_up_to_date(maildir_store: Store
                                                                  ) -> None:
    app = maildir_store.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("R")
        await settle(pilot)
        text = screen_text(app)
        assert "Already up to date" in text and "0 of 0" not in text
        said = await close_progress(pilot, app)
        assert "nothing changed on the server" in said and "0 new" not in said


def test_review_without_a_terminal_refuses_at_once(maildir_store: Store) -> None:
    """stdin and stdout not a terminal: a one-line error, no app waiting for keys."""
    env = {**os.environ, "MAILCLEAN_LANG": "en", "LANG": "C"}
    result = subprocess.run(
        [sys.executable, "-m", "mailclean", "--lang", "en", "--config",
         str(maildir_store.config), "--db", str(maildir_store.index), "review", ACCOUNT],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, env=env)
    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert "needs a terminal" in line
