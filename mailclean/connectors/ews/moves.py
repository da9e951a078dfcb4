"""What this process's own moves did, so that the next identity check and a search for
moved items can tell our moves from someone else's changes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from mailclean.model import ItemRef


class _OwnMoves:
    """The change keys of the items this process moved, per mailbox (bounded).

    A moved item has a new id and a new ChangeKey, while the index row that follows it
    (:meth:`mailclean.index.Index.follow_moves`) keeps the key it had before the move until
    the next sync. Remembering ``new id -> (key the index holds, key the move gave)`` lets
    :meth:`EwsConnector.verify` accept exactly that pair, and nothing else: an item changed
    again after our move still has another key and is "changed". Lost with the process;
    ``mailclean clean`` and the review app sync the folders before acting anyway.
    """

    def __init__(self, limit: int = 500_000) -> None:
        self.limit = limit
        self._moves: OrderedDict[tuple[str, str], tuple[str | None, str | None, str]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def record(
        self, mailbox: str, item_id: str, held: str | None, new: str | None, source: str
    ) -> None:
        """``item_id`` was made by our move of ``source``; the index holds ``held`` for it
        and the move gave it ``new``."""
        with self._lock:
            self._moves[(mailbox, item_id)] = (held, new, source)
            self._moves.move_to_end((mailbox, item_id))
            while len(self._moves) > self.limit:
                self._moves.popitem(last=False)

    def index_key(self, mailbox: str, item_id: str) -> str | None:
        """The key the index holds for an item we moved (None when not ours)."""
        with self._lock:
            entry = self._moves.get((mailbox, item_id))
        return entry[0] if entry else None

    def source(self, mailbox: str, item_id: str) -> str | None:
        """The id of the item our move turned into ``item_id`` (None when not ours)."""
        with self._lock:
            entry = self._moves.get((mailbox, item_id))
        return entry[2] if entry else None

    def explains(self, mailbox: str, item_id: str, held: str | None, current: str | None) -> bool:
        """Whether ``current`` is the key our own move gave the item the index knows with
        ``held``."""
        with self._lock:
            entry = self._moves.get((mailbox, item_id))
        return entry is not None and held is not None and entry[:2] == (held, current)


_OWN_MOVES = _OwnMoves()


def _preference(source: str | None, ref: ItemRef) -> int:
    """Order of a candidate for ``ref`` in :meth:`EwsConnector.locate`: made by our move of
    this ref, unknown, made by our move of another message."""
    if source is None:
        return 1
    return 0 if source == ref.server_id else 2
