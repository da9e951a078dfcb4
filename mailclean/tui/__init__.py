"""The review app (textual). Nothing outside this package imports textual.

:func:`run` is what ``mailclean review`` calls; :func:`build_app` builds the app for tests
and benchmarks, with a connector factory they can replace.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mailclean import actions
from mailclean import config as cfg
from mailclean.connectors.base import Connector
from mailclean.i18n import set_language
from mailclean.rules import Protection, load_rules

if TYPE_CHECKING:
    from mailclean.tui.app import ReviewApp

__all__ = ["build_app", "run"]


def build_app(
    index_path: str | Path,
    config_path: str | Path,
    account_name: str | None = None,
    *,
    lang: str | None = None,
    connector_factory: Callable[[cfg.AccountConfig], Connector] | None = None,
    rules_path: Path | None = None,
    export_dir: Path | None = None,
    batch: int = actions.BATCH,
) -> ReviewApp:
    """The review app for one account of the config, reading the index at ``index_path``.

    ``lang`` ("fr", "en") switches the language; None keeps the one already active (the
    CLI sets it from ``--lang``, the config or the environment). ``connector_factory``
    builds the account's connector (default: the configured one, asking for a password
    in a dialog when the account needs one typed). ``batch`` is the action batch size.
    Raises ConfigError or RuleError when the config or the rules are wrong.
    """
    from mailclean.plugins import connector_for
    from mailclean.tui.app import ReviewApp
    from mailclean.tui.jobs import Context

    if lang is not None:
        set_language(lang)
    config_path = Path(config_path)
    config = cfg.load(config_path)
    account = config.account(account_name)
    rules = load_rules(rules_path or cfg.default_rules_path(config_path))
    protection = Protection.from_config(config.protect)
    holder: list[ReviewApp] = []

    def default_factory(acc: cfg.AccountConfig) -> Connector:
        return connector_for(acc, lambda: cfg.get_password(acc, holder[0].request_password))

    ctx = Context(Path(index_path), account, rules, protection,
                  connector_factory or default_factory, batch=batch)
    app = ReviewApp(ctx, export_dir=export_dir)
    holder.append(app)
    return app


def run(
    index_path: str | Path,
    config_path: str | Path,
    account_name: str | None = None,
    *,
    lang: str | None = None,
    rules_path: Path | None = None,
) -> None:
    """Run the review app in the terminal until the person quits.

    Raises ConfigError, RuleError or IndexFileError before the screen is taken over when
    the config, the rules or the index cannot be used.
    """
    build_app(index_path, config_path, account_name, lang=lang, rules_path=rules_path).run()
