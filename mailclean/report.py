"""The before/after report of two snapshots: arithmetic, CSV, JSON and a self-contained HTML page.

Everything here is a pure function of the mailbox rows of two snapshots (no database, no
server), so the arithmetic is tested on its own. The rules it follows:

- Only mailboxes measured in **both** snapshots are compared; one present in a single
  snapshot (someone who left or arrived), or not measured in one of them (failed, pending),
  is listed apart and never counted as freed or grown.
- A mailbox counts in the team it has in the *later* snapshot.
- **Freed** is the decrease of the server's volume (``bytes`` before minus after; negative
  when the mailbox grew). Mail deleted into the Trash still takes space: the growth of the
  Trash folders is shown apart, as "deleted, still in the Trash", never as freed.
- Teams, mailboxes and folder roles add up exactly to the organisation's figures.
- Only what freed something is ranked: a team or mailbox that freed nothing (or grew) gets
  no rank and no medal; it is listed after the ranked ones.
- A mailbox measured in part (folders that could not be read) is compared on what was
  measured, and the report says how many there are.
- The CO2e figure is an estimate from a factor the admin chooses, always printed with it.
"""

from __future__ import annotations

import csv
import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from mailclean import __version__
from mailclean.i18n import _, decimal, language, ngettext, number, percent, size

__all__ = [
    "Co2Estimate",
    "Comparison",
    "Figures",
    "Line",
    "MailboxRow",
    "SnapshotSide",
    "Unmatched",
    "compare",
    "leaderboard",
    "ranks",
    "render_html",
    "to_csv",
    "to_dict",
]

LEVELS = ("team", "mailbox", "folder")
#: Reasons a mailbox is left out for which the first snapshot has its figures.
BEFORE_MEASURED = frozenset({"only-before", "failed-after", "pending-after"})
ROLE_ORDER = ("inbox", "sent", "drafts", "trash", "junk", "archive", "other")


@dataclass(frozen=True, slots=True)
class MailboxRow:
    """What one snapshot says of one mailbox: the report's only input."""

    mailbox: str
    team: str
    display_name: str | None = None
    state: str = "done"
    """"done" (measured), "failed" or "pending" (not measured yet)."""
    messages: int = 0
    bytes: int = 0
    quota_used: int | None = None
    quota_limit: int | None = None
    roles: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    """Folder role -> (messages, bytes)."""
    categories: Mapping[str, int] | None = None
    """Bytes per cleanup category, for full snapshots."""
    reclaimable_bytes: int | None = None
    error: str | None = None
    unreadable_folders: int = 0
    """Folders that could not be read: the figures are those of the others."""
    unreadable_roles: tuple[str, ...] = ()

    @property
    def trash_bytes(self) -> int:
        """Bytes in the Trash folders."""
        return self.roles.get("trash", (0, 0))[1]


