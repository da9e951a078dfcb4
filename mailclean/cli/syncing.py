"""Bringing the index up to date, and what it holds: `sync`, `stats`."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click
from rich.table import Table

from mailclean import config as cfg
from mailclean import wording
from mailclean.console import err, out
from mailclean.i18n import (
    _,
    decimal,
    ngettext,
    number,
    percent,
    rate,
    role,
    size,
    when,
)
from mailclean.index import Index

if TYPE_CHECKING:

    from mailclean.sync import SyncReport

from mailclean.cli import State
from mailclean.cli.common import _workspace, print_lines


def run_sync(
    state: State,
    acc: cfg.AccountConfig,
    folders: tuple[str, ...] = (),
    full: bool = False,
    show_progress: bool = True,
) -> SyncReport:
    """Sync one account with a progress bar; returns the report."""
    from mailclean import workflows
    from mailclean.cli_progress import sync_progress

    index = state.index()
    try:
        with sync_progress(show_progress) as progress:
            return workflows.sync(_workspace(state, acc, index), folders=folders, full=full,
                                  progress=progress)
    finally:
        index.close()


@click.command()
@click.argument("account_name", metavar="[ACCOUNT]", required=False)
@click.option("--folder", "folders", multiple=True, help="Only this folder (repeatable).")
@click.option("--full", is_flag=True, help="Forget the incremental state and re-index.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def sync(
    state: State, account_name: str | None, folders: tuple[str, ...], full: bool, as_json: bool
) -> None:
    """Index an account's headers, sizes and attachments (incrementally)."""
    acc = state.config().account(account_name)
    report = run_sync(state, acc, folders, full, show_progress=not as_json)
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        print_sync_summary(report)
    if report.count_mismatches:
        sys.exit(COUNT_MISMATCH)


#: Exit status of ``sync`` when a folder's index disagrees with the server's own count.
COUNT_MISMATCH = 3


def print_sync_summary(report: SyncReport) -> None:
    """One paragraph saying what the sync did."""
    speed = report.new / report.seconds if report.seconds > 0 else 0.0
    out.print(
        _(
            "{account}: {messages}, {size} in {folders}; {new} ({new_size}), {removed}, "
            "{flags} in {seconds} s ({rate} msg/s)"
        ).format(
            account=report.account,
            **report.counts(),
            seconds=decimal(report.seconds),
            rate=rate(speed),
        )
    )
    details = wording.sync_detail_lines(report)
    print_lines([line for line in details if line[0] != "error"])
    print_lines([line for line in details if line[0] == "error"], err)


# -- stats ----------------------------------------------------------------------------


def account_stats(index: Index, name: str) -> dict:
    """Totals, folders and quota of an indexed account."""
    row = index.require_account(name)
    stats = index.stats(row["id"])
    stats["account"] = name
    stats["synced_at"] = row["synced_at"]
    stats["quota"] = {
        "reported": row["quota_used"] is not None,
        "used": row["quota_used"],
        "limit": row["quota_limit"],
        "root": row["quota_root"],
        "checked_at": row["quota_at"],
    }
    return stats


@click.command()
@click.argument("account_name", metavar="[ACCOUNT]", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def stats(state: State, account_name: str | None, as_json: bool) -> None:
    """Mailbox volume by folder, largest first, and the server quota."""
    acc = state.config().account(account_name)
    index = state.index()
    try:
        data = account_stats(index, acc.name)
    finally:
        index.close()
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    print_stats(data)


def print_stats(data: dict) -> None:
    """The stats table."""
    total = data["bytes"] or 1
    table = Table(
        title=ngettext("{account}: {messages} message, {size}",
                       "{account}: {messages} messages, {size}", data["messages"]).format(
            account=data["account"], messages=number(data["messages"]), size=size(data["bytes"])
        ),
        title_justify="left",
        box=None,
    )
    table.add_column(_("Folder"))
    table.add_column(_("Role"), style="dim")
    table.add_column(_("Messages"), justify="right")
    table.add_column(_("Size"), justify="right")
    table.add_column(_("Share"), justify="left")
    for f in data["folders"]:
        share = f["bytes"] / total
        bar = "█" * round(share * 20)
        table.add_row(
            f["name"], role(f["role"]), number(f["messages"]), size(f["bytes"]),
            f"{bar} {percent(share)}",
        )
    out.print(table)
    q = data.get("quota") or {}
    if not q.get("reported"):
        if q.get("checked_at"):
            out.print(_("Server quota: the server does not report one (it has no IMAP QUOTA "
                        "extension, or no limit set for this mailbox)."), style="dim")
        else:
            out.print(_("Server quota: not asked yet (run a sync)."), style="dim")
    else:
        if q["limit"]:
            out.print(
                _("Server quota: {used} used of {limit} ({pct})").format(
                    used=size(q["used"]),
                    limit=size(q["limit"]),
                    pct=percent(q["used"] / q["limit"]),
                )
            )
        else:
            out.print(_("Server quota: {used} used, no limit").format(used=size(q["used"])))
    if data["messages_with_problems"]:
        out.print(
            ngettext("{n} message could not be fully read; it is counted with its size",
                     "{n} messages could not be fully read; they are counted with their size",
                     data["messages_with_problems"]).format(n=data["messages_with_problems"])
        )
    if data.get("synced_at"):
        out.print(_("Last sync: {when}").format(when=when(data["synced_at"])), style="dim")
