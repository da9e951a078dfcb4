"""`mailclean demo`: rebuilt from scratch each time, with progress while it is generated."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from rich.console import Console

from mailclean import bars, mailgen
from mailclean.cli import cli
from mailclean.demo import build_demo
from mailclean.i18n import set_language
from mailclean.index import Index


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    set_language("en")
    yield
    set_language("en")


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MAILCLEAN_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("MAILCLEAN_DB", str(tmp_path / "index.db"))

    def invoke(*args: str, code: int = 0) -> Result:
        result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result

    return invoke


def test_rebuilding_the_demo_resets_its_index_and_journal(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    demo = tmp_path / "d"
    run("demo", "--messages", "150", "--dir", str(demo), "--json")
    # What an earlier session left: the demo's Trash emptied, in the journal.
    run("clean", "demo", "--folder", "Trash", "--action", "delete", "--yes")
    freed = json.loads(run("freed", "demo", "--json").stdout)
    assert freed["freed_on_server_bytes"] > 0
    text = run("demo", "--messages", "150", "--dir", str(demo), "--no-review").output
    assert "the previous demo's index and journal were reset" in text
    index = Index(tmp_path / "index.db")
    try:
        assert index.conn.execute("SELECT count(*) FROM actions").fetchone()[0] == 0
    finally:
        index.close()
    freed = json.loads(run("freed", "demo", "--json").stdout)
    assert freed["freed_on_server_bytes"] == 0 and freed["actions"] == []
    stats = json.loads(run("stats", "demo", "--json").stdout)
    assert stats["messages"] == 150  # the fresh mailbox, indexed once


def test_generation_reports_progress_and_keeps_its_bytes(tmp_path: Path) -> None:
    seen: list[tuple[str, int, int]] = []
    maildir = build_demo(tmp_path, messages=300, progress=lambda *a: seen.append(a))
    stages = [s for s, _d, _t in seen]
    assert stages.index("compose") < stages.index("render") < stages.index("write")
    for stage in ("compose", "render", "write"):
        done = [d for s, d, _t in seen if s == stage]
        total = {t for s, _d, t in seen if s == stage}
        assert done == sorted(done) and len(total) == 1 and done[-1] == total.pop()
    assert seen[-1] == ("write", 300, 300)
    assert len(seen) > 12  # every few dozen messages, not just at the end
    assert sum(1 for _ in maildir.rglob("cur/*")) == 300
    # Watching does not change what is generated.
    assert mailgen.generate(5, messages=200) == mailgen.generate(
        5, messages=200, progress=lambda *a: None
    )


def test_the_demo_shows_a_bar_on_a_terminal_and_none_with_json(
    run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=100)
    monkeypatch.setattr(bars, "err", terminal)
    run("demo", "--messages", "150", "--dir", str(tmp_path / "d"), "--no-review")
    assert "Writing the Maildir" in screen.getvalue()
    screen.truncate(0)
    screen.seek(0)
    run("demo", "--messages", "150", "--dir", str(tmp_path / "d"), "--json")
    assert screen.getvalue() == ""