@dataclass(frozen=True, slots=True)
class Figures:
    """Before/after figures of a mailbox, a team, a folder role or the organisation."""

    mailboxes: int = 0
    participants: int = 0
    """Mailboxes that freed something."""
    messages_before: int = 0
    messages_after: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    trash_before: int = 0
    trash_after: int = 0
    trash_pending: int = 0
    """Deleted into the Trash since the first snapshot and still there: the growth of each
    mailbox's Trash, where it grew, summed. Not freed yet."""

    def __add__(self, other: Figures) -> Figures:
        return Figures(*(a + b for a, b in zip(self._values(), other._values(), strict=True)))

    def _values(self) -> tuple[int, ...]:
        return (
            self.mailboxes,
            self.participants,
            self.messages_before,
            self.messages_after,
            self.bytes_before,
            self.bytes_after,
            self.trash_before,
            self.trash_after,
            self.trash_pending,
        )

    @property
    def freed(self) -> int:
        """Bytes no longer on the server (negative: the volume grew)."""
        return self.bytes_before - self.bytes_after

    @property
    def messages_removed(self) -> int:
        """Messages fewer than before (negative: more)."""
        return self.messages_before - self.messages_after

    @property
    def reduction(self) -> float | None:
        """Share of the volume freed (negative when it grew); None when it was empty."""
        return self.freed / self.bytes_before if self.bytes_before else None

    @property
    def trash_growth(self) -> int:
        """Deleted into the Trash since, and still there: not freed yet."""
        return self.trash_after - self.trash_before

    @property
    def grew(self) -> bool:
        """The volume is larger than before."""
        return self.bytes_after > self.bytes_before

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (sizes in bytes; reduction as a share, 0.25 for 25 %)."""
        return {
            "mailboxes": self.mailboxes,
            "participants": self.participants,
            "messages_before": self.messages_before,
            "messages_after": self.messages_after,
            "messages_removed": self.messages_removed,
            "bytes_before": self.bytes_before,
            "bytes_after": self.bytes_after,
            "freed_bytes": self.freed,
            "reduction": None if self.reduction is None else round(self.reduction, 6),
            "trash_before": self.trash_before,
            "trash_after": self.trash_after,
            "trash_growth_bytes": self.trash_growth,
            "trash_pending_bytes": self.trash_pending,
        }



# Headings used inside f-strings: gettext's extractor cannot read calls there, so they
# are listed here as plain calls, evaluated when the page is rendered.
_T = (
    lambda: _('before'),
    lambda: _('after'),
    lambda: _('nothing to rank'),
    lambda: _('Organisation total'),
    lambda: _('Volume per team'),
    lambda: _('Team leaderboard'),
    lambda: _('By volume freed'),
    lambda: _('By share of the volume freed'),
    lambda: _('Mailbox leaderboard'),
    lambda: _('What is left to clean, by category'),
    lambda: _('A message can be in several categories.'),
    lambda: _('By kind of folder'),
    lambda: _('All teams'),
    lambda: _('Volume that grew'),
    lambda: _('Mailboxes not compared'),
    lambda: _('They count neither as freed nor as grown.'),
)

def _mailbox_figures(a: MailboxRow, b: MailboxRow) -> Figures:
    return Figures(
        mailboxes=1,
        participants=int(b.bytes < a.bytes),
        messages_before=a.messages,
        messages_after=b.messages,
        bytes_before=a.bytes,
        bytes_after=b.bytes,
        trash_before=a.trash_bytes,
        trash_after=b.trash_bytes,
        trash_pending=max(b.trash_bytes - a.trash_bytes, 0),
    )


@dataclass(frozen=True, slots=True)
class Line:
    """One row of a comparison: a team, a mailbox or a folder role."""

    key: str
    figures: Figures
    team: str | None = None
    display_name: str | None = None

    @property
    def label(self) -> str:
        """How to show it: the display name where there is one."""
        return self.display_name or self.key


@dataclass(frozen=True, slots=True)
class Unmatched:
    """A mailbox left out of the comparison, and why."""

    mailbox: str
    team: str
    display_name: str | None
    reason: str
    """"only-before", "only-after", "failed-before", "failed-after", "pending-before" or
    "pending-after"."""
    bytes: int | None


@dataclass(frozen=True, slots=True)
class SnapshotSide:
    """Which snapshot one side of the comparison is."""

    label: str
    taken_at: str
    depth: str = "quick"
    complete: bool = True


@dataclass(frozen=True, slots=True)
class Co2Estimate:
    """An emission factor chosen by the admin, and where it comes from."""

    kg_per_gb_year: float
    source: str

    def kg_per_year(self, freed_bytes: int) -> float:
        """kg CO2e a year for ``freed_bytes`` no longer stored (GB = 10^9 bytes)."""
        return freed_bytes / 1e9 * self.kg_per_gb_year


@dataclass
class Comparison:
    """Two snapshots compared: organisation, teams, mailboxes, folder roles, categories."""

    before: SnapshotSide
    after: SnapshotSide
    org: Figures
    teams: list[Line]
    mailboxes: list[Line]
    roles: list[Line]
    unmatched: list[Unmatched]
    categories: list[tuple[str, int, int]] | None = None
    """(category, bytes before, bytes after) when both snapshots are full ones."""
    partial: int = 0
    """Mailboxes compared that were measured in part in either snapshot."""


def compare(
    before: Iterable[MailboxRow],
    after: Iterable[MailboxRow],
    before_side: SnapshotSide | None = None,
    after_side: SnapshotSide | None = None,
) -> Comparison:
    """Compare two snapshots' mailboxes (see the module docstring for the rules)."""
    old = {r.mailbox.lower(): r for r in before}
    new = {r.mailbox.lower(): r for r in after}
    teams: dict[str, Figures] = {}
    roles: dict[str, Figures] = {}
    mailboxes: list[Line] = []
    unmatched: list[Unmatched] = []
    partial = 0
    categories: dict[str, list[int]] | None = {}
    for key in sorted(old.keys() | new.keys()):
        a, b = old.get(key), new.get(key)
        reason = _unmatched_reason(a, b)
        if reason is not None:
            row = b if b is not None else a
            assert row is not None
            measured = a if reason in BEFORE_MEASURED else b
            unmatched.append(
                Unmatched(
                    row.mailbox,
                    row.team,
                    row.display_name,
                    reason,
                    measured.bytes if measured is not None and measured.state == "done" else None,
                )
            )
            continue
        assert a is not None and b is not None
        partial += bool(a.unreadable_folders or b.unreadable_folders)
        fig = _mailbox_figures(a, b)
        mailboxes.append(Line(b.mailbox, fig, team=b.team, display_name=b.display_name))
        teams[b.team] = teams.get(b.team, Figures()) + fig
        for role in a.roles.keys() | b.roles.keys():
            ma, ba = a.roles.get(role, (0, 0))
            mb, bb = b.roles.get(role, (0, 0))
            part = Figures(
                mailboxes=1,
                participants=int(bb < ba),
                messages_before=ma,
                messages_after=mb,
                bytes_before=ba,
                bytes_after=bb,
                trash_before=ba if role == "trash" else 0,
                trash_after=bb if role == "trash" else 0,
                trash_pending=max(bb - ba, 0) if role == "trash" else 0,
            )
            roles[role] = roles.get(role, Figures()) + part
        if categories is not None:
            if a.categories is None or b.categories is None:
                categories = None
            else:
                for c in a.categories.keys() | b.categories.keys():
                    pair = categories.setdefault(c, [0, 0])
                    pair[0] += a.categories.get(c, 0)
                    pair[1] += b.categories.get(c, 0)
    org = sum((line.figures for line in mailboxes), Figures())
    order = {r: i for i, r in enumerate(ROLE_ORDER)}
    return Comparison(
        before=before_side or SnapshotSide("before", ""),
        after=after_side or SnapshotSide("after", ""),
        org=org,
        teams=[Line(t, f) for t, f in sorted(teams.items(), key=lambda kv: kv[0].lower())],
        mailboxes=mailboxes,
        roles=[
            Line(r, f)
            for r, f in sorted(roles.items(), key=lambda kv: (order.get(kv[0], 99), kv[0]))
        ],
        unmatched=unmatched,
        categories=None
        if not categories
        else [(c, v[0], v[1]) for c, v in sorted(categories.items())],
        partial=partial,
    )


