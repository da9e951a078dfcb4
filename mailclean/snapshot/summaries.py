"""What the snapshot commands print on the terminal: a run's figures, the mailboxes that
failed or were measured in part, a snapshot in a line, and a comparison as a table."""

from __future__ import annotations

import json

import click
from rich.table import Table

from mailclean import report
from mailclean.console import out
from mailclean.i18n import _, decimal, ngettext, number, size, when
from mailclean.snapshot.runner import RunSummary
from mailclean.snapshot.store import SnapshotInfo

#: Failures listed after a run; `snapshot show` lists them all.
SHOWN_FAILURES = 10


def print_take_summary(
    final: SnapshotInfo,
    summary: RunSummary,
    failures: list[tuple[str, str]],
    partials: list[tuple[str, int, str]],
    as_json: bool,
) -> None:
    """What a run of `snapshot take` did: its figures, then its failures."""
    if as_json:
        data = final.as_dict()
        data.update(
            measured_now=summary.measured,
            failed_now=summary.failed,
            seconds=round(summary.seconds, 3),
            failures=[{"mailbox": m, "error": e} for m, e in failures],
            partially_measured=[
                {"mailbox": m, "unreadable_folders": n, "roles": roles.split(",")}
                for m, n, roles in partials
            ],
        )
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    speed = (summary.measured + summary.failed) / summary.seconds if summary.seconds else 0.0
    out.print(
        _(
            "{label}: {measured}, {failed} failed; {size} in {messages} "
            "({seconds} s, {rate} mailboxes/s)"
        ).format(
            label=final.label,
            measured=measured_text(final.done, final.total),
            failed=number(final.failed),
            size=size(final.bytes),
            messages=ngettext("{n} message", "{n} messages", final.messages).format(
                n=number(final.messages)
            ),
            seconds=decimal(summary.seconds),
            rate=decimal(speed),
        ),
        markup=False,
    )
    print_partials(final, partials)
    print_failures(final, failures)


def print_partials(info: SnapshotInfo, partials: list[tuple[str, int, str]]) -> None:
    """The mailboxes measured in part, and how many more there are."""
    for mailbox, n, roles in partials:
        out.print(
            ngettext(
                "  {mailbox}: measured in part, {n} folder could not be read ({roles})",
                "  {mailbox}: measured in part, {n} folders could not be read ({roles})",
                n,
            ).format(
                mailbox=mailbox,
                n=number(n),
                roles=", ".join(report.role_text(r) for r in roles.split(",") if r),
            ),
            markup=False,
        )
    if info.partial > len(partials):
        out.print(
            _("  ... {n} more: 'mailclean snapshot show {label} --failed'").format(
                n=number(info.partial - len(partials)), label=info.label
            ),
            markup=False,
        )


def measured_text(done: int, total: int) -> str:
    """"3 of 450 mailboxes measured", in the active language."""
    return ngettext(
        "{done} of {total} mailbox measured", "{done} of {total} mailboxes measured", total
    ).format(done=number(done), total=number(total))


def print_failures(info: SnapshotInfo, failures: list[tuple[str, str]]) -> None:
    """The mailboxes that failed, how many more, and how to measure them again."""
    for mailbox, error in failures:
        out.print(f"  {mailbox}: {error}", markup=False)
    if info.failed > len(failures):
        out.print(
            ngettext(
                "  ... {n} more: 'mailclean snapshot show {label} --failed'",
                "  ... {n} more: 'mailclean snapshot show {label} --failed'",
                info.failed - len(failures),
            ).format(n=number(info.failed - len(failures)), label=info.label),
            markup=False,
        )
    if info.failed:
        out.print(
            _(
                "Measure them again with 'mailclean snapshot take --resume --label {label} "
                "--retry-failed'."
            ).format(label=info.label),
            markup=False,
        )


def state_text(info: SnapshotInfo) -> str:
    """A snapshot's state in words: complete, running or interrupted."""
    if info.state == "complete" and not info.pending:
        return _("complete")
    if info.state == "running":
        return _("running or stopped ({n} to go)").format(n=number(info.pending))
    return _("interrupted ({n} to go)").format(n=number(info.pending))


def summary_line(info: SnapshotInfo) -> str:
    """One snapshot in a sentence: label, date, depth, state and figures."""
    return _(
        "{label}: taken {when} ({depth}), {state}; {measured}, {failed} failed; "
        "{size} in {messages}"
    ).format(
        label=info.label,
        when=when(info.taken_at),
        depth=_("full") if info.depth == "full" else _("quick"),
        state=state_text(info),
        measured=measured_text(info.done, info.total),
        failed=number(info.failed),
        size=size(info.bytes),
        messages=ngettext("{n} message", "{n} messages", info.messages).format(
            n=number(info.messages)
        ),
    )


