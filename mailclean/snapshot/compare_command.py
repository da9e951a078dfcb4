"""``mailclean snapshot compare``: two snapshots before/after, on the terminal, as JSON,
CSV or a self-contained HTML page (:mod:`mailclean.report`)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from mailclean import report
from mailclean.console import out
from mailclean.i18n import _, ngettext, number
from mailclean.snapshot.cli_shared import snapshots_option, usage_errors, where, write_file
from mailclean.snapshot.options import CompareOptions, resolve_compare
from mailclean.snapshot.store import SnapshotError, SnapshotInfo
from mailclean.snapshot.summaries import print_comparison


def archives_note(label: str) -> str:
    """What a snapshot taken through Microsoft Graph leaves out, in words."""
    return _(
        "note: snapshot {label} was taken through Microsoft Graph, which cannot reach online "
        "archives: archive not measured (only the mailboxes themselves are counted)"
    ).format(label=label)


def _through_graph(info: SnapshotInfo) -> bool:
    """Whether the snapshot was taken through Microsoft Graph (online archives unreached)."""
    return bool(info.options.get("access", {}).get("kind") == "graph")


def side(info: SnapshotInfo) -> report.SnapshotSide:
    """Which snapshot one side of a comparison is, for the report."""
    return report.SnapshotSide(
        info.label,
        info.taken_at,
        info.depth,
        complete=info.state == "complete" and info.pending == 0,
        archives_measured=not _through_graph(info),
    )


@click.command("compare")
@click.argument("first")
@click.argument("second")
@click.option(
    "--by",
    type=click.Choice(list(report.LEVELS)),
    default="team",
    show_default=True,
    help="Detail per team, per mailbox (names included) or per kind of folder.",
)
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report as a self-contained HTML page.",
)
@click.option(
    "--csv",
    "csv_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the figures as CSV ('-': standard output).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.option(
    "--top",
    type=click.IntRange(1, 1000),
    default=10,
    show_default=True,
    help="Length of the leaderboards.",
)
@click.option(
    "--co2-factor",
    type=click.FloatRange(min=0),
    metavar="KG",
    help="Add a CO2e estimate: kg CO2e per GB stored for a year (published "
    "factors range from about 0.4 to 0.7).",
)
@click.option(
    "--co2-source",
    metavar="TEXT",
    help="Where the CO2e factor comes from (printed beside the estimate).",
)
@click.option("--title", help="Title of the HTML page.")
@snapshots_option
@click.pass_context
def compare(ctx: click.Context, /, snapshots_path: Path | None, **given: Any) -> None:
    """Before/after: volume freed per team, mailbox or folder kind, leaderboards, report."""
    options = CompareOptions(**given)
    with usage_errors():
        co2 = resolve_compare(options)
    with where(ctx, snapshots_path).open() as store:
        a, b = store.get(options.first), store.get(options.second)
        if a.id == b.id:
            raise SnapshotError(_("give two different snapshots"))
        comparison = report.compare(
            store.mailboxes(a.id), store.mailboxes(b.id), side(a), side(b)
        )
    for info in (a, b):
        if _through_graph(info):
            Console(stderr=True, highlight=False, soft_wrap=True).print(
                archives_note(info.label), markup=False)
        if info.pending:
            Console(stderr=True, highlight=False, soft_wrap=True).print(
                ngettext(
                    "note: snapshot {label} is not complete ({done} of {total} mailbox "
                    "measured); the others are left out",
                    "note: snapshot {label} is not complete ({done} of {total} mailboxes "
                    "measured); the others are left out",
                    info.total,
                ).format(label=info.label, done=number(info.done), total=number(info.total)),
                markup=False,
            )
    notes = Console(stderr=True, highlight=False, soft_wrap=True) if options.as_json else out
    written = _write_files(comparison, options, co2)
    if options.as_json:
        click.echo(
            json.dumps(
                report.to_dict(comparison, by=options.by, co2=co2, top=options.top),
                ensure_ascii=False,
                indent=2,
            )
        )
    elif str(options.csv_file) != "-":
        print_comparison(comparison, options.by, co2, options.top)
    for path in written:
        notes.print(_("written: {path}").format(path=path), markup=False)


def _write_files(
    comparison: report.Comparison, options: CompareOptions, co2: report.Co2Estimate | None
) -> list[str]:
    """The HTML page and the CSV file asked for (CSV '-': on standard output); the paths
    written."""
    written: list[str] = []
    if options.html_file is not None:
        page = report.render_html(
            comparison, by=options.by, co2=co2, top=options.top, title=options.title
        )
        write_file(options.html_file, page)
        written.append(str(options.html_file))
    if options.csv_file is not None:
        if str(options.csv_file) == "-":
            report.to_csv(comparison, sys.stdout, by=options.by)
        else:
            buffer = io.StringIO()
            report.to_csv(comparison, buffer, by=options.by)
            # With a byte-order mark, spreadsheets read the accents right.
            write_file(options.csv_file, buffer.getvalue(), encoding="utf-8-sig")
            written.append(str(options.csv_file))
    return written
