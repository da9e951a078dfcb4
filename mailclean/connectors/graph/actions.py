"""The actions on a Graph mailbox: verify, move, delete, fetch, locate.

Every request asks for immutable ids, so a message keeps its id when it moves: trashing
is a move to Deleted Items under the same id, undo a move back, and finding a moved
message again is a GET of that id (its ``parentFolderId`` says where it is).
"""

from __future__ import annotations

from collections.abc import Iterator

from mailclean.connectors.base import CHANGED, FLAGGED, RESET, VANISHED, MoveResult
from mailclean.connectors.graph import limits
from mailclean.connectors.graph.folders import _GraphFolders, folder_identity
from mailclean.connectors.graph.http import SubRequest, SubResponse
from mailclean.connectors.graph.items import (
    IDENTITY_FIELDS,
    SIZE_EXPAND,
    Identity,
    identity_from_json,
    query,
)
from mailclean.connectors.graph.session import segment
from mailclean.model import ItemRef

#: Sub-request statuses meaning "this message is not there (any more)".
_GONE = (404, 410)


class _GraphActions(_GraphFolders):
    """What :mod:`mailclean.actions` asks of the mailbox, on exactly the ids given."""

    @property
    def delete_mode(self) -> str:
        """How :meth:`delete` removes messages: "soft" (DELETE: out of the folders and the
        mailbox quota into Recoverable Items, where the user or an admin can still recover
        them until the deleted item retention ends, 14 days by default) or "hard"
        (permanentDelete: purged, unless the mailbox is on hold)."""
        return "hard" if self.settings.hard_delete else "soft"

    def folder_validity(self, folder: str) -> int | None:
        """The digest of the folder's id, checked on the server with one GET. Raises
        FolderNotFound when no folder has that path any more."""
        with self._errors():
            return folder_identity(self._live_folder(folder)["id"])

    def next_id(self, folder: str) -> str | None:
        """None: Graph ids are not ordered (and immutable ids need no floor)."""
        return None

    def verify(self, folder: str, validity: int | None, refs: list[ItemRef]) -> dict[str, str]:
        """Same folder identity, and for each id a message in the folder with the same
        change key (when the index has one; else the same size and Message-ID), not
        flagged since the plan: one GET per message, 20 to a ``$batch``."""
        with self._errors():
            graph_folder = self._folder(folder)
            if validity is not None and folder_identity(graph_folder["id"]) != validity:
                return {r.server_id: RESET for r in refs}
            found = self._identities([r.server_id for r in refs])
        problems: dict[str, str] = {}
        for r in refs:
            got = found.get(r.server_id)
            if got is None or got.parent != graph_folder["id"]:
                problems[r.server_id] = VANISHED
            elif got.flagged and not r.flagged:
                problems[r.server_id] = FLAGGED
            elif (got.change_key != r.change_key if r.change_key is not None
                  else (got.size, got.message_id) != (r.size, r.message_id)):
                # The change key, where the index has one, says it all: any change to the
                # message gives it a new one.
                problems[r.server_id] = CHANGED
        return problems

    def move(self, folder: str, refs: list[ItemRef], target: str) -> MoveResult:
        """``move`` of exactly ``refs`` to ``target``, 20 to a ``$batch``; each message
        keeps its (immutable) id and gets a new change key, both in the answer."""
        moved: dict[str, str | None] = {}
        keys: dict[str, str] = {}
        with self._errors():
            destination = self._folder(target)
            answers = self._http.batch([
                SubRequest("POST", f"{self.mailbox}/messages/{segment(r.server_id)}/move",
                           {"destinationId": destination["id"]})
                for r in refs
            ])
            for r, answer in zip(refs, answers, strict=True):
                if not _done(answer):
                    # This message only (gone meanwhile, refused): not reported as moved,
                    # the caller checks what became of it.
                    continue
                body = answer.body if isinstance(answer.body, dict) else {}
                new_id = body.get("id")
                moved[r.server_id] = new_id if isinstance(new_id, str) else r.server_id
                if isinstance(body.get("changeKey"), str):
                    keys[r.server_id] = body["changeKey"]
        return MoveResult(moved, target_validity=folder_identity(destination["id"]),
                          change_keys=keys)

    def delete(self, folder: str, refs: list[ItemRef]) -> list[str]:
        """DELETE (to Recoverable Items) or, with ``hard_delete``, permanentDelete of
        exactly ``refs``, 20 to a ``$batch`` (see :attr:`delete_mode`); the ids removed."""
        hard = self.settings.hard_delete
        with self._errors():
            answers = self._http.batch([
                SubRequest("POST", f"{self.mailbox}/messages/{segment(r.server_id)}"
                                   "/permanentDelete", {})
                if hard else
                SubRequest("DELETE", f"{self.mailbox}/messages/{segment(r.server_id)}")
                for r in refs
            ])
            # One refused or gone meanwhile is left out: the caller checks what became of it.
            return [r.server_id for r, a in zip(refs, answers, strict=True) if _done(a)]

    def fetch(self, folder: str, refs: list[ItemRef]) -> Iterator[tuple[str, bytes]]:
        """The MIME of each ref still there (``$value``), in order, a few at a time."""
        with self._errors():
            step = max(1, limits.EXPORT_PARALLEL)
            for start in range(0, len(refs), step):
                chunk = refs[start : start + step]
                futures = [self._http.submit(self._mime, r.server_id) for r in chunk]
                for r, future in zip(chunk, futures, strict=True):
                    raw = future.result()
                    if raw is not None:
                        yield r.server_id, raw

    def _mime(self, item_id: str) -> bytes | None:
        response = self._http.send("GET", f"{self.mailbox}/messages/{segment(item_id)}/$value",
                                   allow=_GONE)
        return None if response.status_code in _GONE else response.content

    def locate(self, folder: str, refs: list[ItemRef], floor: str | None) -> dict[str, str]:
        """Find each ref in ``folder``: with immutable ids a moved message keeps its id, so
        a GET of that id says whether it is there (and is the same message: same size and
        Message-ID). ``floor`` is ignored (Graph ids are not ordered)."""
        found: dict[str, str] = {}
        with self._errors():
            graph_folder = self._folder(folder)
            still = self._identities([r.server_id for r in refs])
        for r in refs:
            got = still.get(r.server_id)
            if got is not None and got.parent == graph_folder["id"] and (
                got.size, got.message_id) == (r.size, r.message_id):
                found[r.server_id] = got.id
        return found

    def _identities(self, ids: list[str]) -> dict[str, Identity]:
        """What the server holds under each id (absent: no such message)."""
        out: dict[str, Identity] = {}
        if not ids:
            return out
        select = query(select=IDENTITY_FIELDS, expand=SIZE_EXPAND)
        answers = self._http.batch([
            SubRequest("GET", f"{self.mailbox}/messages/{segment(i)}{select}") for i in ids
        ])
        for item_id, answer in zip(ids, answers, strict=True):
            if answer.status in _GONE:
                continue
            if answer.status in (401, 403) or answer.status >= 500:
                raise answer.error()
            if answer.status >= 400 or not isinstance(answer.body, dict):
                # Unreadable: there, but never the message the index knew.
                out[item_id] = Identity(item_id, None, None, None, None, False)
                continue
            out[item_id] = identity_from_json(answer.body)
        return out


def _done(answer: SubResponse) -> bool:
    """Whether an action's sub-request was carried out; a refusal of the whole sign-in
    (401, 403) is raised rather than left to look like a vanished message."""
    if answer.status in (401, 403):
        raise answer.error()
    return 200 <= answer.status < 300
