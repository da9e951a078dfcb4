"""``mailclean snapshot list``, ``show`` and ``remove``: the snapshots of the file, one
snapshot's figures per team or mailbox and its failures, and deleting one."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.table import Table

from mailclean import report
from mailclean.console import out
from mailclean.i18n import _, ngettext, number, size, when
from mailclean.snapshot.cli_shared import snapshots_option, where
from mailclean.snapshot.store import CATEGORIES, SnapshotError, SnapshotInfo
from mailclean.snapshot.summaries import (
    SHOWN_FAILURES,
    print_failures,
    print_partials,
    state_text,
    summary_line,
)

#: Columns `snapshot list` needs beside the labels to show a table, else a line each.
LIST_MIN_OTHERS = 49


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@snapshots_option
@click.pass_context
def list_command(ctx: click.Context, as_json: bool, snapshots_path: Path | None) -> None:
    """The snapshots taken, oldest first."""
    with where(ctx, snapshots_path).open() as store:
        snapshots = store.list()
    if as_json:
        click.echo(json.dumps([s.as_dict() for s in snapshots], ensure_ascii=False, indent=2))
        return
    if not snapshots:
        out.print(_("no snapshot yet: 'mailclean snapshot take' takes one"))
        return
    rows = [
        (
            s.label,
            when(s.taken_at),
            _("full") if s.depth == "full" else _("quick"),
            state_text(s),
            f"{number(s.done)}/{number(s.total)}",
            number(s.failed),
            number(s.messages),
            size(s.bytes),
        )
        for s in snapshots
    ]
    # Labels are what `compare` and `show` take: they are never cut. The other columns
    # wrap instead, and when that would leave them too narrow to read (long labels, a
    # narrow terminal), each snapshot gets a line of its own.
    longest = max(len(_("Label")), *(len(r[0]) for r in rows))
    if out.width - longest - 2 * len(rows[0]) < LIST_MIN_OTHERS:
        for s in snapshots:
            out.print(summary_line(s), markup=False)
        return
    table = Table(box=None)
    table.add_column(_("Label"), no_wrap=True, min_width=longest)
    # Wide enough for a date and for "interrupted": the counts fold first.
    for col, width in ((_("Taken"), 10), (_("Depth"), None), (_("State"), 11)):
        table.add_column(col, min_width=width)
    for col in (_("Mailboxes"), _("Failed"), _("Messages"), _("Volume")):
        table.add_column(col, justify="right", overflow="fold")
    for r in rows:
        table.add_row(*r)
    out.print(table)


def _team_totals(rows: list[report.MailboxRow]) -> list[dict]:
    """Per team: mailboxes, measured, failed, messages, volume, Trash; largest first."""
    teams: dict[str, dict] = {}
    for r in rows:
        t = teams.setdefault(
            r.team,
            {
                "team": r.team,
                "mailboxes": 0,
                "measured": 0,
                "failed": 0,
                "messages": 0,
                "bytes": 0,
                "trash_bytes": 0,
            },
        )
        t["mailboxes"] += 1
        if r.state == "done":
            t["measured"] += 1
            t["messages"] += r.messages
            t["bytes"] += r.bytes
            t["trash_bytes"] += r.trash_bytes
        elif r.state == "failed":
            t["failed"] += 1
    return sorted(teams.values(), key=lambda t: (-t["bytes"], t["team"].lower()))


def _mailbox_dict(r: report.MailboxRow) -> dict:
    """One mailbox's figures, JSON-ready."""
    return {
        "mailbox": r.mailbox,
        "team": r.team,
        "display_name": r.display_name,
        "state": r.state,
        "error": r.error,
        "messages": r.messages,
        "bytes": r.bytes,
        "quota_used": r.quota_used,
        "quota_limit": r.quota_limit,
        "folders": {role: {"messages": m, "bytes": b} for role, (m, b) in r.roles.items()},
        "categories": dict(r.categories) if r.categories is not None else None,
        "reclaimable_bytes": r.reclaimable_bytes,
        "unreadable_folders": r.unreadable_folders,
        "unreadable_roles": list(r.unreadable_roles),
    }


