"""The ``mailclean`` command: a thin click layer over the library.

This module holds the group, its global options and the error handling; each command
lives in the module of its family (``setup``, ``syncing``, ``rules``, ``cleaning``,
``demo``, and ``mailclean.snapshot.cli``), imported when the command is used."""

from __future__ import annotations

import sqlite3
import sys
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any, ClassVar

import click

from mailclean import __version__
from mailclean import config as cfg
from mailclean.connectors.base import ConnectorError
from mailclean.console import fail
from mailclean.i18n import _, set_language
from mailclean.index import AccountNotIndexed, Index, IndexFileError
from mailclean.rules import RuleError

#: Every command is loaded when it is used: each module pulls in only what its commands
#: need (the snapshot runner, protocol libraries, the app), and start-up time counts
#: (`scan --json` on a scanned index answers in well under a second).
LAZY_GROUPS = {
    "account": "mailclean.cli.setup:account",
    "clean": "mailclean.cli.cleaning:clean",
    "config": "mailclean.cli.setup:config_group",
    "demo": "mailclean.cli.demo:demo",
    "explain": "mailclean.cli.rules:explain_command",
    "freed": "mailclean.cli.cleaning:freed",
    "journal": "mailclean.cli.cleaning:journal_group",
    "review": "mailclean.cli.demo:review",
    "rules": "mailclean.cli.rules:rules_group",
    "scan": "mailclean.cli.rules:scan_command",
    "senders": "mailclean.cli.rules:senders",
    "snapshot": "mailclean.snapshot.cli:snapshot",
    "stats": "mailclean.cli.syncing:stats",
    "sync": "mailclean.cli.syncing:sync",
    "undo": "mailclean.cli.cleaning:undo_command",
}


@dataclass
class State:
    """What the global options chose, handed to every command."""

    config_path: Path
    db_path: Path

    def config(self) -> cfg.Config:
        """Load the configuration file."""
        return cfg.load(self.config_path)

    def index(self) -> Index:
        """Open (and migrate) the index."""
        return Index(self.db_path)


class Group(click.Group):
    """Turns the library's expected failures into one-line errors."""

    lazy: ClassVar[dict[str, str]] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        """The commands, those loaded on use included."""
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """A command, its module imported first if it is loaded on use."""
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module, name = self.lazy[cmd_name].split(":")
            self.add_command(getattr(import_module(module), name), cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, translating known exceptions."""
        try:
            return super().invoke(ctx)
        except (
            cfg.ConfigError, ConnectorError, IndexFileError, AccountNotIndexed, RuleError,
        ) as exc:
            fail(str(exc))
        except sqlite3.Error as exc:
            state = ctx.find_object(State)
            fail(_("the index {path} cannot be used ({error}); move it away and sync again").format(
                path=state.db_path if state else "?", error=exc))
        except KeyboardInterrupt:
            fail(_("interrupted: what was already stored stays in the index"), 130)
        except Exception as exc:
            # An ActionError can only come from an action, once mailclean.actions is loaded.
            loaded = sys.modules.get("mailclean.actions")
            if loaded is not None and isinstance(exc, loaded.ActionError):
                fail(str(exc))
            raise


class MainGroup(Group):
    """The ``mailclean`` group, with its groups loaded on use."""

    lazy = LAZY_GROUPS


class _PathOption(click.Option):
    """An option whose help names the default path resolved now (environment included)."""

    def __init__(self, *args: Any, default_path: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.default_path = default_path
        self.base_help = self.help or ""

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        """The help line, with the default path as resolved for this run."""
        self.help = f"{self.base_help} (default: {self.default_path()})"
        return super().get_help_record(ctx)


@click.group(cls=MainGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mailclean")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="MAILCLEAN_CONFIG",
    cls=_PathOption,
    default_path=cfg.default_config_path,
    help="Configuration file; `mailclean config path` shows every file in use",
)
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="MAILCLEAN_DB",
    cls=_PathOption,
    default_path=cfg.default_db_path,
    help="Index file",
)
@click.option("--lang", type=click.Choice(["fr", "en"]), help="Language of the output.")
@click.pass_context
def cli(
    ctx: click.Context, config_path: Path | None, db_path: Path | None, lang: str | None
) -> None:
    """Find what weighs in your mailboxes, clean it safely, measure the volume freed."""
    from mailclean import retry

    config_path = config_path or cfg.default_config_path()
    try:
        settings = cfg.load(config_path).settings
    except cfg.ConfigError:
        settings = {}  # reported by the command that needs the config
    set_language(lang or settings.get("lang"))
    retry.configure(timeout=settings.get("timeout"), deadline=settings.get("deadline"))
    ctx.obj = State(config_path=config_path, db_path=db_path or cfg.default_db_path())


def main() -> None:
    """Entry point of the console script."""
    cli(prog_name="mailclean")
