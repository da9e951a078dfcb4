"""The review app against hostile text: subjects, sender names, folder names, attachment
names and rule titles that carry terminal escapes (ESC sequences, OSC 52 clipboard writes,
bidi overrides) and markup (``[/bold]``, textual's ``[$accent]`` and ``[@click=...]``).

The oracle is the screen as textual renders it (``export_screenshot``): it must hold no
control character, and the markup must show literally, in every pane, the details, the
confirmation, the progress dialog and the journal.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from textual.pilot import Pilot

from mailclean import config as cfg
from mailclean import mailgen
from mailclean.connectors.base import Connector, ConnectorError
from mailclean.connectors.maildir import MaildirConnector
from mailclean.index import Index
from mailclean.rules import load_rules, scan
from mailclean.sync import sync_account
from mailclean.tui import build_app
from mailclean.tui.app import ReviewApp
from mailclean.tui.screens import ConfirmScreen, ProgressScreen
from tests.support.corpora import REFERENCE, standard_mailbox
from tests.support.review import SIZE, pilot_test, settle

#: What an attacker puts in every field: a screen clear, a red colour, an OSC 52 write to
#: the clipboard, a right-to-left override, and markup for rich and for textual.
ESCAPES = "\x1b[2J\x1b[31m\x1b]52;c;cHduZWQ=\x07\u202e"
MARKUP = "[/bold] [$accent]x [@click=app.quit]q[/]"
EVIL = f"{MARKUP} {ESCAPES}"
#: A folder name: "/" separates the hierarchy, Maildir++ forbids dots.
FOLDER = f"Evil [b]{ESCAPES}"
RULE_TITLE = f"Big files {MARKUP} {ESCAPES}"
#: Control characters, C1 included, that must never reach the terminal.
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _words(text: str) -> str:
    """An RFC 2047 encoded word: how a hostile header gets past a parser."""
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


def _message(n: int, *, subject: str, date: str, list_id: bool = False,
             attachment: str | None = None) -> bytes:
    head = [
        f"From: {_words('Evil ' + EVIL)} <evil{n}@hostile.example>",
        "To: agent@mairie-exemple.fr",
        f"Subject: {_words(subject)}",
        f"Message-ID: <hostile{n}@hostile.example>",
        f"Date: {date}",
        "MIME-Version: 1.0",
    ]
    if list_id:
        head += ["List-Id: Evil list <evil.hostile.example>",
                 "List-Unsubscribe: <https://hostile.example/u>"]
    if attachment is None:
        head.append("Content-Type: text/plain; charset=utf-8")
        return ("\r\n".join(head) + "\r\n\r\nhello\r\n").encode()
    quoted = "".join(c if c.isalnum() else f"%{b:02X}" for c in attachment
                     for b in c.encode())
    body = base64.encodebytes(b"x" * 3000).decode().replace("\n", "\r\n")
    head.append('Content-Type: multipart/mixed; boundary="b"')
    return ("\r\n".join(head) + "\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee\r\n"
            "--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
            f"Content-Disposition: attachment; filename*=utf-8''{quoted}\r\n\r\n{body}"
            "--b--\r\n").encode()


def _hostile_messages() -> list[mailgen.GeneratedMessage]:
    template = standard_mailbox()[0]
    when = datetime(2026, 5, 20, 9, 0, tzinfo=UTC)
    old = datetime(2019, 3, 1, 9, 0, tzinfo=UTC)
    raws = [
        ("INBOX", when, _message(1, subject=f"News {EVIL}", list_id=True,
                                 date="Wed, 20 May 2026 09:00:00 +0000")),
        ("INBOX", when, _message(2, subject=f"More news {EVIL}", list_id=True,
                                 date="Wed, 20 May 2026 10:00:00 +0000")),
        (FOLDER, old, _message(3, subject=f"Old thread {EVIL}",
                               date="Fri, 01 Mar 2019 09:00:00 +0000")),
        (FOLDER, when, _message(4, subject=f"Attached {EVIL}",
                                date="Wed, 20 May 2026 11:00:00 +0000",
                                attachment=f"report {EVIL}.pdf")),
    ]
    return [replace(template, folder=folder, raw=raw, flags=frozenset(), internal_date=date)
            for folder, date, raw in raws]


@pytest.fixture
def hostile(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A Maildir of hostile messages (and a rules file with a hostile title), synced and
    scanned: (config, index, rules file)."""
    root = tmp_path / "Maildir"
    mailgen.write_maildir(root, _hostile_messages())
    rules_file = tmp_path / "rules.toml"
    title = "".join(f"\\u{ord(c):04x}" if not " " <= c <= "~" or c in '"\\' else c
                    for c in RULE_TITLE)
    rules_file.write_text(
        '[rules."evil[/bold]"]\ntype = "large-attachments"\nmin_size = "1 kB"\n'
        f'group_by = "folder"\ntitle = {{ en = "{title}" }}\n', encoding="utf-8")
    index = Index(tmp_path / "index.db")
    try:
        sync_account(index, "work", MaildirConnector(root))
        scan(index, "work", load_rules(rules_file), now=REFERENCE)
    finally:
        index.close()
    config = cfg.Config(path=tmp_path / "config.toml")
    config.add(cfg.AccountConfig(name="work", kind="maildir", path=str(root)))
    config.save()
    return config.path, tmp_path / "index.db", rules_file


