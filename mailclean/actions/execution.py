"""Doing a plan (trash, delete, export) and undoing an action: journal first, then the
runner."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from mailclean import export as exporting
from mailclean.actions.planning import ActionError, Plan, Selection
from mailclean.actions.recovery import refuse_if_running
from mailclean.actions.runner import BATCH, ActionProgress, Outcome, begin, drive
from mailclean.connectors.base import (
    RESET,
    VANISHED,
    Connector,
    FolderNotFound,
)
from mailclean.i18n import _
from mailclean.index import Index
from mailclean.index.journal import (
    ABORTED,
    DONE,
    FINISHED,
    INTERRUPTED,
    PARTIAL,
    SKIPPED,
    UNDONE,
    ActionRow,
    Journal,
    JournalItem,
    PlannedItem,
)
from mailclean.rules import Protection


def refresh(index: Index, connector: Connector, account: str, folders: Iterable[str]) -> None:
    """Sync ``folders`` (incremental) so the plan that follows sees the server's state."""
    from mailclean.sync import sync_account

    paths = sorted({f for f in folders if f})
    if paths:
        sync_account(index, account, connector, folders=paths, connected=True)


def execute(
    index: Index,
    connector: Connector,
    plan_: Plan,
    *,
    export_to: Path | None = None,
    export_format: str | None = None,
    progress: ActionProgress | None = None,
    cancel: threading.Event | None = None,
    batch: int = BATCH,
    protection: Protection | None = None,
) -> Outcome:
    """Carry out ``plan_`` on the server behind ``connector`` (connected by the caller).

    ``protection`` (what the config protects) is checked again against every message
    before it is acted on, as the plan did, besides each message's flags on the server.

    With ``export_to``, the messages are exported first and the export read back; only
    what was verified in the file is then trashed or deleted. Raises ActionError when the
    plan must not run (see :meth:`Plan.check`).
    """
    plan_.check()
    progress = progress or ActionProgress()
    if not plan_.items:
        raise ActionError(_("nothing to do: no message matches"))
    refuse_if_running(index, plan_.account_id)
    export_row = None
    items = plan_.items
    if export_to is not None or plan_.kind == "export":
        if export_to is None:
            raise ActionError(_("--action export needs --export FILE"))
        export_row, kept = export(index, connector, plan_, export_to, export_format, progress,
                                   cancel, batch)
        if plan_.kind == "export":
            return Outcome(export_row, None, [])
        items = kept
        if not items:
            raise ActionError(_("nothing was exported, so nothing was removed"))
    action_id = Journal(index).begin(
        plan_.account_id, plan_.kind, items, selection=plan_.selection.as_dict(),
        target=plan_.target, after=export_row.id if export_row else None,
        delete_mode=connector.delete_mode if plan_.kind == "delete" else None,
    )
    return drive(index, connector, action_id, progress, cancel, batch, export_row,
                  sum(i.size for i in items), len(items), protection)


