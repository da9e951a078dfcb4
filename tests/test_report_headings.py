"""The report page's headings are named (:class:`mailclean.report.html.Headings`), made in
the reader's language each time a page is rendered, and every one of them is translated."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, astuple
from html import escape
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

import mailclean
from mailclean.i18n import set_language
from mailclean.report import Comparison, MailboxRow, SnapshotSide, compare, render_html
from mailclean.report.html import Headings, headings

PO = Path(mailclean.__file__).parent / "i18n/fr/LC_MESSAGES/mailclean.po"


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    set_language("en")
    yield
    set_language("en")


def row(mailbox: str, team: str, size: int, state: str = "done") -> MailboxRow:
    return MailboxRow(
        mailbox, team, state=state, messages=size // 1000, bytes=size,
        roles={"inbox": (size // 1000, size)}, categories={"newsletters": size // 10},
    )  # fmt: skip


def everything() -> Comparison:
    """A comparison with every section: teams, mailboxes, categories, growth, left out."""
    before = [row("a@x", "A", 10_000), row("b@x", "B", 5_000), row("c@x", "B", 1_000)]
    after = [row("a@x", "A", 4_000), row("b@x", "B", 6_000), row("d@x", "B", 1_000)]
    return compare(before, after, SnapshotSide("jan", ""), SnapshotSide("feb", ""))


def test_the_headings_follow_the_language() -> None:
    english = headings()
    assert (english.before, english.volume_that_grew) == ("before", "Volume that grew")
    set_language("fr")
    french = headings()
    assert (french.before, french.volume_that_grew) == ("avant", "Volume en hausse")
    catalogue = {m.id: m.string for m in read_po(PO.open("rb")) if isinstance(m.id, str)}
    for name, text in asdict(english).items():
        assert getattr(french, name) == catalogue[text], name


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_every_section_heading_is_on_the_page(lang: str) -> None:
    set_language(lang)
    page = render_html(everything(), by="mailbox")
    heads = Headings(*(escape(v) for v in astuple(headings())))
    for text in (
        heads.organisation_total, heads.volume_per_team, heads.team_leaderboard,
        heads.mailbox_leaderboard, heads.left_to_clean, heads.by_folder_kind, heads.all_teams,
        heads.volume_that_grew, heads.not_compared,
    ):  # fmt: skip
        assert f"<h2>{text}</h2>" in page
    for text in (heads.by_volume_freed, heads.by_share_freed):
        assert page.count(f"<h3>{text}</h3>") == 2  # teams and mailboxes
    for text in (heads.several_categories, heads.not_compared_note):
        assert f'<p class="note">{text}</p>' in page
    assert f"{heads.before}</span>" in page and f"{heads.after}</span>" in page  # legend


def test_a_board_with_nothing_to_rank_says_so() -> None:
    empty = compare([row("a@x", "A", 0)], [row("a@x", "A", 0)])
    page = render_html(empty)
    assert f'<p class="note">{headings().nothing_to_rank}</p>' in page