def _unmatched_reason(a: MailboxRow | None, b: MailboxRow | None) -> str | None:
    if a is None:
        return "only-after"
    if b is None:
        return "only-before"
    for row, side in ((a, "before"), (b, "after")):
        if row.state != "done":
            return f"{'failed' if row.state == 'failed' else 'pending'}-{side}"
    return None


def ranks(line: Line) -> bool:
    """Whether a line has a place on a leaderboard: only what freed something does (a team
    that freed nothing, or grew, gets no rank and no medal)."""
    return line.figures.freed > 0


def leaderboard(lines: Iterable[Line], by: str = "bytes") -> list[Line]:
    """Lines ordered by volume freed (``by="bytes"``) or by share of their volume freed
    (``by="percent"``: fair to small teams; lines that had no volume are left out).
    Ties go to the larger volume freed, then alphabetical order. The lines that
    :func:`ranks` accepts come first; the others follow, unranked."""
    if by == "bytes":
        return sorted(lines, key=lambda ln: (-ln.figures.freed, ln.key.lower(), ln.key))
    if by == "percent":
        ranked = [ln for ln in lines if ln.figures.reduction is not None]
        return sorted(
            ranked,
            key=lambda ln: (
                -(ln.figures.reduction or 0.0),
                -ln.figures.freed,
                ln.key.lower(),
                ln.key,
            ),
        )
    raise ValueError(f"by must be 'bytes' or 'percent', not {by!r}")


# -- labels ---------------------------------------------------------------------------


def reason_text(reason: str) -> str:
    """A left-out mailbox's reason in words."""
    return {
        "only-before": _("only in the first snapshot"),
        "only-after": _("only in the second snapshot"),
        "failed-before": _("could not be measured in the first snapshot"),
        "failed-after": _("could not be measured in the second snapshot"),
        "pending-before": _("not measured yet in the first snapshot"),
        "pending-after": _("not measured yet in the second snapshot"),
    }.get(reason, reason)