def export(
    index: Index, connector: Connector, plan_: Plan, path: Path, fmt: str | None,
    progress: ActionProgress, cancel: threading.Event | None, batch: int,
) -> tuple[ActionRow, list[PlannedItem]]:
    """Write the plan's messages to ``path``, read the file back; the items verified."""
    fmt = exporting.format_for(path, fmt)
    try:
        writer = exporting.writer_for(path, fmt)
    except exporting.ExportError as exc:
        raise ActionError(str(exc)) from exc
    journal = Journal(index)
    action_id = begin(index, plan_, "export", target=str(path), export_format=fmt)
    progress.phase(_("exporting"))
    progress.start(plan_.messages, plan_.bytes)
    written: list[JournalItem] = []
    skipped: list[tuple[int, str, str | None, str | None]] = []
    try:
        by_folder: dict[str, list[JournalItem]] = defaultdict(list)
        for item in journal.items(action_id):
            by_folder[item.folder].append(item)
        for folder, items in by_folder.items():
            try:
                validity = connector.folder_validity(folder)
            except FolderNotFound:
                skipped += [(i.id, SKIPPED, None, VANISHED) for i in items]
                continue
            for start in range(0, len(items), batch):
                if cancel is not None and cancel.is_set():
                    raise ActionError(_("cancelled: nothing was removed"))
                chunk = items[start : start + batch]
                if any(i.validity is not None and i.validity != validity for i in chunk):
                    skipped += [(i.id, SKIPPED, None, RESET) for i in chunk]
                    continue
                problems = connector.verify(folder, validity, [i.ref() for i in chunk])
                skipped += [(i.id, SKIPPED, None, problems[i.server_id]) for i in chunk
                            if i.server_id in problems]
                good = {i.server_id: i for i in chunk if i.server_id not in problems}
                for sid, raw in connector.fetch(folder, [i.ref() for i in good.values()]):
                    item = good.pop(sid)
                    if connector.sizes_are_mime and exporting.crlf_size(raw) != item.size:
                        skipped.append((item.id, SKIPPED, None, "changed"))
                        continue
                    writer.add(raw, folder, f"{sid}")
                    written.append(item)
                skipped += [(i.id, SKIPPED, None, VANISHED) for i in good.values()]
                progress.advance(len(chunk), sum(i.size for i in chunk))
        writer.close()
        progress.phase(_("checking the export"))
        writer.verify()
    except (exporting.ExportError, ActionError) as exc:
        journal.set_outcomes(skipped)
        journal.finish(action_id, ABORTED, str(exc))
        raise ActionError(str(exc)) from exc
    except BaseException as exc:
        journal.finish(action_id, INTERRUPTED, str(exc) or type(exc).__name__)
        raise
    journal.set_outcomes(skipped + [(i.id, DONE, None, None) for i in written])
    journal.finish(action_id, PARTIAL if skipped else FINISHED)
    row = journal.action(action_id)
    assert row is not None
    done = {(i.folder, i.server_id) for i in written}
    kept = [i for i in plan_.items if (i.folder, i.server_id) in done]
    return row, kept


# -- undo, reconcile, resume ----------------------------------------------------------------


def undo(
    index: Index,
    connector: Connector,
    account: str,
    action_id: int,
    *,
    progress: ActionProgress | None = None,
    cancel: threading.Event | None = None,
    batch: int = BATCH,
    dry_run: bool = False,
) -> tuple[Plan, Outcome | None]:
    """Put back the messages a trash action moved (those not deleted from Trash since).

    Each message goes back to the folder it came from (created again if it was deleted
    meanwhile), after its identity in the Trash is checked.
    """
    journal = Journal(index)
    row, action = _undoable(index, journal, account, action_id)
    done = _not_deleted_since(index, journal, action_id)
    unknown = [i for i in done if i.target_id is None]
    if unknown and not dry_run:
        # The server did not say where each message went (no UIDPLUS): find them in the
        # Trash by Message-ID and size, among what arrived after the move.
        _locate_in_trash(connector, done, unknown)
    items = _put_back_items(done, unknown, dry_run)
    undo_plan = _undo_plan(account, int(row["id"]), items)
    if dry_run:
        return undo_plan, None
    if not items:
        raise ActionError(
            _("nothing to put back: the messages of action {id} are no longer in the Trash")
            .format(id=action_id)
        )
    # Those not found in the Trash (no Message-ID to know them by, or gone) are journalled
    # as left alone: the outcome says so, and the trash action is not marked undone.
    lost = {i.id: PlannedItem(i.target_folder or "", None, f"?{i.id}", i.size, i.message_id,
                              target_folder=i.folder, origin=i.id)
            for i in done if i.target_id is None}
    new_id = journal.begin(int(row["id"]), "undo", [*items, *lost.values()],
                           selection={"undo": action_id}, undo_of=action_id)
    if lost:
        journal.set_outcomes((j.id, SKIPPED, None, VANISHED) for j in journal.items(new_id)
                             if j.origin in lost)
    outcome = drive(index, connector, new_id, progress or ActionProgress(), cancel, batch,
                     None, undo_plan.bytes, undo_plan.messages)
    if outcome.action.state == FINISHED:
        journal.finish(action_id, UNDONE, action.error)
    return undo_plan, outcome


