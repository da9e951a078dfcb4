"""The before/after comparison of two snapshots: the figures per organisation, team,
mailbox and folder role, and the leaderboards (the rules are in :mod:`mailclean.report`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

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
    archives_measured: bool = True
    """False where the snapshot could not reach online archives (taken through Microsoft
    Graph v1.0): the report says so rather than count them as empty."""


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
    """Compare two snapshots' mailboxes (see :mod:`mailclean.report` for the rules)."""
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
            unmatched.append(_unmatched(a, b, reason))
            continue
        assert a is not None and b is not None
        partial += bool(a.unreadable_folders or b.unreadable_folders)
        fig = _mailbox_figures(a, b)
        mailboxes.append(Line(b.mailbox, fig, team=b.team, display_name=b.display_name))
        teams[b.team] = teams.get(b.team, Figures()) + fig
        for role in a.roles.keys() | b.roles.keys():
            roles[role] = roles.get(role, Figures()) + _role_figures(a, b, role)
        if categories is not None:
            categories = _add_categories(categories, a, b)
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


def _unmatched(a: MailboxRow | None, b: MailboxRow | None, reason: str) -> Unmatched:
    """A mailbox left out, with the volume of the one side that was measured, if any."""
    row = b if b is not None else a
    assert row is not None
    measured = a if reason in BEFORE_MEASURED else b
    return Unmatched(
        row.mailbox,
        row.team,
        row.display_name,
        reason,
        measured.bytes if measured is not None and measured.state == "done" else None,
    )


def _role_figures(a: MailboxRow, b: MailboxRow, role: str) -> Figures:
    """One folder role of one mailbox, before and after."""
    ma, ba = a.roles.get(role, (0, 0))
    mb, bb = b.roles.get(role, (0, 0))
    return Figures(
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


def _add_categories(
    categories: dict[str, list[int]], a: MailboxRow, b: MailboxRow
) -> dict[str, list[int]] | None:
    """The category totals with one more mailbox; None (no categories compared) as soon
    as one side of a mailbox has none (a quick snapshot)."""
    if a.categories is None or b.categories is None:
        return None
    for c in a.categories.keys() | b.categories.keys():
        pair = categories.setdefault(c, [0, 0])
        pair[0] += a.categories.get(c, 0)
        pair[1] += b.categories.get(c, 0)
    return categories


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
