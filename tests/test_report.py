"""The before/after report: arithmetic (with hypothesis), leaderboards, CSV, JSON and HTML."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import struct
import subprocess
import zlib
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailclean import report
from mailclean.i18n import set_language
from mailclean.report import Co2Estimate, Figures, Line, MailboxRow, SnapshotSide, compare

ROLES = ("inbox", "sent", "trash", "junk", "archive", "other")


def box(
    mailbox: str,
    team: str,
    size: int,
    *,
    trash: int = 0,
    messages: int | None = None,
    state: str = "done",
    name: str | None = None,
) -> MailboxRow:
    """A mailbox row whose folder roles add up to its totals."""
    messages = size // 1000 if messages is None else messages
    roles = {"inbox": (messages, size - trash)}
    if trash:
        roles["trash"] = (0, trash)
    return MailboxRow(
        mailbox, team, display_name=name, state=state, messages=messages, bytes=size, roles=roles
    )


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    set_language("en")
    yield
    set_language("en")


# -- arithmetic on a known case ---------------------------------------------------------

BEFORE = [
    box("alice@x.org", "Finances", 100_000, trash=5_000, name="Alice Martin"),
    box("bob@x.org", "Finances", 50_000),
    box("carol@x.org", "RH", 10_000),
    box("dave@x.org", "RH", 40_000),  # has left: only in the first snapshot
    box("frank@x.org", "RH", 30_000),  # fails in the second
]
AFTER = [
    box("ALICE@x.org", "Finances", 60_000, trash=25_000, name="Alice Martin"),
    box("bob@x.org", "Finances", 70_000),  # grew
    box("carol@x.org", "RH", 0),
    box("erin@x.org", "RH", 20_000),  # arrived: only in the second
    box("frank@x.org", "RH", 0, state="failed"),
]


def known() -> report.Comparison:
    return compare(
        BEFORE,
        AFTER,
        SnapshotSide("before-2027", "2027-01-05T08:00:00+00:00"),
        SnapshotSide("week-1", "2027-01-12T08:00:00+00:00"),
    )


def test_known_case_figures() -> None:
    c = known()
    teams = {t.key: t.figures for t in c.teams}
    assert teams["Finances"].freed == 40_000 - 20_000
    assert teams["Finances"].bytes_before == 150_000
    assert teams["Finances"].mailboxes == 2 and teams["Finances"].participants == 1
    assert teams["RH"].freed == 10_000 and teams["RH"].reduction == 1.0
    # dave (left), erin (arrived) and frank (failed) count nowhere.
    assert c.org.bytes_before == 160_000 and c.org.bytes_after == 130_000
    assert c.org.freed == 30_000
    assert {u.mailbox: u.reason for u in c.unmatched} == {
        "dave@x.org": "only-before",
        "erin@x.org": "only-after",
        "frank@x.org": "failed-after",
    }
    # Mailboxes match whatever the case of their address; the later snapshot names them.
    alice = next(m for m in c.mailboxes if m.key == "ALICE@x.org")
    assert alice.figures.freed == 40_000
    # Deleted into the Trash is not freed: it shows apart.
    assert alice.figures.trash_growth == 20_000
    assert c.org.trash_growth == 20_000 and c.org.trash_pending == 20_000
    bob = next(m for m in c.mailboxes if m.key == "bob@x.org")
    assert bob.figures.grew and bob.figures.freed == -20_000


def test_trash_emptied_elsewhere_does_not_hide_what_waits_in_the_trash() -> None:
    c = compare(
        [box("a", "T", 100, trash=0), box("b", "T", 100, trash=30)],
        [box("a", "T", 100, trash=20), box("b", "T", 70, trash=0)],
    )
    # b emptied its Trash (30 freed); a deleted 20 into its Trash (not freed yet).
    assert (c.org.freed, c.org.trash_growth, c.org.trash_pending) == (30, -10, 20)
    assert c.teams[0].figures.trash_pending == 20
    assert next(r for r in c.roles if r.key == "trash").figures.trash_pending == 20


def test_leaderboards() -> None:
    c = known()
    by_bytes = [ln.key for ln in report.leaderboard(c.teams, "bytes")]
    by_percent = [ln.key for ln in report.leaderboard(c.teams, "percent")]
    assert by_bytes == ["Finances", "RH"]  # 20 kB freed against 10 kB
    assert by_percent == ["RH", "Finances"]  # 100 % against 13 %: fair to small teams
    boxes = [ln.key for ln in report.leaderboard(c.mailboxes, "bytes")]
    assert boxes == ["ALICE@x.org", "carol@x.org", "bob@x.org"]
    with pytest.raises(ValueError):
        report.leaderboard(c.teams, "messages")


def test_percent_leaderboard_leaves_out_empty_and_breaks_ties() -> None:
    lines = [
        Line("empty", Figures(mailboxes=1)),
        Line("b", Figures(mailboxes=1, bytes_before=100, bytes_after=50)),
        Line("a", Figures(mailboxes=1, bytes_before=100, bytes_after=50)),
        Line("big", Figures(mailboxes=1, bytes_before=1000, bytes_after=500)),
    ]
    assert [ln.key for ln in report.leaderboard(lines, "percent")] == ["big", "a", "b"]


def test_what_freed_nothing_gets_no_rank_and_no_medal() -> None:
    before = [box("a", "Gold", 100), box("b", "Silver", 100), box("c", "Idle", 100),
              box("d", "Idler", 100), box("e", "Grew", 100)]
    after = [box("a", "Gold", 10), box("b", "Silver", 50), box("c", "Idle", 100),
             box("d", "Idler", 100), box("e", "Grew", 150)]
    c = compare(before, after)
    assert [ln.key for ln in report.leaderboard(c.teams)][:2] == ["Gold", "Silver"]
    assert [report.ranks(ln) for ln in report.leaderboard(c.teams)] == [
        True, True, False, False, False
    ]
    page = report.render_html(c)
    tags = parsed(page)
    rank_spans = [a.get("class") for t, a in tags.tags if t == "span" and "rank" in
                  (a.get("class") or "").split()]
    # Two leaderboards: gold and silver for the two that freed something, no bronze.
    assert rank_spans.count("rank r1") == 2 and rank_spans.count("rank r2") == 2
    assert "rank r3" not in rank_spans
    assert rank_spans.count("rank none") == 2 * 3
    data = report.to_dict(c, by="mailbox")
    assert data["leaderboard"]["teams"] == {"by_bytes": ["Gold", "Silver"],
                                            "by_percent": ["Gold", "Silver"]}
    assert data["leaderboard"]["mailboxes"]["by_bytes"] == ["a", "b"]
    assert {t["name"] for t in data["teams"]} == {"Gold", "Silver", "Idle", "Idler", "Grew"}


def test_categories_only_when_both_snapshots_are_full() -> None:
    full_a = MailboxRow("a", "T", bytes=10, categories={"newsletters": 6, "duplicates": 1})
    full_b = MailboxRow("a", "T", bytes=4, categories={"newsletters": 1, "duplicates": 1})
    assert compare([full_a], [full_b]).categories == [("duplicates", 1, 1), ("newsletters", 6, 1)]
    assert compare([full_a], [MailboxRow("a", "T", bytes=4)]).categories is None


def test_co2_estimate() -> None:
    co2 = Co2Estimate(0.5, "ADEME")
    assert co2.kg_per_year(1_700 * 10**9) == pytest.approx(850.0)


# -- arithmetic on anything (hypothesis) ---------------------------------------------------

TEAMS = st.sampled_from(["Finances", "RH", "Voirie", "École", "DSI"])


@st.composite
def rows(draw: st.DrawFn) -> tuple[list[MailboxRow], list[MailboxRow]]:
    names = draw(st.lists(st.text("abcdefg", min_size=1, max_size=6), max_size=25, unique=True))
    before, after = [], []

    def one(name: str, team: str) -> MailboxRow:
        parts = {
            r: (draw(st.integers(0, 50)), draw(st.integers(0, 10**9)))
            for r in draw(st.sets(st.sampled_from(ROLES)))
        }
        state = draw(st.sampled_from(["done"] * 8 + ["failed", "pending"]))
        return MailboxRow(
            name,
            team,
            state=state,
            messages=sum(m for m, _ in parts.values()),
            bytes=sum(b for _, b in parts.values()),
            roles=parts,
        )

    for name in names:
        where = draw(st.sampled_from(["both", "both", "both", "before", "after"]))
        if where in ("both", "before"):
            before.append(one(name, draw(TEAMS)))
        if where in ("both", "after"):
            after.append(one(name, draw(TEAMS)))
    return before, after


def total(lines: list[Line]) -> Figures:
    return sum((ln.figures for ln in lines), Figures())


@settings(max_examples=150, deadline=None)
@given(rows())
def test_teams_mailboxes_and_roles_add_up_to_the_organisation(
    data: tuple[list[MailboxRow], list[MailboxRow]],
) -> None:
    before, after = data
    c = compare(before, after)
    assert total(c.teams) == c.org
    assert total(c.mailboxes) == c.org
    roles = total(c.roles)
    assert (roles.bytes_before, roles.bytes_after) == (c.org.bytes_before, c.org.bytes_after)
    assert (roles.messages_before, roles.messages_after) == (
        c.org.messages_before,
        c.org.messages_after,
    )
    assert (roles.trash_before, roles.trash_after, roles.trash_pending) == (
        c.org.trash_before,
        c.org.trash_after,
        c.org.trash_pending,
    )
    assert c.org.trash_pending >= max(c.org.trash_growth, 0)
    # Every mailbox is either compared or listed apart, never both, never lost.
    compared = {ln.key for ln in c.mailboxes}
    apart = {u.mailbox for u in c.unmatched}
    assert not compared & apart
    assert compared | apart == {r.mailbox for r in before} | {r.mailbox for r in after}
    # What is compared was measured in both snapshots.
    done_before = {r.mailbox for r in before if r.state == "done"}
    done_after = {r.mailbox for r in after if r.state == "done"}
    assert compared == done_before & done_after
    assert c.org.freed == sum(r.bytes for r in before if r.mailbox in compared) - sum(
        r.bytes for r in after if r.mailbox in compared
    )
    assert 0 <= c.org.participants <= c.org.mailboxes == len(compared)
    # A mailbox counts in the team it has in the later snapshot.
    later = {r.mailbox: r.team for r in after}
    assert all(ln.team == later[ln.key] for ln in c.mailboxes)


@settings(max_examples=100, deadline=None)
@given(rows())
def test_leaderboards_are_ordered_and_complete(
    data: tuple[list[MailboxRow], list[MailboxRow]],
) -> None:
    c = compare(*data)
    for lines in (c.teams, c.mailboxes):
        by_bytes = report.leaderboard(lines, "bytes")
        assert sorted(ln.key for ln in by_bytes) == sorted(ln.key for ln in lines)
        freed = [ln.figures.freed for ln in by_bytes]
        assert freed == sorted(freed, reverse=True)
        by_pct = report.leaderboard(lines, "percent")
        shares = [ln.figures.reduction for ln in by_pct]
        assert None not in shares
        assert shares == sorted(shares, reverse=True)  # type: ignore[type-var]
        assert len(by_pct) == sum(1 for ln in lines if ln.figures.bytes_before > 0)


@settings(max_examples=60, deadline=None)
@given(rows())
def test_a_snapshot_compared_with_itself_frees_nothing(
    data: tuple[list[MailboxRow], list[MailboxRow]],
) -> None:
    before, _after = data
    c = compare(before, before)
    assert c.org.freed == 0 and c.org.participants == 0 and c.org.trash_growth == 0
    assert all(ln.figures.freed == 0 for ln in c.teams + c.mailboxes + c.roles)


# -- CSV and JSON -------------------------------------------------------------------------


def read_csv(c: report.Comparison, by: str) -> list[dict[str, str]]:
    buffer = io.StringIO()
    report.to_csv(c, buffer, by=by)
    return list(csv.DictReader(io.StringIO(buffer.getvalue())))


def test_csv_by_team_mailbox_and_folder() -> None:
    c = known()
    teams = read_csv(c, "team")
    assert [r["name"] for r in teams] == ["Finances", "RH", "*"]
    assert teams[0]["freed_bytes"] == "20000" and teams[0]["reduction_percent"] == "13.33"
    assert teams[-1]["level"] == "organisation" and teams[-1]["freed_bytes"] == "30000"
    assert sum(int(r["freed_bytes"]) for r in teams[:-1]) == int(teams[-1]["freed_bytes"])
    boxes = read_csv(c, "mailbox")
    status = {r["name"]: r["status"] for r in boxes if r["level"] == "mailbox"}
    assert status == {
        "ALICE@x.org": "compared",
        "bob@x.org": "compared",
        "carol@x.org": "compared",
        "dave@x.org": "only-before",
        "erin@x.org": "only-after",
        "frank@x.org": "failed-after",
    }
    dave = next(r for r in boxes if r["name"] == "dave@x.org")
    assert (dave["bytes_before"], dave["bytes_after"], dave["freed_bytes"]) == ("40000", "", "")
    erin = next(r for r in boxes if r["name"] == "erin@x.org")
    assert (erin["bytes_before"], erin["bytes_after"]) == ("", "20000")
    assert all(len(r) == len(report.CSV_COLUMNS) for r in boxes)
    alice = next(r for r in boxes if r["name"] == "ALICE@x.org")
    assert (alice["team"], alice["display_name"], alice["trash_growth_bytes"]) == (
        "Finances",
        "Alice Martin",
        "20000",
    )
    folders = read_csv(c, "folder")
    assert [r["name"] for r in folders] == ["inbox", "trash", "*"]
    with pytest.raises(ValueError):
        read_csv(c, "planet")


def test_json_by_team_names_no_mailbox() -> None:
    c = known()
    data = report.to_dict(c, by="team", co2=Co2Estimate(0.4, "Some study, 2024"))
    text = json.dumps(data)
    for name in ("alice", "ALICE", "bob@", "carol", "dave", "erin", "frank", "Alice Martin"):
        assert name not in text
    assert data["organisation"]["freed_bytes"] == 30_000
    assert data["leaderboard"]["teams"]["by_percent"] == ["RH", "Finances"]
    assert data["not_compared"] == {"failed-after": 1, "only-after": 1, "only-before": 1}
    assert data["co2e_estimate"]["source"] == "Some study, 2024"
    assert data["co2e_estimate"]["kg_per_year"] == pytest.approx(30_000 / 1e9 * 0.4, abs=1e-3)
    detailed = report.to_dict(c, by="mailbox", top=2)
    assert [m["name"] for m in detailed["mailboxes"]] == ["ALICE@x.org", "bob@x.org", "carol@x.org"]
    assert detailed["leaderboard"]["mailboxes"]["by_bytes"] == ["ALICE@x.org", "carol@x.org"]
    assert {m["mailbox"] for m in detailed["not_compared_mailboxes"]} == {
        "dave@x.org",
        "erin@x.org",
        "frank@x.org",
    }


# -- HTML ---------------------------------------------------------------------------------


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parsed(page: str) -> Tags:
    tags = Tags()
    tags.feed(page)
    tags.close()
    return tags


def assert_self_contained(page: str) -> None:
    tags = parsed(page)
    names = {t for t, _ in tags.tags}
    assert not names & {"script", "link", "img", "iframe", "object", "embed", "base"}
    for _tag, attrs in tags.tags:
        assert "src" not in attrs and "srcset" not in attrs
        assert not any(k.startswith("on") for k in attrs), attrs
        href = attrs.get("href")
        assert href is None or href.startswith("#")
    # The only URL is the SVG namespace, which is a name, not something fetched.
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", page))
    assert urls <= {"http://www.w3.org/2000/svg"}
    assert "url(" not in page and "@import" not in page and "@font-face" not in page


def test_html_is_self_contained_with_charts_and_leaderboards() -> None:
    c = known()
    page = report.render_html(c, by="team", co2=Co2Estimate(0.5, "ADEME, 2023"))
    assert_self_contained(page)
    tags = parsed(page)
    text = " ".join(tags.text)
    assert sum(1 for t, _ in tags.tags if t == "svg") == 2  # organisation total, per team
    rects = [a for t, a in tags.tags if t == "rect"]
    assert len(rects) == 2 * (1 + len(c.teams))
    assert "Team leaderboard" in text and "By share of the volume freed" in text
    assert "20.0 kB" in text and "30.0 kB" in text  # Finances freed, organisation freed
    assert "ADEME, 2023" in text and "estimate" in text
    # Team level: nobody's mailbox is named.
    for name in ("alice", "ALICE", "Alice Martin", "bob@x.org", "dave"):
        assert name not in page
    detailed = report.render_html(c, by="mailbox")
    assert_self_contained(detailed)
    assert "Mailbox leaderboard" in detailed and "Alice Martin" in detailed
    assert "only in the first snapshot" in detailed


def test_html_escapes_what_the_accounts_file_says() -> None:
    evil = "<script>alert(1)</script>"
    c = compare(
        [box("m@x", evil, 10, name='"><img src=x>')], [box("m@x", evil, 5, name='"><img src=x>')]
    )
    for by in ("team", "mailbox"):
        page = report.render_html(c, by=by, title="<b>x</b>")
        assert_self_contained(page)
        assert evil not in page and "&lt;script&gt;" in page


def test_html_in_french() -> None:
    set_language("fr")
    page = report.render_html(known())
    assert '<html lang="fr">' in page
    assert "20,0 ko" in page  # French units and separators from mailclean.i18n


# -- rendered in a real browser -----------------------------------------------------------


def png_pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and rows of RGB(A) pixels of a non-interlaced 8-bit PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, header = 8, [], b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        pos += 12 + length
    width, height, depth, color, _c, _f, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and interlace == 0 and color in (2, 6)
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 255
        rows.append(
            bytes(line)
            if bpp == 3
            else bytes(v for i in range(0, stride, 4) for v in line[i : i + 3])
        )
        prev = line
    return width, height, rows


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "Chromium is needed to render the report: apt-get install chromium"
    return found


def test_html_renders_offline_in_headless_chromium(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(report.render_html(known(), by="mailbox"), encoding="utf-8")
    common = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-background-networking",
        f"--user-data-dir={tmp_path}",
        "--window-size=1000,1400",
    ]
    dom = subprocess.run(
        [*common, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "Team leaderboard" in dom and "Alice Martin" in dom
    shot = tmp_path / "shot.png"
    subprocess.run(
        [*common, f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=60,
        check=True,
    )
    width, height, rows = png_pixels(shot)
    assert (width, height) == (1000, 1400)
    after, before = bytes((0x1F, 0x7A, 0x6D)), bytes((0x9A, 0xA5, 0xB1))
    count = {
        c: sum(1 for row in rows for i in range(0, len(row), 3) if row[i : i + 3] == c)
        for c in (after, before)
    }
    # The bars of the charts were drawn, in both colours: far more than the legend's
    # 12-pixel swatches.
    assert min(count.values()) > 3_000, count


def test_the_co2_tile_shows_only_a_figure_worth_reading_with_the_language_s_comma() -> None:
    """Issue 14.11: no "≈ 0 kg CO2e/year" headline tile; decimals with a comma in French."""
    c = known()  # 30 kB freed: 0.000015 kg a year, far below what a tile can say
    page = " ".join(parsed(report.render_html(c, by="team", co2=Co2Estimate(0.5, "ADEME"))).text)
    assert "kg CO2e/year" not in page  # no tile...
    assert "0.5 kg CO2e per GB per year" in page  # ...but the note still explains
    set_language("fr")
    try:
        text = " ".join(parsed(report.render_html(c, by="team", co2=Co2Estimate(0.5, "x"))).text)
        assert "0,5 kg" in text and "0.5 kg" not in text  # the factor, in the note
        # A factor that makes the 30 kB worth 1.5 kg a year: now the tile shows, "1,5".
        big = " ".join(parsed(report.render_html(c, by="team", co2=Co2Estimate(50_000, "x"))).text)
        assert "≈ 1,5 kg" in big
    finally:
        set_language("en")
    big = " ".join(parsed(report.render_html(c, by="team", co2=Co2Estimate(50_000, "x"))).text)
    assert "≈ 1.5 kg CO2e/year" in big
