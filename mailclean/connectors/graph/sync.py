"""Incremental sync of one folder with ``messages/delta``, and the attachments' metadata.

A round of delta pages ends with an ``@odata.deltaLink``; following it later gives only
the changes since. The link of the *next* page (or the deltaLink) is the folder's
``FolderState.sync_token``, stored with every page of changes, so an interrupted sync
resumes from the last page applied (replaying one is harmless: each change is idempotent).
A token the server no longer knows (410 Gone, ``SyncStateNotFound``) starts the folder
over: a :class:`FolderReset`, then a full round, as EWS does on an invalid sync state.

Each page asks for exactly the properties mailclean indexes, the size property and the
internet headers (``$select`` and ``$expand``, which delta supports), so a message costs no
request of its own; only messages that may have attachments (``hasAttachments``, or a
multipart/related or multipart/mixed body, whose inline images ``hasAttachments`` does not
count) cost a sub-request for their attachments' metadata, 20 to a ``$batch``, while the
next page is being read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any

from mailclean.connectors.base import (
    Change,
    ConnectorError,
    FolderReset,
    FolderSynced,
    MessagesAdded,
    MessagesRemoved,
)
from mailclean.connectors.graph.errors import GraphError
from mailclean.connectors.graph.folders import _GraphFolders, folder_identity
from mailclean.connectors.graph.http import SubRequest
from mailclean.connectors.graph.items import (
    ATTACHMENT_FIELDS,
    MESSAGE_FIELDS,
    SIZE_EXPAND,
    attachments_from_json,
    message_from_json,
    query,
)
from mailclean.connectors.graph.session import segment
from mailclean.model import AttachmentMeta, FolderInfo, FolderState, MessageMeta

#: Error codes of a delta token the server no longer honours.
_STALE_TOKEN = {"syncstatenotfound", "syncstateinvalid", "resyncrequired",
                "invalidsyncstate", "errorinvalidsyncstatedata"}


def stale_token(exc: GraphError) -> bool:
    """Whether ``exc`` says the delta token expired (410 Gone, SyncStateNotFound)."""
    return exc.status == 410 or exc.code.lower() in _STALE_TOKEN


@dataclass
class _Page:
    """One delta page, read."""

    added: dict[str, dict] = field(default_factory=dict)
    removed: dict[str, None] = field(default_factory=dict)
    next_link: str | None = None
    delta_link: str | None = None


def _read_page(body: Any) -> _Page:
    page = _Page()
    values = body.get("value") if isinstance(body, dict) else None
    for item in values or ():
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue
        item_id = item["id"]
        if "@removed" in item:
            # "deleted" or "changed" (moved out of the folder): gone from here either way.
            page.added.pop(item_id, None)
            page.removed[item_id] = None
        else:
            page.removed.pop(item_id, None)
            page.added[item_id] = item
    if isinstance(body, dict):
        next_link, delta_link = body.get("@odata.nextLink"), body.get("@odata.deltaLink")
        page.next_link = next_link if isinstance(next_link, str) else None
        page.delta_link = delta_link if isinstance(delta_link, str) else None
    return page


class _GraphSync(_GraphFolders):
    """Incremental sync: delta pages, the attachments' metadata of the new messages."""

    def sync_folder(
        self,
        folder: FolderInfo,
        state: FolderState,
        known_ids: Callable[[], set[str]],
    ) -> Iterator[Change]:
        """Yield the changes since ``state``: see :meth:`Connector.sync_folder`."""
        with self._errors():
            yield from self._sync_folder(folder, state)

    def _first_link(self, folder_id: str) -> str:
        return (f"{self.mailbox}/mailFolders/{segment(folder_id)}/messages/delta"
                + query(select=MESSAGE_FIELDS, expand=SIZE_EXPAND))

    def _usable(self, token: str | None) -> bool:
        if token is None:
            return False
        try:
            self._http.check_link(token)
        except ConnectorError:  # another server's link: start over
            return False
        return True

    def _sync_folder(self, info: FolderInfo, state: FolderState) -> Iterator[Change]:
        graph_folder = self._folder(info.path)
        identity = folder_identity(graph_folder["id"])
        if (state.uidvalidity is not None and state.uidvalidity != identity) or (
            not self._usable(state.sync_token) and (state.indexed > 0 or state.sync_token)
        ):
            # Another folder under the same name, rows without a usable sync state (or a
            # state from another Graph endpoint): start over.
            state = FolderState(uidvalidity=identity)
            yield FolderReset(state)
        state = replace(state, uidvalidity=identity)
        link = state.sync_token or self._first_link(graph_folder["id"])
        reset_once = False
        pending: Future | None = None
        page: _Page | None = None
        while True:
            try:
                if page is None:
                    page = self._delta(link)
                following = page.next_link
                if following is not None:
                    # Read the next page while the attachments of this one are fetched.
                    pending = self._http.submit(self._delta, following)
                messages = self._with_attachments(page)
            except GraphError as exc:
                _cancel(pending)
                if not stale_token(exc) or reset_once:
                    raise
                reset_once = True
                state = FolderState(uidvalidity=identity)
                yield FolderReset(state)
                link, page, pending = self._first_link(graph_folder["id"]), None, None
                continue
            token = page.next_link or page.delta_link or link
            state = replace(state, sync_token=token)
            if page.removed:
                yield MessagesRemoved(list(page.removed))
            yield MessagesAdded(messages, state)
            if page.next_link is None:
                break
            link = page.next_link
            try:
                page = pending.result() if pending is not None else None
            except GraphError as exc:
                if not stale_token(exc) or reset_once:
                    raise
                page = None  # the next turn reads it again, and resets if it must
            pending = None
        yield FolderSynced(state, info.messages, info.bytes)

    def _delta(self, link: str) -> _Page:
        prefer = [f"odata.maxpagesize={max(1, self.settings.page_size)}"]
        return _read_page(self._http.get_json(link, prefer=prefer))

    def _with_attachments(self, page: _Page) -> list[MessageMeta]:
        """The page's new and changed messages, with their attachments' metadata; one
        deleted before its attachments were read is left out (its removal comes next)."""
        wanted = [i for i, m in page.added.items() if may_have_attachments(m)]
        # The attachments are asked for while the messages are read (CPU, not network).
        pending = self._http.submit(self._attachments, wanted) if wanted else None
        messages = [message_from_json(item) for item in page.added.values()]
        asked = set(wanted)
        found = pending.result() if pending is not None else {}
        out = []
        for meta in messages:
            if meta.server_id in found:
                meta.attachments = found[meta.server_id]
            elif meta.server_id in asked:
                continue
            out.append(meta)
        return out

    def _attachments(self, ids: list[str]) -> dict[str, list[AttachmentMeta]]:
        """Attachment metadata (never content) of each message still there."""
        if not ids:
            return {}
        answers = self._http.batch([
            SubRequest("GET", f"{self.mailbox}/messages/{segment(i)}/attachments"
                              + query(select=ATTACHMENT_FIELDS))
            for i in ids
        ])
        out: dict[str, list[AttachmentMeta]] = {}
        for item_id, answer in zip(ids, answers, strict=True):
            if answer.status == 404:
                continue
            if answer.status >= 400:
                raise answer.error()
            body = answer.body if isinstance(answer.body, dict) else {}
            values = list(body.get("value") or [])
            link = body.get("@odata.nextLink")
            while isinstance(link, str):
                more = self._http.get_json(link)
                values.extend(more.get("value") or [] if isinstance(more, dict) else [])
                link = more.get("@odata.nextLink") if isinstance(more, dict) else None
            out[item_id] = attachments_from_json(values)
        return out


#: Top-level MIME types whose messages may hold attachments that ``hasAttachments`` does not
#: count: it is false when every attachment is inline (images of an HTML signature, in a
#: multipart/related), https://learn.microsoft.com/graph/api/resources/message.
_MAY_HOLD_INLINE = ("multipart/related", "multipart/mixed")


def may_have_attachments(message: dict) -> bool:
    """Whether a message's attachments are worth asking for: ``hasAttachments``, or a
    top-level Content-Type (in its internet headers) that may carry inline ones only."""
    if message.get("hasAttachments") is True:
        return True
    for header in message.get("internetMessageHeaders") or ():
        if isinstance(header, dict) and str(header.get("name", "")).lower() == "content-type":
            return str(header.get("value", "")).strip().lower().startswith(_MAY_HOLD_INLINE)
    return False


def _cancel(future: Future | None) -> None:
    if future is not None:
        future.cancel()