def screen_text(app: ReviewApp) -> str:
    """What the terminal shows, as text, straight from textual's own rendering."""
    svg = app.export_screenshot()
    assert not CONTROL.search(svg), "a control character reached the screen"
    lines: dict[str, list[str]] = {}
    for match in re.finditer(r'<text [^>]*clip-path="url\(#[^)]*-line-(\d+)\)">(.*?)</text>',
                             svg):
        lines.setdefault(match.group(1), []).append(html.unescape(match.group(2)))
    return "\n".join("".join(parts).replace("\xa0", " ") for _, parts in
                     sorted(lines.items(), key=lambda kv: int(kv[0])))


def check(app: ReviewApp, *expected: str) -> str:
    """The screen holds no control character, and every ``expected`` text literally."""
    text = screen_text(app)
    assert not CONTROL.search(text)
    for part in expected:
        assert part in text, f"{part!r} not on screen:\n{text}"
    return text


async def visit(pilot: Pilot, app: ReviewApp, rule: str) -> str:
    """Open ``rule`` in the Review tab, walk its groups and their messages; the screens."""
    await pilot.press("1")
    await settle(pilot)
    names = [r.name for r in app.rule_figures]
    app.open_rule(names.index(rule))
    await settle(pilot)
    seen = []
    assert app.group_list is not None
    for _ in range(len(app.group_list)):
        await pilot.press("enter")  # the group's messages, focused
        await pilot.pause(0.2)
        assert app.message_list is not None
        for _ in range(len(app.message_list)):
            await pilot.pause(0.1)
            seen.append(check(app))
            await pilot.press("down")
        await pilot.press("left", "down")
        await pilot.pause(0.2)
    return "\n".join(seen)


@pilot_test
async def test_hostile_text_is_shown_literally_and_never_reaches_the_terminal(
    hostile: tuple[Path, Path, Path],
) -> None:
    config, index, rules_file = hostile
    app = build_app(index, config, "work", lang="en", rules_path=rules_file)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        overview = check(app, "Evil [b]", "Big files [/bold] [$accent]x")
        assert "evil[/bold]" in [r.name for r in app.rule_figures]
        assert "[/bold]" in overview

        # Every rule with hostile messages: groups, pane titles, messages, details.
        newsletters = await visit(pilot, app, "newsletters")
        assert f"News {MARKUP}"[:20] in newsletters
        assert "Evil [/bold] [$accent]x" in newsletters  # the sender's name, in the details
        threads = await visit(pilot, app, "old-threads")
        assert "Old thread [/bold]" in threads
        attached = await visit(pilot, app, "evil[/bold]")
        assert "report [/bold]" in attached  # the attachment, in the details
        assert "Evil [b]" in attached  # the folder: a group, and the details
        assert "Big files [/bold]" in attached  # the rule's title: pane title and Why

        # The confirmation names the hostile folder.
        await pilot.press("home", "space", "t")  # all of the rule: the hostile folder
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        check(app, "from Evil [b]")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ProgressScreen)
        check(app, "Moved 1 message")
        await pilot.press("enter")
        await settle(pilot)

        # The journal, and the app is still there (no [@click=app.quit] ran).
        await pilot.press("3")
        await settle(pilot)
        check(app, "to Trash")
        assert app.is_running


def _failing_factory(acc: cfg.AccountConfig) -> Connector:
    raise ConnectorError(f"server says {EVIL}")


@pilot_test
async def test_hostile_error_texts_in_dialogs_and_notifications(
    hostile: tuple[Path, Path, Path],
) -> None:
    """A server error quoting hostile text: the progress dialog shows it literally, and so
    does a notification."""
    config, index, rules_file = hostile
    app = build_app(index, config, "work", lang="en", rules_path=rules_file,
                    connector_factory=_failing_factory)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("R")
        await settle(pilot)
        assert isinstance(app.screen, ProgressScreen)
        check(app, "server says [/bold] [$accent]x [@click=app.quit]q[/]")
        await pilot.press("enter")
        await settle(pilot)
        app.notify(f"note {EVIL}", timeout=30)
        await pilot.pause(0.3)
        check(app, "note [/bold] [$accent]x")
        assert app.is_running
