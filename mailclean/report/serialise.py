"""The comparison as data: a JSON-ready dict and CSV for spreadsheets (sizes in bytes).
Mailbox names appear only when the comparison is detailed per mailbox."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from typing import IO, Any

from mailclean import __version__
from mailclean.report.comparison import (
    BEFORE_MEASURED,
    LEVELS,
    Co2Estimate,
    Comparison,
    Line,
    SnapshotSide,
    leaderboard,
    ranks,
)


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
        "archives_measured": side.archives_measured,
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
