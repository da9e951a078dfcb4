"""After a crash: which actions are unfinished, what the server did with the messages
"sent", and finishing the job (resume) with the same checks as a first run."""

from __future__ import annotations

import os
import socket
import threading
from typing import Literal, overload

from mailclean.actions.planning import ActionError
from mailclean.actions.runner import BATCH, ActionProgress, Outcome, drive, reconcile_items
from mailclean.connectors.base import (
    Connector,
    ConnectorError,
)
from mailclean.i18n import _, ngettext, number
from mailclean.index import Index
from mailclean.index.journal import (
    COPIED,
    DONE,
    FAILED,
    FINISHED,
    INTERRUPTED,
    PARTIAL,
    PENDING,
    RUNNING,
    SENT,
    SKIPPED,
    UNDONE,
    ActionRow,
    Journal,
)
from mailclean.rules import Protection


def running_elsewhere(index: Index, account_id: int) -> ActionRow | None:
    """An action of the account still running in another live process on this machine."""
    for row in Journal(index).actions(account_id):
        if row.state == RUNNING and _alive(row) and row.pid != os.getpid():
            return row
    return None


def refuse_if_running(index: Index, account_id: int) -> None:
    blocking = running_elsewhere(index, account_id)
    if blocking:
        raise ActionError(
            _("action {id} on this account is still running (process {pid}); wait for it "
              "to end").format(id=blocking.id, pid=blocking.pid)
        )


def _alive(row: ActionRow) -> bool:
    if row.host != socket.gethostname():
        return True  # another machine's process: assume it lives, never guess
    if not row.pid:
        return False
    try:
        os.kill(row.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mark_interrupted(index: Index, account_id: int) -> list[ActionRow]:
    """Actions left "running" by a process that is gone become "interrupted" (offline:
    what happened to their messages in flight is for :func:`reconcile` to find out)."""
    journal = Journal(index)
    out = []
    for row in journal.actions(account_id):
        if row.state == RUNNING and not _alive(row):
            journal.finish(row.id, INTERRUPTED, row.error or "the process running it stopped")
            out.append(journal.action(row.id) or row)
        elif row.state == INTERRUPTED:
            out.append(row)
    return out


def needs_reconcile(index: Index, account_id: int) -> list[ActionRow]:
    """Interrupted actions whose messages in flight have not been checked yet."""
    mark_interrupted(index, account_id)
    return [
        r for r in Journal(index).actions(account_id)
        if r.state == INTERRUPTED and r.count(SENT)[0]
    ]


def reconcile_first(index: Index, connector: Connector, account: str) -> list[str]:
    """Settle the actions a dead process left halfway, before anything new is done; what
    became of each, in plain words (nothing when there was nothing to settle).

    An action that cannot be settled now (the server refuses a question, the connection
    drops) is said so and left for later: it never blocks the command that asked, since
    every action checks each message on the server before touching it anyway.
    """
    row = index.account(account)
    if row is None or not needs_reconcile(index, row["id"]):
        return []
    notes = []
    for action, error in reconcile(index, connector, account, keep_going=True):
        if error is not None:
            notes.append(_(
                "action {id} had been interrupted and could not be checked on the server "
                "now ({error}); it is left as it is: mailclean journal reconcile tries again"
            ).format(id=action.id, error=error))
            continue
        notes.append(_(
            "action {id} had been interrupted; the journal now matches the server "
            "({state}, {done}, {left})").format(
            id=action.id, state=action.state,
            done=ngettext("{n} done", "{n} done", action.count(DONE)[0]).format(
                n=number(action.count(DONE)[0])),
            left=ngettext("{n} left", "{n} left", action.unfinished).format(
                n=number(action.unfinished)),
        ))
    return notes


@overload
def reconcile(index: Index, connector: Connector, account: str) -> list[ActionRow]: ...


@overload
def reconcile(index: Index, connector: Connector, account: str, *,
              keep_going: Literal[True]) -> list[tuple[ActionRow, str | None]]: ...


def reconcile(index: Index, connector: Connector, account: str, *,
              keep_going: bool = False) -> list[ActionRow] | list[tuple[ActionRow, str | None]]:
    """Bring every interrupted action of ``account`` to the truth by asking the server.

    For each message "sent" when the process died: still in its folder and not copied
    means nothing happened (pending again); gone from its folder and found in the target
    means done; copied but still in its folder means the original is yet to be removed
    (resume does only that). Nothing is sent to the server except questions.

    With ``keep_going``, an action whose questions fail (ConnectorError) is left as it
    was and the others are settled: ``(action, error or None)`` for each.
    """
    row = index.require_account(account)
    journal = Journal(index)
    out: list[tuple[ActionRow, str | None]] = []
    for action in mark_interrupted(index, int(row["id"])):
        try:
            if action.kind != "export":
                reconcile_items(index, connector, action)
            else:
                # An export stopped halfway leaves a partial file and removed nothing.
                journal.set_state([i.id for i in journal.items(action.id, [SENT])], PENDING)
        except ConnectorError as exc:
            if not keep_going:
                raise
            out.append((action, str(exc)))
            continue
        fresh = journal.action(action.id)
        assert fresh is not None
        if not fresh.unfinished:
            state = PARTIAL if fresh.count(SKIPPED, FAILED)[0] else FINISHED
            journal.finish(action.id, state, fresh.error)
            fresh = journal.action(action.id) or fresh
        out.append((fresh, None))
    if keep_going:
        return out
    return [a for a, _error in out]


def resume(
    index: Index,
    connector: Connector,
    account: str,
    action_id: int,
    *,
    progress: ActionProgress | None = None,
    cancel: threading.Event | None = None,
    batch: int = BATCH,
    protection: Protection | None = None,
) -> Outcome:
    """Finish an interrupted or cancelled action: reconcile, then carry on, with every
    remaining message checked again as the plan checked it: identity, flags on the server,
    and what the config protects (``protection``, as it is now)."""
    row = index.require_account(account)
    journal = Journal(index)
    action = journal.action(action_id)
    if action is None or action.account_id != row["id"]:
        raise ActionError(_("no action {id} for this account").format(id=action_id))
    if action.kind == "export":
        raise ActionError(_("an export cannot be resumed: run the command again"))
    refuse_if_running(index, action.account_id)
    reconcile(index, connector, account)
    action = journal.action(action_id)
    assert action is not None
    if not action.unfinished:
        return Outcome(action)
    journal.claim(action_id)
    n, size = action.count(PENDING, COPIED)
    outcome = drive(index, connector, action_id, progress or ActionProgress(), cancel, batch,
                     None, size, n, protection)
    if action.kind == "undo" and action.undo_of is not None and outcome.action.state == FINISHED:
        # The undo is complete now: the trash action it reverses is undone, as when the
        # undo ran in one go.
        reversed_action = journal.action(action.undo_of)
        journal.finish(action.undo_of, UNDONE, reversed_action.error if reversed_action else None)
    return outcome