def role_text(role: str) -> str:
    """A folder role in words."""
    return {
        "inbox": _("Inbox"),
        "sent": _("Sent"),
        "drafts": _("Drafts"),
        "trash": _("Trash"),
        "junk": _("Junk"),
        "archive": _("Archives"),
        "other": _("Other folders"),
    }.get(role, role)


def category_text(category: str) -> str:
    """A cleanup category in words."""
    return {
        "large-attachments": _("Large attachments"),
        "newsletters": _("Newsletters and mailing lists"),
        "old-threads": _("Old conversations"),
        "trash-and-junk": _("Trash and junk"),
        "duplicates": _("Duplicates"),
        "notifications": _("Automatic notifications"),
        "sent-attachments": _("Attachments sent"),
    }.get(category, category)


def partial_text(n: int) -> str:
    """The note on the mailboxes measured in part."""
    return ngettext(
        "{n} mailbox was measured in part: some of its folders could not be read, and the "
        "figures are those of the others.",
        "{n} mailboxes were measured in part: some of their folders could not be read, and "
        "the figures are those of the others.",
        n,
    ).format(n=number(n))


def signed_percent(share: float | None) -> str:
    """A reduction as a percentage with its sign: "−12%" means the volume grew."""
    if share is None:
        return "–"
    text = percent(abs(share))
    if round(abs(share) * 100) == 0:
        return text
    return text if share >= 0 else "−" + text


def signed_size(n: int) -> str:
    """A size freed: "1.2 GB", or "−300 MB" when it grew."""
    return size(n) if n >= 0 else "−" + size(-n)


# -- JSON and CSV ---------------------------------------------------------------------


def to_dict(
    comparison: Comparison,
    by: str = "team",
    co2: Co2Estimate | None = None,
    top: int | None = None,
) -> dict[str, Any]:
    """JSON-ready form. Mailbox names appear only with ``by="mailbox"``: a team-level
    report can be published as it is."""
    c = comparison
    names = by == "mailbox"

    def line(ln: Line) -> dict[str, Any]:
        out: dict[str, Any] = {"name": ln.key}
        if ln.team is not None:
            out["team"] = ln.team
            out["display_name"] = ln.display_name
        return {**out, **ln.figures.as_dict()}

    def board(lines: list[Line]) -> dict[str, list[str]]:
        # Only what freed something ranks; every line is in "teams" / "mailboxes".
        return {
            "by_bytes": [ln.key for ln in leaderboard(lines, "bytes") if ranks(ln)][:top],
            "by_percent": [ln.key for ln in leaderboard(lines, "percent") if ranks(ln)][:top],
        }

    data: dict[str, Any] = {
        "before": _side(c.before),
        "after": _side(c.after),
        "organisation": c.org.as_dict(),
        "teams": [line(t) for t in c.teams],
        "leaderboard": {"teams": board(c.teams)},
        "folder_roles": [line(r) for r in c.roles],
        "categories": None
        if c.categories is None
        else [
            {"category": k, "bytes_before": a, "bytes_after": b, "freed_bytes": a - b}
            for k, a, b in c.categories
        ],
        "not_compared": {
            reason: sum(1 for u in c.unmatched if u.reason == reason)
            for reason in sorted({u.reason for u in c.unmatched})
        },
        "partially_measured": c.partial,
        "generated_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "generator": f"mailclean {__version__}",
    }
    if names:
        data["mailboxes"] = [line(m) for m in c.mailboxes]
        data["leaderboard"]["mailboxes"] = board(c.mailboxes)
        data["not_compared_mailboxes"] = [
            {
                "mailbox": u.mailbox,
                "team": u.team,
                "display_name": u.display_name,
                "reason": u.reason,
                "bytes": u.bytes,
            }
            for u in c.unmatched
        ]
    if co2 is not None:
        data["co2e_estimate"] = {
            "kg_per_year": round(co2.kg_per_year(c.org.freed), 3),
            "factor_kg_per_gb_year": co2.kg_per_gb_year,
            "source": co2.source,
            "note": "estimate: freed bytes / 1e9 x factor; no official per-GB factor exists",
        }
    return data


def _side(side: SnapshotSide) -> dict[str, Any]:
    return {
        "label": side.label,
        "taken_at": side.taken_at,
        "depth": side.depth,
        "complete": side.complete,
    }


