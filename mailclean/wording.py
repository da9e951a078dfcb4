"""What a plan, an outcome and a sync say to a person: once, for the CLI and the app.

Each function returns ``(style, text)`` lines. The styles are meanings, not colours:
``""`` (plain), ``"bold"``, ``"dim"``, ``"success"``, ``"warning"``, ``"error"``; the
command line maps them to rich styles, the app to CSS classes. The text is plain: outside
text in it (a folder's name, a server's error) is escaped by whoever prints it.

What to do next is said in the words of the surface showing the lines (a command to type
on the command line, a key in the app): a :class:`Surface` gives those words.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailclean.i18n import _, ngettext, number, size

if TYPE_CHECKING:
    from mailclean.actions import Outcome, Plan, QuotaEvidence
    from mailclean.index.journal import ActionRow
    from mailclean.sync import SyncReport

Line = tuple[str, str]


@dataclass(frozen=True)
class Surface:
    """The words of a surface for what the person can do next."""

    undo: Callable[[int], str]
    """How to put back the messages of trash action ``id``."""
    resume: Callable[[int], str]
    """How to finish the unfinished action ``id``."""
    empty_trash: Callable[[str, str], str]
    """How to empty the Trash ``trash`` of ``account``."""
    folders_shown: int = 1000
    """How many folders a plan lists before "and N more"."""


CLI = Surface(
    undo=lambda id_: _("Changed your mind? mailclean undo {id}").format(id=id_),
    resume=lambda id_: _("mailclean journal resume {id} --yes").format(id=id_),
    empty_trash=lambda account, trash: _(
        "Nothing is freed on the server until the Trash is emptied: mailclean clean "
        "{account} --folder '{trash}' --action delete --yes").format(
        account=account, trash=trash),
)
"""The command line's words: the commands to type."""

APP = Surface(
    undo=lambda id_: _("Changed your mind? Press u to put back what was moved."),
    resume=lambda id_: _("finish the action from the journal tab (3)."),
    empty_trash=lambda account, trash: _(
        "Nothing is freed on the server until the Trash is emptied (key X)."),
    folders_shown=6,
)
"""The review app's words: its keys."""


# -- what the quota did -------------------------------------------------------------------


def trash_note(evidence: QuotaEvidence | None) -> str:
    """What moving to the Trash frees, said from what was measured on this server."""
    if evidence is not None and evidence.trash_counts is False:
        return _("On this server the quota does not count the Trash (measured by action "
                 "{id}): moving there lowers the quota at once, and emptying the Trash "
                 "changes it no further.").format(id=evidence.action_id)
    if evidence is not None and evidence.trash_counts is True:
        return _("Moving to the Trash frees nothing on the server until the Trash is "
                 "emptied (measured on this server by action {id}).").format(
            id=evidence.action_id)
    return _("Moving to the Trash frees nothing on the server until the Trash is emptied.")


def quota_note(action: ActionRow) -> str | None:
    """What the action did to the server's quota, measured before and after; None where
    the server has no quota to measure."""
    if action.quota_before is None or action.quota_after is None:
        return None
    change = action.quota_after - action.quota_before
    if change == 0:
        return _("The server's quota did not change ({used} used).").format(
            used=size(action.quota_after))
    if change < 0:
        return _("The server's quota went down by {size} ({used} used now).").format(
            size=size(-change), used=size(action.quota_after))
    return _("The server's quota went up by {size} ({used} used now): other mail arrived "
             "meanwhile, or the server counts the Trash differently.").format(
        size=size(change), used=size(action.quota_after))


def left_out(protected: int, in_views: int, already_there: int) -> list[str]:
    """Plain words for what a selection holds but an action leaves alone."""
    notes = []
    if protected:
        notes.append(ngettext(
            "{n} protected message (flagged, or protected in the config) is left out.",
            "{n} protected messages (flagged, or protected in the config) are left out.",
            protected).format(n=number(protected)))
    if in_views:
        notes.append(ngettext(
            "{n} message seen through a view such as All Mail or Starred is left out: "
            "act on it in its own folder.",
            "{n} messages seen through a view such as All Mail or Starred are left out: "
            "act on them in their own folders.", in_views).format(n=number(in_views)))
    if already_there:
        notes.append(ngettext(
            "{n} message already in the Trash is left out.",
            "{n} messages already in the Trash are left out.", already_there).format(
            n=number(already_there)))
    return notes


def changes_words(gone: int, new: int) -> str:
    """What changed between the plan shown (the dry run) and the one carried out."""
    parts = []
    if gone:
        parts.append(ngettext(
            "{n} message is gone or changed on the server since the dry run (left alone)",
            "{n} messages are gone or changed on the server since the dry run (left alone)",
            gone).format(n=number(gone)))
    if new:
        parts.append(ngettext("{n} new one matches", "{n} new ones match", new).format(
            n=number(new)))
    return "; ".join(parts) + "."


# -- a plan ---------------------------------------------------------------------------------


