"""Incremental sync of one folder with SyncFolderItems and GetItem."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from exchangelib import errors as ews_errors
from exchangelib.folders import Folder
from exchangelib.items import ID_ONLY
from exchangelib.properties import FolderId
from exchangelib.services import SyncFolderItems

from mailclean.connectors.base import (
    Change,
    FlagsChanged,
    FolderReset,
    FolderSynced,
    MessagesAdded,
    MessagesRemoved,
)
from mailclean.connectors.ews.folders import _EwsFolders, folder_identity
from mailclean.connectors.ews.items import message_from_item
from mailclean.connectors.ews.properties import _FLAG_FIELDS, _FLAGGED, _ITEM_FIELDS
from mailclean.connectors.ews.services import SyncIds
from mailclean.model import FolderInfo, FolderState, MessageMeta


class _EwsSync(_EwsFolders):
    """Incremental sync: SyncFolderItems pages of ids, then GetItem of what mailclean indexes."""

    def sync_folder(
        self,
        folder: FolderInfo,
        state: FolderState,
        known_ids: Callable[[], set[str]],
    ) -> Iterator[Change]:
        """Yield the changes since ``state``: see :meth:`Connector.sync_folder`."""
        with self._errors():
            yield from self._sync_folder(folder, state)

    def _sync_folder(self, info: FolderInfo, state: FolderState) -> Iterator[Change]:
        ews_folder = self._folder(info.path)
        identity = folder_identity(ews_folder.id)
        if (state.uidvalidity is not None and state.uidvalidity != identity) or (
            state.sync_token is None and state.indexed > 0
        ):
            # Another folder under the same name, or rows without a sync state: start over.
            state = FolderState(uidvalidity=identity)
            yield FolderReset(state)
        state = replace(state, uidvalidity=identity)
        reset_once = False
        while True:
            try:
                changes, token, last = self._sync_page(ews_folder.id, state.sync_token)
            except ews_errors.ErrorInvalidSyncStateData:
                if reset_once:
                    raise
                reset_once = True
                state = FolderState(uidvalidity=identity)
                yield FolderReset(state)
                continue
            fetch: dict[str, None] = {}
            removed: dict[str, None] = {}
            read: dict[str, bool] = {}
            for kind, item_id, is_read in changes:
                if kind in (SyncFolderItems.CREATE, SyncFolderItems.UPDATE):
                    fetch[item_id] = None
                    removed.pop(item_id, None)
                elif kind == SyncFolderItems.DELETE:
                    removed[item_id] = None
                    fetch.pop(item_id, None)
                    read.pop(item_id, None)
                elif kind == SyncFolderItems.READ_FLAG_CHANGE:
                    read[item_id] = bool(is_read)
            read = {k: v for k, v in read.items() if k not in fetch}
            messages = self._fetch_messages(ews_folder, list(fetch))
            state = replace(state, sync_token=token)
            if removed:
                yield MessagesRemoved(list(removed))
            if read:
                yield FlagsChanged(self._fetch_flags(ews_folder, read))
            yield MessagesAdded(messages, state)
            if last:
                break
        yield FolderSynced(state, info.messages, info.bytes)

    def _sync_page(self, folder_id: str, token: str | None) -> tuple[list, str | None, bool]:
        svc = SyncIds(account=self._account)
        changes = list(
            svc.call(
                folder=FolderId(id=folder_id),
                shape=ID_ONLY,
                additional_fields=set(),
                sync_state=token,
                ignore=None,
                max_changes_returned=self.settings.page_size,
                sync_scope=None,
            )
        )
        for change in changes:
            if isinstance(change, Exception):
                raise change
        last = bool(svc.includes_last_item_in_range) or svc.sync_state == token
        return changes, svc.sync_state, last

    def _fetch(self, folder: Folder, ids: list[str], fields: tuple[str, ...]) -> Iterator[Any]:
        if not ids:
            return
        for item in self._account.fetch(
            ids=[(i, None) for i in ids],
            folder=folder,
            only_fields=list(fields),
            chunk_size=self.settings.fetch_chunk,
        ):
            # An item deleted since the sync page was read: its Delete comes next time.
            if isinstance(item, ews_errors.ErrorItemNotFound):
                continue
            if isinstance(item, Exception):
                raise item
            yield item

    def _fetch_messages(self, folder: Folder, ids: list[str]) -> list[MessageMeta]:
        return [message_from_item(item) for item in self._fetch(folder, ids, _ITEM_FIELDS)]

    def _fetch_flags(self, folder: Folder, read: dict[str, bool]) -> list[tuple[str, bool, bool]]:
        return [
            (item.id, bool(item.is_read), getattr(item, "mailclean_flag", None) == _FLAGGED)
            for item in self._fetch(folder, list(read), _FLAG_FIELDS)
        ]
