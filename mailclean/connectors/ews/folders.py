"""The mailbox's folders: listing, roles, sizes, quota, and a folder's identity."""

from __future__ import annotations

import zlib

from exchangelib import errors as ews_errors
from exchangelib.fields import FieldPath
from exchangelib.folders import Folder, Root
from exchangelib.folders.queryset import DEEP
from exchangelib.items import ID_ONLY
from exchangelib.services import FindFolder, GetFolder

from mailclean.connectors.base import FolderNotFound
from mailclean.connectors.ews import limits
from mailclean.connectors.ews.properties import _FOLDER_FIELDS
from mailclean.connectors.ews.session import _EwsSession
from mailclean.i18n import _
from mailclean.model import FolderInfo, Quota, folder_role


def _is_mail_folder(folder_class: str | None) -> bool:
    # IPF.Note and its variants (IPF.Note.OutlookHomepage...) hold mail; a folder without
    # a class is mail too (created by IMAP clients, old migrations).
    return (
        folder_class is None or folder_class == "IPF.Note" or folder_class.startswith("IPF.Note.")
    )


def folder_identity(folder_id: str) -> int:
    """A non-zero 31-bit digest of an EWS folder id (stable across renames)."""
    return zlib.crc32(folder_id.encode("ascii", "replace")) & 0x7FFFFFFF or 1


class _EwsFolders(_EwsSession):
    """The mailbox's folders: listed with their roles, counts and sizes, found by path."""

    def list_folders(self) -> list[FolderInfo]:
        """Every mail folder under Top of Information Store, with role, count and size."""
        with self._errors():
            return self._list_folders()

    def _list_folders(self) -> list[FolderInfo]:
        account, msg_root = self._account, self._msg_root
        assert msg_root is not None
        fields = {FieldPath(field=Folder.get_field_by_fieldname(n)) for n in _FOLDER_FIELDS}
        found = [
            f
            for f in FindFolder(account=account, page_size=limits.FOLDER_PAGE).call(
                folders=[msg_root],
                additional_fields=fields,
                restriction=None,
                shape=ID_ONLY,
                depth=DEEP,
                max_items=None,
                offset=0,
            )
        ]
        for f in found:
            if isinstance(f, Exception):
                raise f
        by_id = {f.id: f for f in found}
        self._mailbox_bytes = sum(getattr(f, "mailclean_size", None) or 0 for f in found)
        infos: list[FolderInfo] = []
        self._folders = {}
        for f in found:
            if not _is_mail_folder(f.folder_class):
                continue
            names: list[str] = []
            node = f
            while node is not None:
                names.append(node.name or "")
                parent_id = node.parent_folder_id.id if node.parent_folder_id else None
                node = by_id.get(parent_id) if parent_id != msg_root.id else None
            path = "/".join(reversed(names))
            if path in self._folders:
                # Two folders with one path (a "/" inside a name): keep them apart.
                path = f"{path} [{folder_identity(f.id):08x}]"
            role = self._roles.get(f.id)
            if role is None and len(names) == 1 and folder_role(path, "/", ()) == "archive":
                role = "archive"
            self._folders[path] = f
            infos.append(
                FolderInfo(
                    path=path,
                    delimiter="/",
                    role=role,
                    uidvalidity=folder_identity(f.id),
                    messages=f.total_count,
                    bytes=getattr(f, "mailclean_size", None),
                )
            )
        infos.sort(key=lambda i: i.path)
        return infos

    def quota(self) -> Quota | None:
        """The mailbox's hard quota (PidTagProhibitReceiveQuota on the root) against the sum
        of its folders' sizes; None when the server does not say."""
        with self._errors():
            root = Root.get_distinguished(account=self._account)
            limit = getattr(root, "mailclean_quota", None)
            if not limit:
                return None
            if self._mailbox_bytes is None:
                self._list_folders()
            return Quota(used=self._mailbox_bytes or 0, limit=int(limit) * 1024, root="")

    def _folder(self, path: str) -> Folder:
        found = self._folders.get(path)
        if found is None:
            self._list_folders()
            found = self._folders.get(path)
        if found is None:
            raise FolderNotFound(
                _("no folder '{path}' in the mailbox {email}").format(
                    path=path, email=self.settings.email
                )
            )
        return found

    def _live_folder(self, path: str) -> Folder:
        """The folder at ``path`` as the server has it now: the known id checked with one
        GetFolder, the folders listed again when it is gone or has another name."""
        known = self._folders.get(path)
        if known is not None:
            field = FieldPath(field=Folder.get_field_by_fieldname("name"))
            (answer,) = GetFolder(account=self._account).call(
                folders=[known], additional_fields={field}, shape=ID_ONLY
            )
            if isinstance(answer, Exception) and not isinstance(
                answer, ews_errors.ErrorFolderNotFound | ews_errors.ErrorItemNotFound
            ):
                raise answer
            if not isinstance(answer, Exception) and answer.name == path.rsplit("/", 1)[-1]:
                return known
        self._list_folders()
        return self._folder(path)