CSV_COLUMNS = (
    "level",
    "name",
    "team",
    "display_name",
    "status",
    "mailboxes",
    "participants",
    "messages_before",
    "messages_after",
    "messages_removed",
    "bytes_before",
    "bytes_after",
    "freed_bytes",
    "reduction_percent",
    "trash_before",
    "trash_after",
    "trash_growth_bytes",
    "trash_pending_bytes",
)


def to_csv(comparison: Comparison, out: IO[str], by: str = "team") -> None:
    """One row per team, mailbox or folder role (``by``), then the organisation's row.
    Sizes in bytes and percentages as plain numbers, for spreadsheets."""
    if by not in LEVELS:
        raise ValueError(f"by must be one of {LEVELS}, not {by!r}")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)

    def row(level: str, ln: Line, status: str = "compared") -> list[Any]:
        f = ln.figures
        red = "" if f.reduction is None else f"{f.reduction * 100:.2f}"
        return [
            level,
            ln.key,
            ln.team or "",
            ln.display_name or "",
            status,
            f.mailboxes,
            f.participants,
            f.messages_before,
            f.messages_after,
            f.messages_removed,
            f.bytes_before,
            f.bytes_after,
            f.freed,
            red,
            f.trash_before,
            f.trash_after,
            f.trash_growth,
            f.trash_pending,
        ]

    c = comparison
    if by == "team":
        for ln in c.teams:
            writer.writerow(row("team", ln))
    elif by == "folder":
        for ln in c.roles:
            writer.writerow(row("folder", ln))
    else:
        for ln in c.mailboxes:
            writer.writerow(row("mailbox", ln))
        for u in c.unmatched:
            # The one side that was measured, in its column; nothing is compared.
            measured = "" if u.bytes is None else u.bytes
            before, after = (measured, "") if u.reason in BEFORE_MEASURED else ("", measured)
            cells: list[Any] = ["mailbox", u.mailbox, u.team, u.display_name or "", u.reason, 0, 0]
            cells += ["", "", "", before, after]
            writer.writerow(cells + [""] * (len(CSV_COLUMNS) - len(cells)))
    writer.writerow(row("organisation", Line("*", c.org)))


# -- HTML -----------------------------------------------------------------------------

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


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _legend() -> str:
    return (
        '<p class="legend">'
        f'<span><i class="swatch" style="background:var(--before)"></i>{_e(_T[0]())}</span>'
        f'<span><i class="swatch" style="background:var(--after)"></i>{_e(_T[1]())}</span>'
        "</p>"
    )