def _undoable(
    index: Index, journal: Journal, account: str, action_id: int
) -> tuple[dict, ActionRow]:
    """(the account's row, the action) when ``action_id`` is a trash action of ``account``
    not undone yet; else ActionError says why it cannot be undone."""
    row = index.require_account(account)
    action = journal.action(action_id)
    if action is None or action.account_id != row["id"]:
        raise ActionError(_("no action {id} for this account").format(id=action_id))
    if action.kind != "trash":
        raise ActionError(
            _("action {id} is a {kind}: only moves to the Trash can be undone").format(
                id=action_id, kind=action.kind
            )
        )
    if action.state == UNDONE:
        raise ActionError(_("action {id} was already undone").format(id=action_id))
    return row, action


def _not_deleted_since(index: Index, journal: Journal, action_id: int) -> list[JournalItem]:
    """The items the action moved to the Trash that no delete or undo has acted on since."""
    deleted = {
        r[0] for r in index.conn.execute(
            "SELECT d.origin FROM action_items d JOIN actions a ON a.id = d.action_id"
            " WHERE a.kind IN ('delete', 'undo') AND d.state = 'done' AND d.origin IS NOT NULL"
        )
    }
    return [i for i in journal.items(action_id, [DONE]) if i.id not in deleted]


def _locate_in_trash(
    connector: Connector, done: list[JournalItem], unknown: list[JournalItem]
) -> None:
    """Set the Trash id (and validity) of the ``unknown`` items the server can find there;
    an id another of the ``done`` items already owns is never taken."""
    by_floor: dict[tuple[str, str | None], list[JournalItem]] = defaultdict(list)
    for i in unknown:
        by_floor[(i.target_folder or "", i.target_floor)].append(i)
    known_ids = {i.target_id for i in done if i.target_id is not None}
    for (trash, floor), group in by_floor.items():
        found = connector.locate(trash, [i.ref() for i in group], floor)
        # An id another item of the action already owns is that item's, not a copy.
        found = {k: v for k, v in found.items() if v not in known_ids}
        known_ids.update(found.values())
        for i in group:
            i.target_id = found.get(i.server_id)
        if found:
            validity = connector.folder_validity(trash)
            for i in group:
                i.target_validity = validity


def _put_back_items(
    done: list[JournalItem], unknown: list[JournalItem], dry_run: bool
) -> list[PlannedItem]:
    """From the Trash back to where each message came from: those whose Trash id is known,
    and in a dry run those not looked for yet (as ``?item``)."""
    items = [
        PlannedItem(
            folder=i.target_folder or "", validity=i.target_validity, server_id=i.target_id,
            size=i.size, message_id=i.message_id, change_key=i.target_change_key,
            target_folder=i.folder,
            origin=i.id,
        )
        for i in done if i.target_id is not None
    ]
    if unknown and dry_run:
        items += [
            PlannedItem(i.target_folder or "", None, f"?{i.id}", i.size, i.message_id,
                        target_folder=i.folder, origin=i.id)
            for i in unknown
        ]
    return items


def _undo_plan(account: str, account_id: int, items: list[PlannedItem]) -> Plan:
    """The undo as a plan (its messages and bytes by the folder they go back to)."""
    folders: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for it in items:
        folders[it.target_folder or ""][0] += 1
        folders[it.target_folder or ""][1] += it.size
    return Plan(account, account_id, "undo", items, [], target=None,
                folders={p: (v[0], v[1]) for p, v in folders.items()},
                selection=Selection())
