"""What the commands share: the account's connector and workspace, printing the
library's lines, the rules and the scan a selection needs."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mailclean import config as cfg
from mailclean.connectors.base import Connector
from mailclean.console import err, fail, out
from mailclean.i18n import (
    _,
)
from mailclean.index import Index
from mailclean.plugins import connector_for
from mailclean.rules import (
    Protection,
    Rule,
    RuleError,
    ScanResult,
    load_rules,
    scan,
)

if TYPE_CHECKING:
    from rich.console import Console

    from mailclean import workflows

from mailclean.cli import State


def _require_keyring() -> None:
    """Fail before asking for a password when no system keyring can keep it."""
    import keyring
    from keyring.backends import chainer
    from keyring.backends import fail as failing

    backend = keyring.get_keyring()
    if isinstance(backend, failing.Keyring) or (
        isinstance(backend, chainer.ChainerBackend) and not backend.backends
    ):
        fail(_("this machine has no usable system keyring to keep the password in: give it "
               "through an environment variable instead, e.g. --password-env MAIL_PW (and "
               "export MAIL_PW=... before each run), or let mailclean ask for it each time "
               "(no option)"))


def _prompt_password(text: str) -> str:
    if not sys.stdin.isatty():
        raise cfg.ConfigError(
            _("a password is needed and there is no terminal to type it: use --password-env")
        )
    password: str = click.prompt(text, hide_input=True, err=True)
    return password


def _connector(acc: cfg.AccountConfig) -> Connector:
    return connector_for(acc, lambda: cfg.get_password(acc, _prompt_password))


def _workspace(state: State, acc: cfg.AccountConfig, index: Index, *,
               rules: dict[str, Rule] | None = None, protection: Protection | None = None,
               batch: int | None = None) -> workflows.Workspace:
    """The workflows' view of one account; their notes go to stderr."""
    from mailclean import actions, workflows

    return workflows.Workspace(
        index=index, account=acc.name, connect=lambda: _connector(acc), address=acc.address,
        rules=rules or {},
        protection=protection or Protection.from_config(state.config().protect),
        note=lambda text: err.print(text, style="yellow"),
        batch=batch or actions.BATCH,
    )


#: How the meanings of :mod:`mailclean.wording`'s lines look in a terminal.
_STYLES = {"bold": "bold", "dim": "dim", "success": "green", "warning": "yellow",
           "error": "bold red"}


def print_lines(lines: list[tuple[str, str]], console: Console | None = None) -> None:
    """Print :mod:`mailclean.wording`'s ``(style, text)`` lines (the text is plain)."""
    for style, text in lines:
        (console or out).print(text, style=_STYLES.get(style, ""))


rules_option = click.option(
    "--rules",
    "rules_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Rules file (default: rules.toml beside the config file).",
)


def _rules(state: State, rules_file: Path | None) -> dict[str, Rule]:
    if rules_file is not None and not rules_file.exists():
        raise RuleError(_("no rules file {path}").format(path=rules_file))
    return load_rules(rules_file or cfg.default_rules_path(state.config_path))


@dataclass
class Scanned:
    """What the rule commands share: the account, the open index (the caller closes it),
    the rules and protection in force, and an up-to-date scan."""

    account: cfg.AccountConfig
    index: Index
    rules: dict[str, Rule]
    protection: Protection
    result: ScanResult


def _scan(
    state: State, account_name: str | None, rules_file: Path | None, only: tuple[str, ...] = (),
    force: bool = False,
) -> Scanned:
    config = state.config()
    acc = config.account(account_name)
    rules = _rules(state, rules_file)
    unknown = [r for r in only if r not in rules or not rules[r].enabled]
    if unknown:
        raise RuleError(
            _("unknown or disabled rule '{name}' (rules: {known})").format(
                name=unknown[0], known=", ".join(n for n, r in rules.items() if r.enabled)
            )
        )
    protection = Protection.from_config(config.protect)
    index = state.index()
    try:
        result = scan(index, acc.name, rules, protection, force=force, only=list(only) or None)
    except BaseException:
        index.close()
        raise
    return Scanned(acc, index, rules, protection, result)