def _bars_svg(rows: list[tuple[str, int, int]], title: str, label_width: int = 190) -> str:
    """Horizontal paired bars (before, after) per row, with the size and change as text."""
    width, bar_area = 960, 960 - label_width - 190
    row_h, pad = 34, 6
    top = max([max(b, a) for _n, b, a in rows] + [1])
    height = pad * 2 + row_h * len(rows)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{_e(title)}">',
        f"<title>{_e(title)}</title>",
    ]
    for i, (name, before, after) in enumerate(rows):
        y = pad + i * row_h
        wb = round(bar_area * before / top, 1)
        wa = round(bar_area * after / top, 1)
        room = label_width // 7
        shown = name if len(name) <= room else name[: room - 1] + "…"
        parts.append(
            f'<text x="{label_width - 8}" y="{y + 20}" text-anchor="end">'
            f"<title>{_e(name)}</title>{_e(shown)}</text>"
        )
        parts.append(
            f'<rect class="before" x="{label_width}" y="{y + 3}" width="{wb}" '
            f'height="12" rx="2"><title>{_e(_T[0]())}: {_e(size(before))}'
            "</title></rect>"
        )
        parts.append(
            f'<rect class="after" x="{label_width}" y="{y + 17}" width="{wa}" '
            f'height="12" rx="2"><title>{_e(_T[1]())}: {_e(size(after))}'
            "</title></rect>"
        )
        freed = before - after
        change = signed_percent(freed / before if before else None)
        cls = "grew" if freed < 0 else "muted"
        parts.append(
            f'<text x="{label_width + max(wb, wa) + 8}" y="{y + 20}" class="{cls}">'
            f"{_e(size(before))} → {_e(size(after))} ({_e(change)})</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _org_svg(org: Figures) -> str:
    return _bars_svg(
        [(_("Organisation"), org.bytes_before, org.bytes_after)],
        _("Organisation total before and after"),
    )


def _board_table(lines: list[Line], by: str, kind: str, top: int | None) -> str:
    ranked = leaderboard(lines, by)[:top]
    if not ranked:
        return f'<p class="note">{_e(_T[2]())}</p>'
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
    org = c.org
    title = title or _("Mailbox volume: {before} → {after}").format(
        before=c.before.label, after=c.after.label
    )
    lang = language()
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
    kpi_html = "".join(
        f'<div class="kpi {cls}"><div class="value">{_e(v)}</div>'
        f'<div class="label">{_e(lbl)}</div></div>'
        for cls, v, lbl in kpis
    )
    taken = _(
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
    sections = [
        f'<header><h1>{_e(title)}</h1><p class="meta">{_e(taken)}</p></header>',
        f'<section class="kpis">{kpi_html}</section>',
        f"<section><h2>{_e(_T[3]())}</h2>{_legend()}{_org_svg(org)}</section>",
    ]
    if c.teams:
        by_volume = sorted(c.teams, key=lambda ln: (-ln.figures.bytes_before, ln.key.lower()))
        sections.append(
            f"<section><h2>{_e(_T[4]())}</h2>{_legend()}"
            + _bars_svg(
                [(ln.key, ln.figures.bytes_before, ln.figures.bytes_after) for ln in by_volume],
                _("Volume per team, before and after"),
            )
            + "</section>"
        )
        sections.append(
            f'<section><h2>{_e(_T[5]())}</h2><div class="boards">'
            f"<div><h3>{_e(_T[6]())}</h3>{_board_table(c.teams, 'bytes', 'team', top)}"
            f"</div><div><h3>{_e(_T[7]())}</h3>"
            f"{_board_table(c.teams, 'percent', 'team', top)}</div></div></section>"
        )
    if by == "mailbox" and c.mailboxes:
        sections.append(
            f'<section><h2>{_e(_T[8]())}</h2><div class="boards">'
            f"<div><h3>{_e(_T[6]())}</h3>"
            f"{_board_table(c.mailboxes, 'bytes', 'mailbox', top)}</div>"
            f"<div><h3>{_e(_T[7]())}</h3>"
            f"{_board_table(c.mailboxes, 'percent', 'mailbox', top)}</div></div></section>"
        )
    if c.categories:
        rows = [(category_text(k), a, b) for k, a, b in c.categories]
        sections.append(
            f"<section><h2>{_e(_T[9]())}</h2>{_legend()}"
            + _bars_svg(rows, _("Cleanup categories before and after"), label_width=250)
            + f'<p class="note">{_e(_T[10]())}</p>'
            "</section>"
        )
    if c.roles:
        role_lines = [Line(role_text(r.key), r.figures) for r in c.roles]
        sections.append(
            f"<section><h2>{_e(_T[11]())}</h2>"
            + _figures_table(role_lines, _("Folders"))
            + "</section>"
        )
    if c.teams:
        sections.append(
            f"<section><h2>{_e(_T[12]())}</h2>"
            + _figures_table(c.teams, _("Team"))
            + "</section>"
        )
    grew_teams = [ln for ln in c.teams if ln.figures.grew]
    grew_boxes = [ln for ln in c.mailboxes if ln.figures.grew]
    if grew_teams or grew_boxes:
        text = ngettext("{n} mailbox grew.", "{n} mailboxes grew.", len(grew_boxes)).format(
            n=number(len(grew_boxes))
        )
        body = f'<p class="note">{_e(text)}</p>'
        if grew_teams:
            body += _figures_table(grew_teams, _("Team"))
        if by == "mailbox" and grew_boxes:
            body += _figures_table(grew_boxes, _("Mailbox"), with_team=True)
        sections.append(f"<section><h2>{_e(_T[13]())}</h2>{body}</section>")
    if c.unmatched:
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
        sections.append(
            f"<section><h2>{_e(_T[14]())}</h2><ul>{items}</ul>{names}"
            f'<p class="note">{_e(_T[15]())}</p>'
            "</section>"
        )
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
    footer = "".join(f"<p>{_e(n)}</p>" for n in notes) + f"<p>{_e(generated)}</p>"
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        + "".join(sections)
        + f"<footer>{footer}</footer></body></html>\n"
    )


def _day(iso: str) -> str:
    return iso[:16].replace("T", " ") if iso else "–"
