"""The report as one self-contained HTML page: no script, no external font, image or
style sheet, so it works offline on an intranet and prints as it shows.

The page's fixed headings are named fields of :class:`Headings`, read in the reader's
language each time a page is rendered (:func:`headings`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from mailclean import __version__
from mailclean.i18n import _, decimal, language, ngettext, number, size
from mailclean.report.charts import bars_svg
from mailclean.report.comparison import Co2Estimate, Comparison, Figures, Line, leaderboard, ranks
from mailclean.report.labels import (
    category_text,
    partial_text,
    reason_text,
    role_text,
    signed_percent,
    signed_size,
)

_CSS = """
:root { --before: #9aa5b1; --after: #1f7a6d; --grew: #b03a2e; --ink: #1d2630;
        --muted: #5b6673; --line: #dde3e9; --card: #f4f7f9; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
       sans-serif; color: var(--ink); margin: 0 auto; max-width: 1100px; padding: 24px;
       line-height: 1.4; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
h1 { font-size: 1.7em; margin: 0 0 4px; }
h2 { font-size: 1.25em; margin: 28px 0 10px; border-bottom: 2px solid var(--line);
     padding-bottom: 4px; }
.meta, .note { color: var(--muted); font-size: 0.9em; }
.kpis { display: flex; flex-wrap: wrap; gap: 12px; margin: 18px 0; }
.kpi { background: var(--card); border-radius: 8px; padding: 12px 16px; flex: 1 1 180px; }
.kpi .value { font-size: 1.6em; font-weight: 700; }
.kpi .label { color: var(--muted); font-size: 0.85em; }
.kpi.main .value { color: var(--after); font-size: 2.1em; }
.boards { display: flex; flex-wrap: wrap; gap: 24px; }
.boards > div { flex: 1 1 420px; }
table { border-collapse: collapse; width: 100%; font-size: 0.92em; }
th, td { padding: 5px 8px; border-bottom: 1px solid var(--line); text-align: left;
         vertical-align: middle; }
th { color: var(--muted); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.rank { display: inline-block; min-width: 1.8em; height: 1.8em; line-height: 1.8em;
        border-radius: 50%; text-align: center; background: var(--line); font-weight: 700; }
.r1 { background: #e8c547; } .r2 { background: #c9ced4; } .r3 { background: #d39b6a; }
.rank.none { background: none; color: var(--muted); font-weight: 400; }
.bar { display: inline-block; height: 0.8em; background: var(--after); border-radius: 2px; }
.bar.grew { background: var(--grew); }
.grew-text { color: var(--grew); }
.legend span { display: inline-block; margin-right: 16px; font-size: 0.9em; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px;
          margin-right: 4px; vertical-align: -1px; }
svg { max-width: 100%; height: auto; font-family: inherit; }
svg text { fill: var(--ink); font-size: 12px; }
svg .before { fill: var(--before); } svg .after { fill: var(--after); }
svg .muted { fill: var(--muted); } svg .grew { fill: var(--grew); }
footer { margin-top: 36px; color: var(--muted); font-size: 0.85em;
         border-top: 1px solid var(--line); padding-top: 10px; }
@media print {
  body { padding: 0; max-width: none; font-size: 10pt; }
  section { break-inside: avoid; }
  h2 { break-after: avoid; }
}
"""

@dataclass(frozen=True, slots=True)
class Headings:
    """The headings and fixed notes of the page, by name, in one language. They are used
    inside f-strings, where gettext's extractor cannot read calls: :func:`headings` makes
    them with plain calls."""

    before: str
    after: str
    nothing_to_rank: str
    organisation_total: str
    volume_per_team: str
    team_leaderboard: str
    by_volume_freed: str
    by_share_freed: str
    mailbox_leaderboard: str
    left_to_clean: str
    several_categories: str
    by_folder_kind: str
    all_teams: str
    volume_that_grew: str
    not_compared: str
    not_compared_note: str


def headings() -> Headings:
    """The page's headings in the active language."""
    return Headings(
        before=_("before"),
        after=_("after"),
        nothing_to_rank=_("nothing to rank"),
        organisation_total=_("Organisation total"),
        volume_per_team=_("Volume per team"),
        team_leaderboard=_("Team leaderboard"),
        by_volume_freed=_("By volume freed"),
        by_share_freed=_("By share of the volume freed"),
        mailbox_leaderboard=_("Mailbox leaderboard"),
        left_to_clean=_("What is left to clean, by category"),
        several_categories=_("A message can be in several categories."),
        by_folder_kind=_("By kind of folder"),
        all_teams=_("All teams"),
        volume_that_grew=_("Volume that grew"),
        not_compared=_("Mailboxes not compared"),
        not_compared_note=_("They count neither as freed nor as grown."),
    )


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _legend(heads: Headings) -> str:
    return (
        '<p class="legend">'
        f'<span><i class="swatch" style="background:var(--before)"></i>{_e(heads.before)}</span>'
        f'<span><i class="swatch" style="background:var(--after)"></i>{_e(heads.after)}</span>'
        "</p>"
    )


def _bars(
    rows: list[tuple[str, int, int]], title: str, heads: Headings, label_width: int = 190
) -> str:
    return bars_svg(rows, title, heads.before, heads.after, label_width)


def _org_svg(org: Figures, heads: Headings) -> str:
    return _bars(
        [(_("Organisation"), org.bytes_before, org.bytes_after)],
        _("Organisation total before and after"),
        heads,
    )


def _board_table(
    lines: list[Line], by: str, kind: str, top: int | None, heads: Headings
) -> str:
    """A leaderboard: by volume freed (``by="bytes"``) or by share of it (``"percent"``)."""
    ranked = leaderboard(lines, by)[:top]
    if not ranked:
        return f'<p class="note">{_e(heads.nothing_to_rank)}</p>'
    head_name = _("Team") if kind == "team" else _("Mailbox")
    metric = _("Freed") if by == "bytes" else _("Reduction")
    best = max((abs(ln.figures.freed) for ln in ranked), default=1) or 1
    rows = []
    for i, ln in enumerate(ranked, 1):
        f = ln.figures
        grew = f.freed < 0
        share = abs(f.freed) / best if by == "bytes" else min(abs(f.reduction or 0.0), 1.0)
        bar = (
            f'<span class="bar{" grew" if grew else ""}" '
            f'style="width:{round(share * 120)}px"></span>'
        )
        # Ranked lines come first, so i is the rank of every line that has one.
        if ranks(ln):
            rank = f'<span class="rank{f" r{i}" if i <= 3 else ""}">{i}</span>'
        else:
            rank = '<span class="rank none">–</span>'
        extra = ""
        if kind == "mailbox" and ln.team:
            extra = f'<br><span class="note">{_e(ln.team)}</span>'
        main, other = signed_size(f.freed), signed_percent(f.reduction)
        if by == "percent":
            main, other = other, main
        rows.append(
            f"<tr><td>{rank}</td>"
            f"<td>{_e(ln.label)}{extra}</td>"
            f'<td class="num{" grew-text" if grew else ""}">{_e(main)}</td>'
            f'<td class="num">{_e(other)}</td><td>{bar}</td></tr>'
        )
    second = _("Reduction") if by == "bytes" else _("Freed")
    return (
        f'<table><thead><tr><th>#</th><th>{_e(head_name)}</th><th class="num">{_e(metric)}</th>'
        f'<th class="num">{_e(second)}</th><th></th></tr></thead><tbody>'
        + "".join(rows)
        + "</tbody></table>"
    )


def _figures_table(lines: list[Line], first: str, with_team: bool = False) -> str:
    """Before, after, freed... of each line, in a table."""
    head = (
        [first]
        + ([_("Team")] if with_team else [])
        + [
            _("Mailboxes"),
            _("Before"),
            _("After"),
            _("Freed"),
            _("Reduction"),
            _("Messages removed"),
            _("Still in the Trash"),
        ]
    )
    cells = "".join(
        f"<th{' class=num' if i >= (2 if with_team else 1) else ''}>{_e(h)}</th>"
        for i, h in enumerate(head)
    )
    body = []
    for ln in lines:
        f = ln.figures
        grew = ' class="num grew-text"' if f.grew else ' class="num"'
        team = f"<td>{_e(ln.team or '')}</td>" if with_team else ""
        body.append(
            f"<tr><td>{_e(ln.label)}</td>{team}"
            f'<td class="num">{_e(number(f.mailboxes))}</td>'
            f'<td class="num">{_e(size(f.bytes_before))}</td>'
            f'<td class="num">{_e(size(f.bytes_after))}</td>'
            f"<td{grew}>{_e(signed_size(f.freed))}</td>"
            f"<td{grew}>{_e(signed_percent(f.reduction))}</td>"
            f'<td class="num">{_e(number(f.messages_removed))}</td>'
            f'<td class="num">{_e(size(f.trash_pending))}</td></tr>'
        )
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_html(
    comparison: Comparison,
    by: str = "team",
    co2: Co2Estimate | None = None,
    top: int | None = 10,
    title: str | None = None,
) -> str:
    """The report as one HTML page: no script, no external font, image or style sheet, so
    it works offline on an intranet and prints as it shows. Mailbox names appear only with
    ``by="mailbox"``."""
    c = comparison
    heads = headings()
    title = title or _("Mailbox volume: {before} → {after}").format(
        before=c.before.label, after=c.after.label
    )
    lang = language()
    sections = [
        f'<header><h1>{_e(title)}</h1><p class="meta">{_e(_taken(c))}</p></header>',
        f'<section class="kpis">{_kpis(c.org, co2)}</section>',
        f"<section><h2>{_e(heads.organisation_total)}</h2>{_legend(heads)}"
        f"{_org_svg(c.org, heads)}</section>",
        *_leaderboards(c, by, top, heads),
        *_details(c, by, heads),
    ]
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        + "".join(sections)
        + f"<footer>{_footer(c, co2)}</footer></body></html>\n"
    )


def _taken(c: Comparison) -> str:
    """The line under the title: which snapshots, when, how many mailboxes and teams."""
    org = c.org
    return _(
        "Snapshots {before} ({before_at}) and {after} ({after_at}); {compared} in {teams}."
    ).format(
        before=c.before.label,
        before_at=_day(c.before.taken_at),
        after=c.after.label,
        after_at=_day(c.after.taken_at),
        compared=ngettext("{n} mailbox compared", "{n} mailboxes compared", org.mailboxes).format(
            n=number(org.mailboxes)
        ),
        teams=ngettext("{n} team", "{n} teams", len(c.teams)).format(n=number(len(c.teams))),
    )


def _kpis(org: Figures, co2: Co2Estimate | None) -> str:
    """The tiles at the top: freed, share, messages, Trash, participants (and CO2e)."""
    kpis = [
        ("main", signed_size(org.freed), _("freed") if org.freed >= 0 else _("more than before")),
        ("", signed_percent(org.reduction), _("of the volume")),
        ("", number(org.messages_removed), _("messages removed")),
        ("", size(org.trash_pending), _("deleted but still in the Trash (not freed yet)")),
        (
            "",
            f"{number(org.participants)} / {number(org.mailboxes)}",
            _("mailboxes that freed space"),
        ),
    ]
    kg = co2.kg_per_year(org.freed) if co2 is not None else 0.0
    if kg >= 0.05:  # a tile that reads "≈ 0 kg" says nothing: the note below still explains
        shown_kg = number(round(kg)) if kg >= 10 else decimal(kg)
        kpis.append(("", _("≈ {kg} kg CO2e/year").format(kg=shown_kg), _("estimate, see below")))
    return "".join(
        f'<div class="kpi {cls}"><div class="value">{_e(v)}</div>'
        f'<div class="label">{_e(lbl)}</div></div>'
        for cls, v, lbl in kpis
    )


def _leaderboards(c: Comparison, by: str, top: int | None, heads: Headings) -> list[str]:
    """The volume per team and the leaderboards of teams (and of mailboxes, by mailbox)."""
    sections = []
    if c.teams:
        by_volume = sorted(c.teams, key=lambda ln: (-ln.figures.bytes_before, ln.key.lower()))
        sections.append(
            f"<section><h2>{_e(heads.volume_per_team)}</h2>{_legend(heads)}"
            + _bars(
                [(ln.key, ln.figures.bytes_before, ln.figures.bytes_after) for ln in by_volume],
                _("Volume per team, before and after"),
                heads,
            )
            + "</section>"
        )
        sections.append(_boards(heads.team_leaderboard, c.teams, "team", top, heads))
    if by == "mailbox" and c.mailboxes:
        sections.append(_boards(heads.mailbox_leaderboard, c.mailboxes, "mailbox", top, heads))
    return sections


def _boards(heading: str, lines: list[Line], kind: str, top: int | None, heads: Headings) -> str:
    """A section of two leaderboards side by side: by volume freed, by share freed."""
    return (
        f'<section><h2>{_e(heading)}</h2><div class="boards">'
        f"<div><h3>{_e(heads.by_volume_freed)}</h3>"
        f"{_board_table(lines, 'bytes', kind, top, heads)}</div>"
        f"<div><h3>{_e(heads.by_share_freed)}</h3>"
        f"{_board_table(lines, 'percent', kind, top, heads)}</div></div></section>"
    )


def _details(c: Comparison, by: str, heads: Headings) -> list[str]:
    """Categories, folder kinds, every team, what grew and what was not compared."""
    sections = []
    if c.categories:
        rows = [(category_text(k), a, b) for k, a, b in c.categories]
        sections.append(
            f"<section><h2>{_e(heads.left_to_clean)}</h2>{_legend(heads)}"
            + _bars(rows, _("Cleanup categories before and after"), heads, label_width=250)
            + f'<p class="note">{_e(heads.several_categories)}</p>'
            "</section>"
        )
    if c.roles:
        role_lines = [Line(role_text(r.key), r.figures) for r in c.roles]
        sections.append(
            f"<section><h2>{_e(heads.by_folder_kind)}</h2>"
            + _figures_table(role_lines, _("Folders"))
            + "</section>"
        )
    if c.teams:
        sections.append(
            f"<section><h2>{_e(heads.all_teams)}</h2>"
            + _figures_table(c.teams, _("Team"))
            + "</section>"
        )
    sections += _grew(c, by, heads)
    sections += _unmatched(c, by, heads)
    return sections


def _grew(c: Comparison, by: str, heads: Headings) -> list[str]:
    """The teams (and, by mailbox, the mailboxes) whose volume grew; none when none did."""
    grew_teams = [ln for ln in c.teams if ln.figures.grew]
    grew_boxes = [ln for ln in c.mailboxes if ln.figures.grew]
    if not (grew_teams or grew_boxes):
        return []
    text = ngettext("{n} mailbox grew.", "{n} mailboxes grew.", len(grew_boxes)).format(
        n=number(len(grew_boxes))
    )
    body = f'<p class="note">{_e(text)}</p>'
    if grew_teams:
        body += _figures_table(grew_teams, _("Team"))
    if by == "mailbox" and grew_boxes:
        body += _figures_table(grew_boxes, _("Mailbox"), with_team=True)
    return [f"<section><h2>{_e(heads.volume_that_grew)}</h2>{body}</section>"]


def _unmatched(c: Comparison, by: str, heads: Headings) -> list[str]:
    """How many mailboxes were left out and why (named, by mailbox); none when none were."""
    if not c.unmatched:
        return []
    counts: dict[str, int] = {}
    for u in c.unmatched:
        counts[u.reason] = counts.get(u.reason, 0) + 1
    items = "".join(
        f"<li>{_e(reason_text(r))}: {_e(number(n))}</li>" for r, n in sorted(counts.items())
    )
    names = ""
    if by == "mailbox":
        names = (
            "<table><tbody>"
            + "".join(
                f"<tr><td>{_e(u.display_name or u.mailbox)}</td><td>{_e(u.team)}</td>"
                f"<td>{_e(reason_text(u.reason))}</td></tr>"
                for u in c.unmatched
            )
            + "</tbody></table>"
        )
    return [
        f"<section><h2>{_e(heads.not_compared)}</h2><ul>{items}</ul>{names}"
        f'<p class="note">{_e(heads.not_compared_note)}</p>'
        "</section>"
    ]


def _footer(c: Comparison, co2: Co2Estimate | None) -> str:
    """The notes that say how to read the figures, and who made the page when."""
    notes = [
        _(
            "Freed: how much less the mail server stores than at the first snapshot. Mail "
            "deleted into the Trash still takes space until the Trash is emptied: it is shown "
            "apart and not counted as freed."
        ),
        _(
            "Only volumes are measured: no message was read, and the snapshots hold no "
            "subject, address or file name."
        ),
    ]
    if not (c.before.complete and c.after.complete):
        notes.append(
            _("At least one snapshot is incomplete: mailboxes not measured yet are left out.")
        )
    if c.partial:
        notes.append(partial_text(c.partial))
    unreached = [s.label for s in (c.before, c.after) if not s.archives_measured]
    if unreached:
        notes.append(_(
            "Online archives: not measured in {labels} (taken through Microsoft Graph, "
            "which cannot reach them); only the mailboxes themselves are counted."
        ).format(labels=", ".join(unreached)))
    notes.append(_("Only teams and mailboxes that freed space are ranked."))
    if co2 is not None:
        notes.append(
            _(
                "CO2e: an estimate, not a measurement: volume freed (in GB of 10^9 bytes) × "
                "{factor} kg CO2e per GB per year. Source of the factor: {source}. No official "
                "per-GB storage factor exists; published ones range from about 0.4 to 0.7."
            ).format(factor=decimal(co2.kg_per_gb_year, 2).rstrip("0").rstrip(".,"),
                     source=co2.source)
        )
    generated = _("Generated by mailclean {version} on {when}.").format(
        version=__version__, when=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    )
    return "".join(f"<p>{_e(n)}</p>" for n in notes) + f"<p>{_e(generated)}</p>"


def _day(iso: str) -> str:
    return iso[:16].replace("T", " ") if iso else "–"
