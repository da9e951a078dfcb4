"""The actions on an Exchange mailbox: verify, move, delete, fetch, locate, create a folder."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from exchangelib import errors as ews_errors
from exchangelib.folders import Folder
from exchangelib.folders.queryset import SHALLOW
from exchangelib.items import ALL_OCCURRENCES, ID_ONLY, SEND_TO_NONE
from exchangelib.restriction import Q, Restriction
from exchangelib.services import CreateFolder

from mailclean.connectors.base import CHANGED, RESET, VANISHED, MoveResult
from mailclean.connectors.ews import limits
from mailclean.connectors.ews.folders import _EwsFolders, folder_identity
from mailclean.connectors.ews.moves import _OWN_MOVES, _preference
from mailclean.connectors.ews.services import (
    _IDENTITY_FIELDS,
    _ITEM_GONE,
    _MIME_FIELDS,
    DeleteIds,
    FindIdentities,
    Identities,
    MimeContents,
    MoveIds,
    _Identity,
)
from mailclean.connectors.ews.settings import DELETE_TYPES
from mailclean.model import ItemRef


class _EwsActions(_EwsFolders):
    """What :mod:`mailclean.actions` asks of the mailbox, on exactly the ids given."""

    @property
    def delete_mode(self) -> str:
        """How :meth:`delete` removes items: "soft" (SoftDelete: out of the folders and the
        mailbox quota, recoverable from Recoverable Items until the retention period ends)
        or "hard" (HardDelete: purged)."""
        return "hard" if self.settings.hard_delete else "soft"

    def folder_validity(self, folder: str) -> int | None:
        """The digest of the folder's EWS id (:func:`folder_identity`), checked on the server
        with one GetFolder. Raises FolderNotFound when no folder has that path any more."""
        with self._errors():
            return folder_identity(self._live_folder(folder).id)

    def next_id(self, folder: str) -> str | None:
        """None: EWS item ids are not ordered (a move answers with the new ids instead)."""
        return None

    def verify(self, folder: str, validity: int | None, refs: list[ItemRef]) -> dict[str, str]:
        """Same folder identity, and for each item id the same ChangeKey (when the index has
        one), size and Message-ID, in the folder: one GetItem per :data:`ACTION_CHUNK` ids."""
        with self._errors():
            ews_folder = self._folder(folder)
            if validity is not None and folder_identity(ews_folder.id) != validity:
                return {r.server_id: RESET for r in refs}
            found = self._identities([r.server_id for r in refs])
        problems: dict[str, str] = {}
        mailbox = self.settings.email.lower()
        for r in refs:
            got = found.get(r.server_id)
            if got is None or got.parent != ews_folder.id:
                problems[r.server_id] = VANISHED
            elif (
                r.change_key is not None
                and got.change_key != r.change_key
                and not _OWN_MOVES.explains(mailbox, r.server_id, r.change_key, got.change_key)
            ) or (got.size, got.message_id) != (r.size, r.message_id):
                problems[r.server_id] = CHANGED
        return problems

    def move(self, folder: str, refs: list[ItemRef], target: str) -> MoveResult:
        """MoveItem of exactly ``refs`` to ``target``; the new id of each item moved."""
        mailbox = self.settings.email.lower()
        moved: dict[str, str | None] = {}
        keys: dict[str, str] = {}
        with self._errors():
            destination = self._folder(target)
            results = MoveIds(account=self._account, chunk_size=self.settings.action_chunk).call(
                items=[(r.server_id, None) for r in refs], to_folder=destination
            )
            for r, result in zip(refs, results, strict=True):
                if isinstance(result, Exception):
                    # This item only (gone meanwhile, or refused): not reported as moved,
                    # the caller checks what became of it.
                    continue
                new_id, new_key = result if isinstance(result, tuple) else (None, None)
                moved[r.server_id] = new_id
                if new_key:
                    keys[r.server_id] = new_key
                if new_id is not None:
                    held = r.change_key or _OWN_MOVES.index_key(mailbox, r.server_id)
                    _OWN_MOVES.record(mailbox, new_id, held, new_key, r.server_id)
        return MoveResult(
            moved, target_validity=folder_identity(destination.id), change_keys=keys
        )

    def delete(self, folder: str, refs: list[ItemRef]) -> list[str]:
        """DeleteItem of exactly ``refs``: SoftDelete, or HardDelete with ``hard_delete``
        (see :attr:`delete_mode`); no read receipt is sent. The ids removed."""
        with self._errors():
            results = DeleteIds(account=self._account, chunk_size=self.settings.action_chunk).call(
                items=[(r.server_id, None) for r in refs],
                delete_type=DELETE_TYPES[self.delete_mode],
                send_meeting_cancellations=SEND_TO_NONE,
                affected_task_occurrences=ALL_OCCURRENCES,
                suppress_read_receipts=True,
            )
            # An error for one item (gone meanwhile, refused) leaves it out of the answer:
            # the caller checks what became of it.
            removed = [
                r.server_id for r, result in zip(refs, results, strict=True) if result is True
            ]
        return removed

    def fetch(self, folder: str, refs: list[ItemRef]) -> Iterator[tuple[str, bytes]]:
        """MimeContent of each ref still there, in order, a few MB per GetItem."""
        with self._errors():
            batch: list[ItemRef] = []
            weight = 0
            for r in refs:
                full = weight + r.size > limits.EXPORT_BYTES
                if batch and (full or len(batch) >= limits.EXPORT_CHUNK):
                    yield from self._mime(batch)
                    batch, weight = [], 0
                batch.append(r)
                weight += r.size
            if batch:
                yield from self._mime(batch)

    def locate(self, folder: str, refs: list[ItemRef], floor: str | None) -> dict[str, str]:
        """Find in ``folder`` an item with each ref's Message-ID and size: FindItem with a
        restriction on InternetMessageId, :data:`LOCATE_CHUNK` Message-IDs per request.

        MoveItem never leaves the original behind, so a ref whose own id still exists
        somewhere else was not moved, and nothing is looked for it (another copy would not be
        ours). Among equal candidates (duplicates), the item this process made by moving
        that very ref comes first, items it made from other messages last. ``floor`` is
        ignored: EWS ids are not ordered (:meth:`next_id` gives None).
        """
        found: dict[str, str] = {}
        mailbox = self.settings.email.lower()
        with self._errors():
            ews_folder = self._folder(folder)
            wanted = [r for r in refs if r.message_id]
            if not wanted:
                return found
            still = self._identities([r.server_id for r in wanted])
            search: list[ItemRef] = []
            for r in wanted:
                got = still.get(r.server_id)
                if got is None:
                    search.append(r)
                elif got.parent == ews_folder.id and (got.size, got.message_id) == (
                    r.size,
                    r.message_id,
                ):
                    found[r.server_id] = r.server_id
            taken = set(found.values())
            for start in range(0, len(search), limits.LOCATE_CHUNK):
                chunk = search[start : start + limits.LOCATE_CHUNK]
                candidates: dict[tuple[str | None, int | None], list[str]] = {}
                for item_id, size, message_id in self._find_by_message_id(
                    ews_folder, {r.message_id for r in chunk if r.message_id}
                ):
                    candidates.setdefault((message_id, size), []).append(item_id)
                for r in chunk:
                    ids = [i for i in candidates.get((r.message_id, r.size), []) if i not in taken]
                    rank = {i: _preference(_OWN_MOVES.source(mailbox, i), r) for i in ids}
                    ids.sort(key=rank.__getitem__)
                    if ids:
                        found[r.server_id] = ids[0]
                        taken.add(ids[0])
        return found

    def create_folder(self, path: str) -> None:
        """CreateFolder for ``path`` and any missing parent, under Top of Information Store."""
        with self._errors():
            self._list_folders()
            parent: Folder | None = self._msg_root
            names = path.split("/")
            for depth, name in enumerate(names, start=1):
                here = "/".join(names[:depth])
                existing = self._folders.get(here)
                if existing is not None:
                    parent = existing
                    continue
                assert parent is not None
                spec = Folder(parent=parent, name=name, folder_class="IPF.Note")
                (created,) = CreateFolder(account=self._account).call(
                    parent_folder=parent, folders=[spec]
                )
                if isinstance(created, ews_errors.ErrorFolderExists):
                    # Made meanwhile by someone else: use theirs.
                    self._list_folders()
                    parent = self._folder(here)
                    continue
                if isinstance(created, Exception):
                    raise created
                parent = created
            self._list_folders()

    def _identities(self, ids: list[str]) -> dict[str, _Identity]:
        """What the server holds under each id (absent: no such item)."""
        out: dict[str, _Identity] = {}
        if not ids:
            return out
        service = Identities(account=self._account, chunk_size=self.settings.action_chunk)
        for item_id, answer in zip(
            ids,
            service.call(
                items=[(i, None) for i in ids], additional_fields=_IDENTITY_FIELDS, shape=ID_ONLY
            ),
            strict=True,
        ):
            if isinstance(answer, _ITEM_GONE):
                continue
            if isinstance(answer, Exception):
                # Unreadable (ErrorItemCorrupt...): there, but never the item the index knew.
                answer = _Identity(item_id, None, None, None, None)
            out[item_id] = answer
        return out

    def _mime(self, refs: list[ItemRef]) -> Iterator[tuple[str, bytes]]:
        service = MimeContents(account=self._account, chunk_size=len(refs))
        for r, answer in zip(
            refs,
            service.call(
                items=[(r.server_id, None) for r in refs],
                additional_fields=_MIME_FIELDS,
                shape=ID_ONLY,
            ),
            strict=True,
        ):
            if isinstance(answer, Exception):
                # Gone meanwhile, or Exchange cannot convert it to MIME (it happens): left
                # out, so it is neither in the export nor removed after it.
                continue
            yield r.server_id, answer

    def _find_by_message_id(
        self, folder: Folder, message_ids: Iterable[str]
    ) -> Iterator[tuple[str, int | None, str | None]]:
        """``(item id, size, normalized Message-ID)`` of the items of ``folder`` whose
        InternetMessageId is one of ``message_ids`` (as the index writes them, without
        brackets: both spellings are asked)."""
        values = sorted({v for m in message_ids for v in (f"<{m}>", m)})
        if not values:
            return
        restriction = Restriction(
            Q(message_id__in=values), folders=[folder], applies_to=Restriction.ITEMS
        )
        service = FindIdentities(account=self._account, page_size=limits.LOCATE_PAGE)
        for answer in service.call(
            folders=[folder],
            additional_fields=_IDENTITY_FIELDS,
            restriction=restriction,
            order_fields=None,
            shape=ID_ONLY,
            query_string=None,
            depth=SHALLOW,
            calendar_view=None,
            max_items=None,
            offset=0,
        ):
            if isinstance(answer, Exception):
                raise answer
            yield answer.item_id, answer.size, answer.message_id
