"""Acting on messages: plan from the index, verify on the server, act in batches, journal.

The order never changes:

1. **Plan** from the index (a dry run stops here): which messages, from which folders,
   how many bytes, what is left out (protected, already in Trash).
2. **Refresh**: the affected folders are synced first, so a plan is never made from an
   index older than the server; then the plan is made again.
3. **Journal**: the action and every message's identity are written *before* anything is
   sent.
4. **Per batch**: verify identity on the server (UIDVALIDITY, UID, Message-ID, size; or
   item id and change key), mark the batch "sent", send one command for exactly those
   messages, record each outcome. A message that changed, vanished or moved is skipped
   and reported, never guessed.
5. **Close** the action. If the process died in step 4, :func:`reconcile` asks the server
   what happened to the messages "sent" and brings the journal to the truth without
   acting twice; :func:`resume` then finishes the job.
"""

from mailclean.actions.execution import execute, refresh, undo
from mailclean.actions.planning import (
    PROTECTED,
    ActionError,
    Plan,
    QuotaEvidence,
    Selection,
    plan,
    quota_evidence,
    trash_folder,
)
from mailclean.actions.recovery import (
    mark_interrupted,
    needs_reconcile,
    reconcile,
    reconcile_first,
    resume,
    running_elsewhere,
)
from mailclean.actions.runner import BATCH, ActionProgress, Outcome, reconcile_items

__all__ = [
    "BATCH", "PROTECTED", "ActionError", "ActionProgress", "Outcome", "Plan", "QuotaEvidence",
    "Selection", "execute", "mark_interrupted", "needs_reconcile", "plan", "quota_evidence",
    "reconcile", "reconcile_first", "reconcile_items", "refresh", "resume",
    "running_elsewhere", "trash_folder", "undo",
]
