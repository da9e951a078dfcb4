"""`mailclean demo --organisation`: a whole cleanup event without a server, in seconds."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mailclean.cli import cli
from mailclean.i18n import set_language
from mailclean.snapshot import SnapshotStore, read_accounts
from mailclean.snapshot.demo import TEAMS, staff


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    set_language("en")
    yield
    set_language("en")


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MAILCLEAN_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("MAILCLEAN_DB", str(tmp_path / "index.db"))
    monkeypatch.delenv("MAILCLEAN_SNAPSHOTS", raising=False)

    def invoke(*args: str, code: int = 0) -> Result:
        result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result

    return invoke


def test_the_whole_event_without_a_server(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "org"
    started = time.monotonic()
    data = json.loads(run("demo", "--organisation", "--dir", str(root), "--json").stdout)
    assert time.monotonic() - started < 30
    # A Dovecot mail root: <root>/<user>/Maildir with Maildir++ folders.
    entries = read_accounts(root / "staff.csv")
    assert len(entries) == 40 and len({e.team for e in entries}) == 6
    first = root / "mail" / entries[0].mailbox / "Maildir"
    assert (first / "cur").is_dir() and (first / ".Sent" / "cur").is_dir()
    assert (first / ".Trash").is_dir() and list(first.glob(".Archives.20*"))
    # Before and after, compared: some teams freed a lot, some a little, one nothing.
    teams = {t["name"]: t for t in data["teams"]}
    assert set(teams) == {team for team, _n, _how in TEAMS}
    freed = sorted((t["freed_bytes"] for t in teams.values()), reverse=True)
    assert freed[0] > 5 * freed[3] > 0
    assert teams["Services techniques"]["freed_bytes"] == 0
    assert teams["Ressources humaines"]["trash_pending_bytes"] > 0  # moved, not freed yet
    assert data["organisation"]["freed_bytes"] == sum(t["freed_bytes"] for t in teams.values())
    board = data["leaderboard"]["teams"]["by_bytes"]
    assert "Services techniques" not in board and len(board) == 5
    page = Path(data["report"]).read_text(encoding="utf-8")
    assert "Services techniques" in page and "<script" not in page
    for entry in entries:
        assert entry.mailbox not in page  # a team-level page names nobody
    with SnapshotStore(root / "snapshots.db") as store:
        snapshots = store.list()
    assert [(s.label, s.done, s.failed) for s in snapshots] == [
        ("before", 40, 0),
        ("after", 40, 0),
    ]
    # Built again: a fresh organisation, the demo's own files replaced.
    again = run("demo", "--organisation", "--dir", str(root)).output
    assert "40 mailboxes in 6 teams" in again and "Services techniques" in again
    assert "before → after" in again and "mailclean snapshot take week-2" in again
    with SnapshotStore(root / "snapshots.db") as store:
        assert [s.label for s in store.list()] == ["before", "after"]


def test_the_admin_commands_work_on_the_demo(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "org"
    run("--lang", "fr", "demo", "--organisation", "--dir", str(root), "--json")
    db = str(root / "snapshots.db")
    # French labels; the admin's own commands take it from there.
    listed = json.loads(run("snapshot", "list", "--json", "--snapshots", db).stdout)
    assert [s["label"] for s in listed] == ["avant", "après"]
    result = run(
        "snapshot", "take", "semaine-2", "--maildir-root", str(root / "mail"),
        "--accounts", str(root / "staff.csv"), "--snapshots", db, "--json",
    )  # fmt: skip
    assert json.loads(result.stdout)["done"] == 40
    compared = json.loads(
        run("snapshot", "compare", "après", "semaine-2", "--json", "--snapshots", db).stdout
    )
    assert compared["organisation"]["freed_bytes"] == 0


def test_a_directory_of_something_else_is_never_emptied(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    mine = tmp_path / "documents"
    mine.mkdir()
    (mine / "thesis.odt").write_text("precious")
    out = run("demo", "--organisation", "--dir", str(mine), code=1).output
    assert "was not made by 'mailclean demo --organisation'" in out
    assert (mine / "thesis.odt").read_text() == "precious"
    assert "--messages" in run("demo", "--organisation", "--messages", "100", code=2).output
    assert "--organisation" in run("demo", "--full", code=2).output


def test_staff_is_deterministic_and_unique() -> None:
    people = staff(7)
    assert people == staff(7) and people != staff(8)
    assert len({p[0] for p in people}) == len(people) == sum(n for _t, n, _h in TEAMS)
    assert all(p[0].isascii() and p[0].endswith("@mairie-exemple.fr") for p in people)