def print_comparison(
    c: report.Comparison, by: str, co2: report.Co2Estimate | None, top: int
) -> None:
    """A comparison on the terminal: the organisation in a sentence (and its CO2e), a table
    per team, mailbox or folder kind, the leaderboard by share, what was left out."""
    _print_organisation(c, co2)
    out.print(_comparison_table(c, by))
    ranked = [ln for ln in report.leaderboard(c.teams, "percent") if report.ranks(ln)][:top]
    if by == "team" and ranked:
        out.print(
            _("By share of the volume freed: {teams}").format(
                teams=", ".join(
                    f"{i}. {ln.key} ({report.signed_percent(ln.figures.reduction)})"
                    for i, ln in enumerate(ranked, 1)
                )
            ),
            markup=False,
        )
    if c.partial:
        out.print(report.partial_text(c.partial), style="dim", markup=False)
    if c.unmatched:
        _print_unmatched(c, by)


def _print_organisation(c: report.Comparison, co2: report.Co2Estimate | None) -> None:
    """The organisation's figures in a sentence, then the CO2e estimate if asked."""
    org = c.org
    out.print(
        _(
            "{before} → {after}: {freed} freed ({pct}) in {mailboxes}, {removed}; "
            "{trash} deleted but still in the Trash"
        ).format(
            before=c.before.label,
            after=c.after.label,
            freed=report.signed_size(org.freed),
            pct=report.signed_percent(org.reduction),
            mailboxes=ngettext("{n} mailbox", "{n} mailboxes", org.mailboxes).format(
                n=number(org.mailboxes)
            ),
            removed=ngettext(
                "{n} message removed", "{n} messages removed", abs(org.messages_removed)
            ).format(n=number(org.messages_removed)),
            trash=size(org.trash_pending),
        ),
        markup=False,
    )
    if co2 is not None:
        out.print(
            _(
                "CO2e estimate: ≈ {kg} kg a year (factor {factor} kg per GB per year, "
                "source: {source}); an estimate, not a measurement"
            ).format(
                kg=number(round(co2.kg_per_year(org.freed))),
                factor=co2.kg_per_gb_year,
                source=co2.source,
            ),
            markup=False,
        )


def _comparison_table(c: report.Comparison, by: str) -> Table:
    """Before, after, freed... per team or mailbox (ranked first), or per folder kind."""
    lines = {"team": c.teams, "mailbox": c.mailboxes, "folder": c.roles}[by]
    if by == "folder":
        lines = [report.Line(report.role_text(ln.key), ln.figures) for ln in lines]
    else:
        lines = report.leaderboard(lines, "bytes")
    first = {"team": _("Team"), "mailbox": _("Mailbox"), "folder": _("Folders")}[by]
    table = Table(box=None)
    for col, justify in (
        ("#", "right"),
        (first, "left"),
        (_("Before"), "right"),
        (_("After"), "right"),
        (_("Freed"), "right"),
        (_("Reduction"), "right"),
        (_("Still in the Trash"), "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for i, ln in enumerate(lines, 1):
        f = ln.figures
        style = "red" if f.grew else None
        # Only what freed something is ranked, and it comes first: i is its rank.
        table.add_row(
            str(i) if by != "folder" and report.ranks(ln) else "",
            ln.label,
            size(f.bytes_before),
            size(f.bytes_after),
            report.signed_size(f.freed),
            report.signed_percent(f.reduction),
            size(f.trash_pending),
            style=style,
        )
    return table


def _print_unmatched(c: report.Comparison, by: str) -> None:
    """How many mailboxes were not compared; by mailbox, each one and why."""
    out.print(
        ngettext(
            "{n} mailbox not compared (in one snapshot only, or not measured in both); "
            "'--by mailbox' lists it",
            "{n} mailboxes not compared (in one snapshot only, or not measured in both); "
            "'--by mailbox' lists them",
            len(c.unmatched),
        ).format(n=number(len(c.unmatched))),
        style="dim",
        markup=False,
    )
    if by == "mailbox":
        for u in c.unmatched:
            out.print(
                f"  {u.display_name or u.mailbox} ({u.team}): {report.reason_text(u.reason)}",
                markup=False,
            )