def plan_lines(p: Plan, surface: Surface = CLI, evidence: QuotaEvidence | None = None,
               *, export: bool = False) -> list[Line]:
    """What the action will do, in plain words, with the volume and whether it frees space
    (said from what was measured on this server, where it was). ``export``: the trash is
    preceded by an export that is read back and checked."""
    n, volume = number(p.messages), size(p.bytes)
    lines: list[Line] = []
    if p.kind == "trash" and export:
        lines.append(("bold", ngettext(
            "Export {n} message ({size}) to the file below, read the file back and check "
            "it, then move it to {trash}.",
            "Export {n} messages ({size}) to the file below, read the file back and check "
            "every message, then move them to {trash}.", p.messages).format(
            n=n, size=volume, trash=p.target)))
        lines.append(("warning", _("Only what is verified in the file is moved.")))
        lines.append(("warning", trash_note(evidence)))
    elif p.kind == "trash":
        lines.append(("bold", ngettext("Move {n} message ({size}) to {trash}.",
                                       "Move {n} messages ({size}) to {trash}.",
                                       p.messages).format(n=n, size=volume, trash=p.target)))
        lines.append(("warning", trash_note(evidence)))
    elif p.kind == "delete":
        lines.append(("bold", ngettext("Delete {n} message ({size}) for good.",
                                       "Delete {n} messages ({size}) for good.",
                                       p.messages).format(n=n, size=volume)))
        if p.outside_trash:
            lines.append(("error", ngettext(
                "{n} of them is not in the Trash: it cannot be recovered afterwards.",
                "{n} of them are not in the Trash: they cannot be recovered afterwards.",
                p.outside_trash).format(n=number(p.outside_trash))))
        elif evidence is not None and evidence.trash_counts is False:
            lines.append(("warning", _(
                "On this server the quota does not count the Trash (measured by action "
                "{id}): emptying it removes the messages for good but does not lower the "
                "quota.").format(id=evidence.action_id)))
        else:
            lines.append(("success", _(
                "This frees {size} on the server as soon as it is done.").format(size=volume)))
        lines.append(("error", _("It cannot be undone.")))
    elif p.kind == "undo":
        lines.append(("bold", ngettext("Put {n} message ({size}) back where it was.",
                                       "Put {n} messages ({size}) back where they were.",
                                       p.messages).format(n=n, size=volume)))
    else:
        lines.append(("bold", ngettext("Export {n} message ({size}).",
                                       "Export {n} messages ({size}).",
                                       p.messages).format(n=n, size=volume)))
    by_volume = sorted(p.folders.items(), key=lambda kv: -kv[1][1])
    # An undo's folders are where the messages go back to; the others', where they are.
    where = _("  to {folder}: {n} · {size}") if p.kind == "undo" else _(
        "  from {folder}: {n} · {size}")
    for folder, (count, b) in by_volume[:surface.folders_shown]:
        lines.append(("dim", where.format(folder=folder, n=number(count), size=size(b))))
    if len(by_volume) > surface.folders_shown:
        more = len(by_volume) - surface.folders_shown
        lines.append(("dim", ngettext("  and {n} more folder", "  and {n} more folders",
                                      more).format(n=more)))
    lines += [("dim", note) for note in p.left_out()]
    return lines


# -- an outcome -----------------------------------------------------------------------------

#: Why messages were left alone, in words, by the reason the journal records.
_SKIP_REASONS: dict[str, Callable[[int], str]] = {
    "flagged": lambda n: ngettext(
        "{n} message ({size}) was left alone because it is flagged (starred) on the server "
        "now: flagged messages are protected.",
        "{n} messages ({size}) were left alone because they are flagged (starred) on the "
        "server now: flagged messages are protected.", n),
    "protected": lambda n: ngettext(
        "{n} message ({size}) was left alone because the config protects it ([protect]).",
        "{n} messages ({size}) were left alone because the config protects them "
        "([protect]).", n),
    "refused": lambda n: ngettext(
        "{n} message ({size}) was left as it was: the server refused to act on it.",
        "{n} messages ({size}) were left as they were: the server refused to act on them.",
        n),
    "unsafe-expunge": lambda n: ngettext(
        "{n} message ({size}) was left alone: removing it safely was not possible on this "
        "server (see below).",
        "{n} messages ({size}) were left alone: removing them safely was not possible on "
        "this server (see below).", n),
    "changed": lambda n: ngettext(
        "{n} message ({size}) was left alone because it is no longer what the index "
        "said (changed, moved or deleted on the server meanwhile).",
        "{n} messages ({size}) were left alone because they are no longer what the "
        "index said (changed, moved or deleted on the server meanwhile).", n),
}


def skipped_by_reason(o: Outcome) -> dict[str, tuple[int, int]]:
    """Messages and bytes left alone, by the reason the journal records (the reasons
    without words of their own grouped as "changed")."""
    counts: dict[str, tuple[int, int]] = {}
    for why, n, b in o.action.skip_reasons:
        key = why if why in _SKIP_REASONS else "changed"
        before = counts.get(key, (0, 0))
        counts[key] = (before[0] + n, before[1] + b)
    return counts


