"""``mailclean snapshot``: take, list, show, compare and remove volume snapshots.

The group and its error handling are here; each family of commands has its module:
``take`` in :mod:`~mailclean.snapshot.take_command` (its options merged and checked in
:mod:`~mailclean.snapshot.options`), ``list``, ``show`` and ``remove`` in
:mod:`~mailclean.snapshot.browse_commands`, ``compare`` in
:mod:`~mailclean.snapshot.compare_command`; what they print is in
:mod:`~mailclean.snapshot.summaries`, and ``mailclean demo --organisation`` in
:mod:`~mailclean.snapshot.demo_command`.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import click

from mailclean.connectors.base import ConnectorError
from mailclean.console import fail
from mailclean.i18n import _
from mailclean.rules import RuleError
from mailclean.snapshot.accounts import AccountsFileError
from mailclean.snapshot.browse_commands import list_command, remove, show
from mailclean.snapshot.compare_command import compare
from mailclean.snapshot.demo_command import organisation_demo
from mailclean.snapshot.store import SnapshotError
from mailclean.snapshot.take_command import (
    EXIT_FAILED,
    EXIT_PARTIAL,
    RichSnapshotProgress,
    exit_status,
    take,
)

__all__ = [
    "EXIT_FAILED",
    "EXIT_PARTIAL",
    "RichSnapshotProgress",
    "SnapshotGroup",
    "exit_status",
    "organisation_demo",
    "snapshot",
]


class SnapshotGroup(click.Group):
    """Turns the expected failures of snapshot commands into one-line errors."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, translating known exceptions."""
        try:
            return super().invoke(ctx)
        except (SnapshotError, AccountsFileError, ConnectorError, RuleError) as exc:
            fail(str(exc))
        except sqlite3.Error as exc:
            fail(_("the snapshots file cannot be used ({error})").format(error=exc))
        except KeyboardInterrupt:
            fail(_("interrupted by the user"), 130)


@click.group(cls=SnapshotGroup, context_settings={"help_option_names": ["-h", "--help"]})
def snapshot() -> None:
    """Measure many mailboxes (volumes only) and compare them before and after a cleanup."""


for _command in (take, list_command, show, remove, compare):
    snapshot.add_command(_command)
