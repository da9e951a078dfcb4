"""Trying it and reviewing: `demo`, `review`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mailclean import config as cfg
from mailclean.console import fail, out
from mailclean.i18n import (
    _,
    set_language,
)

if TYPE_CHECKING:

    pass

from mailclean.cli import State
from mailclean.cli.common import rules_option
from mailclean.cli.syncing import account_stats, print_stats, print_sync_summary, run_sync

# -- demo -----------------------------------------------------------------------------


@click.command()
@click.option("--messages", default=600, show_default=True, help="Size of the demo mailbox.")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to build it (default: the user data dir).",
)
@click.option(
    "--organisation",
    "--organization",
    "organisation",
    is_flag=True,
    help="For admins: a whole organisation instead (40 mailboxes in 6 teams, as a local "
    "Dovecot mail root, and its staff file), a snapshot before and after a simulated "
    "cleanup, and the report.",
)
@click.option(
    "--full",
    is_flag=True,
    help="With --organisation: measure the cleanup categories too (slower).",
)
@click.option("--lang", type=click.Choice(["fr", "en"]), help="Language of the output.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--no-review", is_flag=True, help="Do not open the review app at the end.")
@click.pass_obj
def demo(
    state: State,
    messages: int,
    directory: Path | None,
    organisation: bool,
    full: bool,
    lang: str | None,
    as_json: bool,
    no_review: bool,
) -> None:
    """Build a realistic demo mailbox locally (no server needed), index it and show it;
    with --organisation, try a whole cleanup event as an admin."""
    if lang:
        set_language(lang)
    ctx = click.get_current_context()
    if organisation:
        if ctx.get_parameter_source("messages") != click.core.ParameterSource.DEFAULT:
            raise click.UsageError(_("--messages is for the demo mailbox, not --organisation"))
        from mailclean.snapshot.cli import organisation_demo
        from mailclean.snapshot.store import SnapshotError

        try:
            organisation_demo((directory or cfg.data_dir() / "demo-organisation").expanduser(),
                              full=full, as_json=as_json)
        except SnapshotError as exc:
            fail(str(exc))
        return
    if full:
        raise click.UsageError(_("--full goes with --organisation"))
    from mailclean.bars import bar
    from mailclean.demo import build_demo

    root = (directory or cfg.data_dir() / "demo").expanduser()
    stages = {"compose": _("Composing the demo messages"), "render": _("Rendering the messages"),
              "write": _("Writing the Maildir")}
    with bar(not as_json) as progress:
        task = progress.add_task(stages["compose"], total=None)
        maildir = build_demo(root, messages=messages, progress=lambda stage, done, total:
                             progress.update(task, description=stages[stage], completed=done,
                                             total=total))
    index = state.index()
    try:
        # A fresh mailbox with the old journal would show what was freed from the old one.
        reset = index.remove_account("demo")
    finally:
        index.close()
    config = state.config()
    config.add(cfg.AccountConfig(name="demo", kind="maildir", path=str(maildir)), replace=True)
    config.save()
    if not as_json:
        out.print(_("demo mailbox built in {path}").format(path=maildir))
        if reset:
            out.print(_("the previous demo's index and journal were reset"))
    report = run_sync(state, config.account("demo"), show_progress=not as_json)
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        return
    print_sync_summary(report)
    index = state.index()
    try:
        print_stats(account_stats(index, "demo"))
    finally:
        index.close()
    if no_review or not (sys.stdin.isatty() and sys.stdout.isatty()):
        out.print(_("Review and clean it: mailclean review demo"), style="bold")
        return
    from mailclean.tui import run

    run(state.db_path, state.config_path, "demo")


# -- review app -----------------------------------------------------------------------


@click.command()
@click.argument("account_name", metavar="[ACCOUNT]", required=False)
@rules_option
@click.pass_obj
def review(state: State, account_name: str | None, rules_file: Path | None) -> None:
    """Open the review app: see where the volume is, select, clean, watch what is freed."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        # Without a terminal the app would wait for keys that never come.
        fail(_("the review app needs a terminal: run mailclean review in a terminal window "
               "(without one, mailclean scan and mailclean stats print the figures)"))
    from mailclean.tui import run  # textual is loaded only for the app

    run(state.db_path, state.config_path, account_name, rules_path=rules_file)