def _exported(a: ActionRow) -> Line:
    n, b = a.count("done")
    return ("", ngettext("Exported {n} message ({size}) to {path}, read back and checked.",
                         "Exported {n} messages ({size}) to {path}, read back and checked.",
                         n).format(n=number(n), size=size(b), path=a.target))


def outcome_lines(o: Outcome, surface: Surface = CLI,
                  evidence: QuotaEvidence | None = None, *, account: str = "") -> list[Line]:
    """What was done, what was left alone and why, what it did to the server's space (the
    quota measured before and after, where the server has one) and what is left to do.
    ``account`` names the account in the commands the lines suggest."""
    a = o.action
    done, done_bytes = a.count("done")
    lines: list[Line] = []
    if o.export_action is not None:
        lines.append(_exported(o.export_action))
    measured = quota_note(a)
    if a.kind == "trash":
        lines.append(("bold", ngettext("Moved {n} message ({size}) to {trash} (action {id}).",
                                       "Moved {n} messages ({size}) to {trash} (action {id}).",
                                       done).format(n=number(done), size=size(done_bytes),
                                                    trash=a.target, id=a.id)))
        if done:
            if measured:
                lines.append(("warning", measured))
            if evidence is None or evidence.trash_counts is not False:
                lines.append(("warning", surface.empty_trash(account, a.target or "")))
            else:
                lines.append(("warning", trash_note(evidence)))
            lines.append(("dim", surface.undo(a.id)))
    elif a.kind == "delete":
        lines.append(("success", ngettext(
            "Deleted {n} message for good: {size} freed on the server (action {id}).",
            "Deleted {n} messages for good: {size} freed on the server (action {id}).",
            done).format(n=number(done), size=size(done_bytes), id=a.id)))
        if measured:
            went_down = (a.quota_after or 0) < (a.quota_before or 0)
            lines.append(("success" if went_down else "warning", measured))
    elif a.kind == "undo":
        lines.append(("bold", ngettext("Put back {n} message ({size}) (action {id}).",
                                       "Put back {n} messages ({size}) (action {id}).",
                                       done).format(n=number(done), size=size(done_bytes),
                                                    id=a.id)))
    elif a.kind == "export":
        lines.append(_exported(a))
    for why, (n, b) in skipped_by_reason(o).items():
        lines.append(("warning", _SKIP_REASONS[why](n).format(n=number(n), size=size(b))))
    if a.error:
        lines.append(("warning", a.error))
    if a.state == "cancelled" and a.unfinished:
        lines.append(("warning", ngettext(
            "Cancelled: {n} message was not touched. To finish the action later: {how}",
            "Cancelled: {n} messages were not touched. To finish the action later: {how}",
            a.unfinished).format(n=number(a.unfinished), how=surface.resume(a.id))))
    elif a.unfinished:
        lines.append(("bold", ngettext("{n} message is still to do: {how}",
                                       "{n} messages are still to do: {how}",
                                       a.unfinished).format(n=number(a.unfinished),
                                                            how=surface.resume(a.id))))
    return lines


# -- a sync ---------------------------------------------------------------------------------


def sync_detail_lines(report: SyncReport) -> list[Line]:
    """What a sync found beyond its counts: folders renamed, added, gone or reset,
    reconnections, messages not fully read, and, loudly, folders whose index disagrees
    with the server's own count."""
    lines: list[Line] = []
    for old, new in report.folders_renamed:
        lines.append(("", _("  folder renamed: {old} → {new}").format(old=old, new=new)))
    if not report.first_sync:
        for path in report.folders_added:
            lines.append(("", _("  new folder: {path}").format(path=path)))
    for path in report.folders_removed:
        lines.append(("", _("  folder gone from the server: {path}").format(path=path)))
    for path in report.reset_folders:
        lines.append(("", _("  folder re-indexed (its UIDVALIDITY changed): {path}").format(
            path=path)))
    if report.reconnections:
        lines.append(("", ngettext("  reconnected {n} time", "  reconnected {n} times",
                                   report.reconnections).format(n=report.reconnections)))
    for path, server_count, indexed in report.count_mismatches:
        lines.append(("error", _(
            "{folder}: the server says it holds {server}, but mailclean could index {indexed}. "
            "This server answers some command differently from what mailclean expects: the "
            "figures of this folder are wrong, and it should not be cleaned until this is "
            "understood. Please report it with the server's name and version "
            "(mailclean account test shows what it advertises)."
        ).format(folder=path, server=ngettext("{n} message", "{n} messages", server_count)
                 .format(n=number(server_count)), indexed=number(indexed))))
    if report.problems:
        lines.append(("", ngettext(
            "  {n} message could not be fully read (kept with its size):",
            "  {n} messages could not be fully read (kept with their size):",
            report.problems).format(n=report.problems)))
        lines += [("", f"    {example}") for example in report.problem_examples]
    return lines