@click.command("show")
@click.argument("label")
@click.option(
    "--by",
    type=click.Choice(["team", "mailbox"]),
    default="team",
    show_default=True,
    help="Totals per team, or the figures of every mailbox.",
)
@click.option(
    "--failed",
    "only_failed",
    is_flag=True,
    help="Only the mailboxes that failed, or were measured in part.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@snapshots_option
@click.pass_context
def show(
    ctx: click.Context,
    label: str,
    by: str,
    only_failed: bool,
    as_json: bool,
    snapshots_path: Path | None,
) -> None:
    """One snapshot: its progress, totals per team (or mailbox), categories, failures."""
    """One snapshot: its progress, totals per team (or mailbox), categories, failures."""
    with where(ctx, snapshots_path).open() as store:
        info = store.get(label)
        rows = list(store.mailboxes(info.id))
    done = [r for r in rows if r.state == "done"]
    categories = None
    if done and all(r.categories is not None for r in done):
        categories = {c: sum((r.categories or {}).get(c, 0) for r in done) for c in CATEGORIES}
    if as_json:
        _show_json(info, rows, categories, by, only_failed)
        return
    failed = [r for r in rows if r.state == "failed"]
    partial = [
        (r.mailbox, r.unreadable_folders, ",".join(r.unreadable_roles))
        for r in done
        if r.unreadable_folders
    ]
    if only_failed:
        print_partials(info, partial)
        print_failures(info, [(r.mailbox, r.error or "") for r in failed])
        return
    out.print(summary_line(info), markup=False)
    out.print(_show_table(rows, by))
    if categories is not None:
        out.print(_("Still to clean, by category (a message can be in several):"))
        for c in CATEGORIES:
            out.print(f"  {report.category_text(c)}: {size(categories[c])}", markup=False)
    print_partials(info, partial[:SHOWN_FAILURES])
    if failed:
        print_failures(info, [(r.mailbox, r.error or "") for r in failed[:SHOWN_FAILURES]])


def _show_json(
    info: SnapshotInfo,
    rows: list[report.MailboxRow],
    categories: dict[str, int] | None,
    by: str,
    only_failed: bool,
) -> None:
    """`snapshot show --json`: the snapshot, its teams and categories (and its mailboxes,
    with --by mailbox; the troubled ones, with --failed)."""
    done = [r for r in rows if r.state == "done"]
    data = info.as_dict()
    data["teams"] = _team_totals(rows)
    data["categories"] = categories
    data["reclaimable_bytes"] = (
        sum(r.reclaimable_bytes or 0 for r in done) if categories is not None else None
    )
    data["quota_used"] = sum(r.quota_used or 0 for r in done)
    if by == "mailbox" or only_failed:
        troubled = [r for r in rows if r.state == "failed" or r.unreadable_folders]
        data["by_mailbox"] = [_mailbox_dict(r) for r in (troubled if only_failed else rows)]
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _show_table(rows: list[report.MailboxRow], by: str) -> Table:
    """The totals per team, or every mailbox's figures (largest first)."""
    table = Table(box=None)
    first = _("Team") if by == "team" else _("Mailbox")
    for col, justify in (
        (first, "left"),
        (_("Mailboxes") if by == "team" else _("Team"), "right" if by == "team" else "left"),
        (_("Messages"), "right"),
        (_("Volume"), "right"),
        (_("In the Trash"), "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    if by == "team":
        for t in _team_totals(rows):
            table.add_row(
                t["team"],
                f"{number(t['measured'])}/{number(t['mailboxes'])}",
                number(t["messages"]),
                size(t["bytes"]),
                size(t["trash_bytes"]),
            )
        return table
    for r in sorted(rows, key=lambda r: (-r.bytes, r.mailbox)):
        shown = r.display_name or r.mailbox
        if r.state != "done":
            table.add_row(
                shown, r.team, "–", "–", _("failed") if r.state == "failed" else _("pending")
            )
            continue
        table.add_row(shown, r.team, number(r.messages), size(r.bytes), size(r.trash_bytes))
    return table


@click.command("remove")
@click.argument("label")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@snapshots_option
@click.pass_context
def remove(ctx: click.Context, label: str, yes: bool, snapshots_path: Path | None) -> None:
    """Delete a snapshot and all its figures."""
    with where(ctx, snapshots_path).open() as store:
        info = store.get(label)
        if not yes:
            if not sys.stdin.isatty():
                raise SnapshotError(_("add --yes to remove a snapshot without a terminal"))
            click.confirm(
                ngettext(
                    "Remove snapshot {label} ({n} mailbox)?",
                    "Remove snapshot {label} ({n} mailboxes)?",
                    info.total,
                ).format(label=info.label, n=number(info.total)),
                abort=True,
                err=True,
            )
        store.remove(info.id)
    out.print(_("snapshot {label} removed").format(label=info.label))
