"""The before/after report of two snapshots: arithmetic, CSV, JSON and a self-contained HTML
page.

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

The package:

- :mod:`~mailclean.report.comparison`: the rows, the figures and :func:`compare`, the
  leaderboards;
- :mod:`~mailclean.report.labels`: reasons, roles and categories in words, signed sizes;
- :mod:`~mailclean.report.serialise`: JSON (:func:`to_dict`) and CSV (:func:`to_csv`);
- :mod:`~mailclean.report.html`: the page (:func:`render_html`), its charts in
  :mod:`~mailclean.report.charts`.
"""

from __future__ import annotations

from mailclean.report.comparison import (
    BEFORE_MEASURED,
    LEVELS,
    ROLE_ORDER,
    Co2Estimate,
    Comparison,
    Figures,
    Line,
    MailboxRow,
    SnapshotSide,
    Unmatched,
    compare,
    leaderboard,
    ranks,
)
from mailclean.report.html import render_html
from mailclean.report.labels import (
    category_text,
    partial_text,
    reason_text,
    role_text,
    signed_percent,
    signed_size,
)
from mailclean.report.serialise import CSV_COLUMNS, to_csv, to_dict

__all__ = [
    "BEFORE_MEASURED",
    "CSV_COLUMNS",
    "LEVELS",
    "ROLE_ORDER",
    "Co2Estimate",
    "Comparison",
    "Figures",
    "Line",
    "MailboxRow",
    "SnapshotSide",
    "Unmatched",
    "category_text",
    "compare",
    "leaderboard",
    "partial_text",
    "ranks",
    "reason_text",
    "render_html",
    "role_text",
    "signed_percent",
    "signed_size",
    "to_csv",
    "to_dict",
]
