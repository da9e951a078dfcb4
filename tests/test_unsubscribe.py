"""The best way out of a group's mail is ranked in one place (``mailclean.rules.unsubscribe``):
``mailclean senders`` and the review app's group lists give every group of one index the
same method."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailclean import config as cfg
from mailclean.cli import cli
from mailclean.index import Index
from mailclean.rules import Protection, load_rules
from mailclean.tui.data import ReviewData


def test_the_command_line_and_the_app_rank_unsubscribe_methods_alike(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_path, db = tmp_path / "config.toml", tmp_path / "index.db"
    monkeypatch.setenv("MAILCLEAN_CONFIG", str(config_path))
    monkeypatch.setenv("MAILCLEAN_DB", str(db))
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    run("demo", "--messages", "300", "--dir", str(tmp_path / "demo"), "--json", "--no-review")
    config = cfg.load(config_path)
    rules = load_rules(cfg.default_rules_path(config_path))
    bulk = [r.name for r in rules.values() if r.type == "bulk" and r.enabled]
    assert bulk
    index = Index(db)
    try:
        data = ReviewData(index, "demo", rules, Protection.from_config(config.protect))
        for rule in bulk:
            senders = json.loads(run("senders", "--rule", rule, "--limit", "0", "--json"))
            from_cli = {s["group"]: s["unsubscribe"] for s in senders}
            groups = data.groups(rule)
            assert groups.bulk
            # Line 0 stands for the whole rule; the groups follow.
            in_app = {groups.row(i).key: groups.row(i).unsubscribe
                      for i in range(1, len(groups))}
            assert in_app and set(in_app) <= set(from_cli)
            assert in_app == {key: from_cli[key] for key in in_app}
            # The mailbox offers several methods, so a ranking written twice and drifted
            # would show here.
            assert len(Counter(in_app.values())) >= 3, Counter(in_app.values())
    finally:
        index.close()
