"""What the ``mailclean snapshot`` commands share: which snapshots file they work on
(``--snapshots FILE``, else ``$MAILCLEAN_SNAPSHOTS``, else ``snapshots.db`` beside the
index), refused options as usage errors, and how a report file is written."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from mailclean.i18n import _
from mailclean.snapshot import default_snapshots_path
from mailclean.snapshot.options import OptionError
from mailclean.snapshot.store import SnapshotError, SnapshotStore


@dataclass
class Where:
    """The snapshots file a command works on."""

    path: Path

    def open(self) -> SnapshotStore:
        """Open (and migrate) the snapshots file."""
        return SnapshotStore(self.path)


def where(ctx: click.Context, path: Path | None) -> Where:
    """The file given with ``--snapshots`` (or its variable), else the default one beside
    the index of the ``mailclean`` command this one runs under."""
    if path is not None:
        return Where(path)
    parent = ctx.find_root().obj
    index_path = getattr(parent, "db_path", None)
    return Where(default_snapshots_path(index_path))


def snapshots_option(f: Any) -> Any:
    """The ``--snapshots FILE`` option every subcommand takes."""
    return click.option(
        "--snapshots",
        "snapshots_path",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="MAILCLEAN_SNAPSHOTS",
        help="Snapshots file (default: snapshots.db beside the index).",
    )(f)


@contextmanager
def usage_errors() -> Iterator[None]:
    """Options refused by :mod:`mailclean.snapshot.options` as click's usage errors (exit
    status 2): a wrong value names its option, a wrong combination does not."""
    try:
        yield
    except OptionError as exc:
        if exc.param_hint is not None:
            raise click.BadParameter(exc.message, param_hint=exc.param_hint) from None
        raise click.UsageError(exc.message) from None


def write_file(path: Path, text: str, encoding: str = "utf-8") -> None:
    """Write a report whole or not at all (through a temporary file beside it)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding=encoding)
        tmp.replace(path)
    except OSError as exc:
        raise SnapshotError(
            _("cannot write {path}: {error}").format(path=path, error=exc.strerror or exc)
        ) from None
