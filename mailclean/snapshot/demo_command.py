"""``mailclean demo --organisation``: an organisation's mail root built on disk, a snapshot
before and after a simulated cleanup, and the report, as an admin would take them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.progress import TimeElapsedColumn

from mailclean import report
from mailclean.bars import RateColumn
from mailclean.bars import bar as progress_bar
from mailclean.console import out
from mailclean.i18n import _, decimal, ngettext, number, size
from mailclean.snapshot.cli_shared import write_file
from mailclean.snapshot.compare_command import side
from mailclean.snapshot.maildirs import MaildirMeasure, MaildirRoot
from mailclean.snapshot.options import DEFAULT_TIMEOUT
from mailclean.snapshot.runner import RunOptions
from mailclean.snapshot.store import SnapshotInfo, SnapshotStore
from mailclean.snapshot.summaries import SHOWN_FAILURES, print_comparison, print_take_summary
from mailclean.snapshot.take_command import measure_snapshot, new_snapshot


def _demo_snapshot(
    store: SnapshotStore,
    label: str,
    measure: MaildirMeasure,
    accounts_file: Path,
    show: bool,
) -> SnapshotInfo:
    """Take one snapshot of the demo's mail root, as `snapshot take --maildir-root` does."""
    remembered = {
        "access": measure.access.describe(),
        "depth": measure.depth,
        "concurrency": 8,
        "timeout": DEFAULT_TIMEOUT[measure.depth],
        "retries": 0,
    }
    source = f"maildir://{measure.access.root.resolve()}"
    info = new_snapshot(store, accounts_file, label, source, remembered, None)
    options = RunOptions(timeout=DEFAULT_TIMEOUT[measure.depth], retries=0,
                         stop_after_refused=None)
    summary = measure_snapshot(store, info, measure, options, show)
    final = store.get(info.label)
    if show:
        print_take_summary(
            final, summary, store.failures(info.id, SHOWN_FAILURES),
            store.partials(info.id, SHOWN_FAILURES), as_json=False,
        )
    return final


def _print_cleanup(done: Any) -> None:
    """What the simulated agents did, in a few lines."""
    out.print(
        ngettext(
            "Cleanup simulated: {n} agent cleaned; {deleted} deleted for good ({size}), "
            "{trashed} moved to the Trash ({trash_size}: not freed until the Trash is "
            "emptied)",
            "Cleanup simulated: {n} agents cleaned; {deleted} deleted for good ({size}), "
            "{trashed} moved to the Trash ({trash_size}: not freed until the Trash is "
            "emptied)",
            done.agents,
        ).format(
            n=number(done.agents),
            deleted=ngettext("{n} message", "{n} messages", done.deleted_messages).format(
                n=number(done.deleted_messages)
            ),
            size=size(done.deleted_bytes),
            trashed=number(done.trashed_messages),
            trash_size=size(done.trashed_bytes),
        ),
        markup=False,
    )
    if done.idle_teams:
        out.print(
            _("Nobody cleaned in: {teams}").format(teams=", ".join(done.idle_teams)),
            markup=False,
        )
    if done.arrived_messages:
        out.print(
            ngettext(
                "Meanwhile {n} new message arrived in one mailbox ({size})",
                "Meanwhile {n} new messages arrived in one mailbox ({size})",
                done.arrived_messages,
            ).format(n=number(done.arrived_messages), size=size(done.arrived_bytes)),
            markup=False,
        )


def _print_next_steps(org: Any, db: Path, before: str, after: str) -> None:
    import shlex

    q = shlex.quote
    week = _("week-2")  # a label for a next snapshot; outside the f-string for gettext
    out.print(_("Try it as an admin would, on these files:"), style="bold")
    for line in (
        f"mailclean snapshot list --snapshots {q(str(db))}",
        f"mailclean snapshot compare {q(before)} {q(after)} --by mailbox --snapshots "
        f"{q(str(db))}",
        f"mailclean snapshot take {q(week)} --maildir-root {q(str(org.mail_root))} "
        f"--accounts {q(str(org.staff_file))} --snapshots {q(str(db))}",
    ):
        out.print(f"  {line}", markup=False)


def organisation_demo(root: Path, *, full: bool = False, as_json: bool = False) -> None:
    """``mailclean demo --organisation``: an organisation's mail root built on disk, a
    snapshot before and after a simulated cleanup, and the report (HTML, and the table)."""
    import time

    from mailclean.snapshot import demo as org_demo

    started = time.monotonic()
    show = not as_json
    with progress_bar(show, RateColumn(lambda s: _("{rate} msg/s").format(rate=decimal(s))),
                      TimeElapsedColumn()) as bar:
        task = bar.add_task(_("Generating the mailboxes"), total=None)
        org = org_demo.build_organisation(
            root, progress=lambda done, total: bar.update(task, completed=done, total=total)
        )
    if show:
        out.print(
            _(
                "{mailboxes} mailboxes in {teams} teams ({messages}, {size}) generated in "
                "{path}, laid out as a Dovecot mail root; staff file: {staff}"
            ).format(
                mailboxes=number(len(org.agents)),
                teams=number(len(org.teams)),
                messages=ngettext("{n} message", "{n} messages", org.messages).format(
                    n=number(org.messages)
                ),
                size=size(org.bytes),
                path=org.mail_root,
                staff=org.staff_file,
            ),
            markup=False,
        )
    db = root / "snapshots.db"
    measure = MaildirMeasure(
        MaildirRoot(org.mail_root), depth="full" if full else "quick", command_timeout=60.0
    )
    with SnapshotStore(db) as store:
        before = _demo_snapshot(store, _("before"), measure, org.staff_file, show)
        cleanup = org_demo.simulate_cleanup(org)
        if show:
            _print_cleanup(cleanup)
        after = _demo_snapshot(store, _("after"), measure, org.staff_file, show)
        comparison = report.compare(
            store.mailboxes(before.id), store.mailboxes(after.id), side(before), side(after)
        )
    html_file = root / "report.html"
    title = _("Digital Cleanup Day at the town hall (demo)")
    write_file(html_file, report.render_html(comparison, by="team", title=title))
    if as_json:
        data = report.to_dict(comparison, by="team")
        data["report"] = str(html_file)
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    print_comparison(comparison, "team", None, 10)
    out.print(_("written: {path}").format(path=html_file), markup=False)
    _print_next_steps(org, db, before.label, after.label)
    out.print(
        _("Demo done in {seconds} s.").format(seconds=decimal(time.monotonic() - started)),
        markup=False,
    )
