"""EWS services specialised for speed: ids written straight into the request, answers
read straight from the XML (exchangelib would build a sixty-field Message per item).
"""

# exchangelib has no type information: the classes specialised here subclass Any.

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from exchangelib import errors as ews_errors
from exchangelib.fields import FieldPath
from exchangelib.items import Message
from exchangelib.services import DeleteItem, FindItem, GetItem, MoveItem, SyncFolderItems
from exchangelib.util import MNS, TNS, create_element

from mailclean import mime


class SyncIds(SyncFolderItems):
    """SyncFolderItems for an IdOnly shape: each change as ``(kind, item id, is_read)``.

    exchangelib turns every Create and Update into a full Message object, walking its sixty
    fields for an element that holds one ItemId: a third of a sync's CPU, for nothing.
    """

    _ITEM_ID = f"{{{TNS}}}ItemId"
    _IS_READ = f"{{{TNS}}}IsRead"

    def _elem_to_obj(self, elem: Any) -> tuple[str, str, bool | None]:
        kind = self.change_types_map.get(elem.tag)
        holder = elem if kind in (self.READ_FLAG_CHANGE, self.DELETE) else next(iter(elem), None)
        ident = holder.find(self._ITEM_ID) if holder is not None else None
        item_id = ident.get("Id") if ident is not None else None
        if kind is None or not item_id:
            # exchangelib would trip over it too (KeyError, IndexError, AttributeError).
            raise ews_errors.MalformedResponseError(f"a sync change without an item id: {elem.tag}")
        if kind == self.READ_FLAG_CHANGE:
            is_read = (elem.findtext(self._IS_READ) or "").strip().lower() == "true"
            return kind, item_id, is_read
        return kind, item_id, None


@dataclass(frozen=True, slots=True)
class _Identity:
    """What the server says of one item, enough to tell whether it is the one indexed."""

    item_id: str
    change_key: str | None
    size: int | None
    message_id: str | None
    """Normalized (:func:`mailclean.mime.normalize_message_id`), as the index stores it."""
    parent: str | None


_T_ITEM_ID = f"{{{TNS}}}ItemId"
_T_PARENT = f"{{{TNS}}}ParentFolderId"
_T_SIZE = f"{{{TNS}}}Size"
_T_MESSAGE_ID = f"{{{TNS}}}InternetMessageId"
_T_MIME = f"{{{TNS}}}MimeContent"


def _identity_from_xml(elem: Any) -> _Identity:
    ident = elem.find(_T_ITEM_ID)
    parent = elem.find(_T_PARENT)
    size = (elem.findtext(_T_SIZE) or "").strip()
    return _Identity(
        item_id=(ident.get("Id") or "") if ident is not None else "",
        change_key=ident.get("ChangeKey") if ident is not None else None,
        size=int(size) if size.isascii() and size.isdigit() and len(size) < 19 else None,
        message_id=mime.normalize_message_id(elem.findtext(_T_MESSAGE_ID)),
        parent=parent.get("Id") if parent is not None else None,
    )


_M_ITEM_IDS = f"{{{MNS}}}ItemIds"


def _item_ids(items: Iterable[tuple[str, str | None]]) -> Any:
    """An ``m:ItemIds`` element written directly: exchangelib builds an ItemId object per id
    and walks its fields to serialize it, two thirds of an action's CPU time."""
    elem = create_element("m:ItemIds")
    for item_id, change_key in items:
        attrs = {"Id": item_id} if change_key is None else {"Id": item_id, "ChangeKey": change_key}
        elem.append(create_element("t:ItemId", attrs=attrs))
    return elem


def _fast_ids(payload: Any, items: Iterable[tuple[str, str | None]]) -> Any:
    """``payload`` (built by exchangelib for no item) with its ItemIds written by
    :func:`_item_ids`."""
    payload.replace(payload.find(_M_ITEM_IDS), _item_ids(items))
    return payload


class _GetByIds(GetItem):
    """GetItem with the ids written by :func:`_item_ids` (the services below)."""

    def get_payload(self, items: Any, additional_fields: Any, shape: Any) -> Any:
        """As GetItem, with the ids written by :func:`_item_ids`."""
        return _fast_ids(super().get_payload([], additional_fields, shape), items)


class Identities(_GetByIds):
    """GetItem answering an :class:`_Identity` per item, read straight from the XML
    (exchangelib would build a Message of sixty fields for each)."""

    def _elem_to_obj(self, elem: Any) -> _Identity:
        return _identity_from_xml(elem)


class FindIdentities(FindItem):
    """FindItem answering an :class:`_Identity` per item found."""

    def _elem_to_obj(self, elem: Any) -> _Identity:
        return _identity_from_xml(elem)


class MimeContents(_GetByIds):
    """GetItem answering each item's MimeContent as bytes."""

    def _elem_to_obj(self, elem: Any) -> bytes:
        text = elem.findtext(_T_MIME)
        if text is None:
            raise ews_errors.ErrorMimeContentConversionFailed("the server sent no MimeContent")
        try:
            return base64.b64decode(text)
        except (binascii.Error, ValueError) as exc:
            raise ews_errors.ErrorCorruptData(f"MimeContent is not base64: {exc}") from exc


class MoveIds(MoveItem):
    """MoveItem with the ids written by :func:`_item_ids`; answers ``(new id, change key)``."""

    def get_payload(self, items: Any, to_folder: Any) -> Any:
        """As MoveItem, with the ids written by :func:`_item_ids`."""
        return _fast_ids(super().get_payload([], to_folder), items)


class DeleteIds(DeleteItem):
    """DeleteItem with the ids written by :func:`_item_ids`; answers True per item deleted."""

    def get_payload(self, items: Any, *args: Any, **kwargs: Any) -> Any:
        """As DeleteItem, with the ids written by :func:`_item_ids`."""
        return _fast_ids(super().get_payload([], *args, **kwargs), items)


def _field_paths(*names: str) -> set[FieldPath]:
    return {FieldPath(field=Message.get_field_by_fieldname(n)) for n in names}


_IDENTITY_FIELDS = _field_paths("parent_folder_id", "size", "message_id")
_MIME_FIELDS = _field_paths("mime_content")
#: Per-item answers meaning "no such item (any more)".
_ITEM_GONE = (ews_errors.ErrorItemNotFound, ews_errors.ErrorInvalidIdMalformed)
