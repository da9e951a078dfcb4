"""The mailbox's folders: listing, roles, sizes, a folder's identity, creating one."""

from __future__ import annotations

import zlib
from typing import Any

from mailclean.connectors.base import FolderNotFound
from mailclean.connectors.graph import limits
from mailclean.connectors.graph.http import SubRequest
from mailclean.connectors.graph.items import FOLDER_FIELDS, SIZE_EXPAND, query, size_of
from mailclean.connectors.graph.session import _GraphSession, segment
from mailclean.i18n import _
from mailclean.model import FolderInfo, folder_role


def folder_identity(folder_id: str) -> int:
    """A non-zero 31-bit digest of a Graph folder id (stable across renames)."""
    return zlib.crc32(folder_id.encode("ascii", "replace")) & 0x7FFFFFFF or 1


def _folder_query() -> str:
    return query(includeHiddenFolders="true", select=FOLDER_FIELDS, expand=SIZE_EXPAND,
                 top=limits.FOLDER_PAGE)


class _GraphFolders(_GraphSession):
    """The mailbox's folders: listed with their roles, counts and sizes, found by path."""

    def list_folders(self) -> list[FolderInfo]:
        """Every mail folder (hidden ones included) with its role, count and size: one
        request for the top level, then one ``$batch`` per level of subfolders."""
        with self._errors():
            return self._list_folders()

    def _list_folders(self) -> list[FolderInfo]:
        found = self._fetch_tree()
        by_id = {f["id"]: f for f in found}
        infos: list[FolderInfo] = []
        self._folders, self._paths = {}, {}
        has_archive = "archive" in self._roles.values()
        for f in found:
            names: list[str] = []
            node: dict | None = f
            seen: set[str] = set()
            while node is not None and node["id"] not in seen:
                seen.add(node["id"])
                names.append(str(node.get("displayName") or ""))
                parent = node.get("parentFolderId")
                node = by_id.get(parent) if parent != self._root_id else None
            path = "/".join(reversed(names))
            if path in self._folders:
                # Two folders with one path (a "/" inside a name): keep them apart.
                path = f"{path} [{folder_identity(f['id']):08x}]"
            role = self._roles.get(f["id"])
            if role is None and not has_archive and len(names) == 1 and \
                    folder_role(path, "/", ()) == "archive":
                role = "archive"
            self._folders[path] = f
            self._paths[f["id"]] = path
            count = f.get("totalItemCount")
            infos.append(FolderInfo(
                path=path,
                delimiter="/",
                role=role,
                uidvalidity=folder_identity(f["id"]),
                messages=count if isinstance(count, int) else None,
                bytes=size_of(f),
            ))
        infos.sort(key=lambda i: i.path)
        return infos

    def _fetch_tree(self) -> list[dict]:
        """Every folder as Graph lists it, level by level."""
        level = self._pages(f"{self.mailbox}/mailFolders{_folder_query()}")
        found = list(level)
        while True:
            parents = [f for f in level if (f.get("childFolderCount") or 0) > 0]
            if not parents:
                return found
            answers = self._http.batch([
                SubRequest("GET", f"{self.mailbox}/mailFolders/{segment(f['id'])}"
                                  f"/childFolders{_folder_query()}")
                for f in parents
            ])
            level = []
            for answer in answers:
                if answer.status == 404:
                    continue  # deleted since its parent was listed
                if answer.status >= 400:
                    raise answer.error()
                body = answer.body if isinstance(answer.body, dict) else {}
                level.extend(_folders_of(body))
                link = body.get("@odata.nextLink")
                if isinstance(link, str):
                    level.extend(self._pages(link))
            known = {f["id"] for f in found}
            level = [f for f in level if f["id"] not in known]
            found.extend(level)

    def _pages(self, url: str) -> list[dict]:
        """Every folder of a listing, following ``@odata.nextLink``."""
        out: list[dict] = []
        next_url: str | None = url
        while next_url:
            body = self._http.get_json(next_url)
            out.extend(_folders_of(body))
            link = body.get("@odata.nextLink") if isinstance(body, dict) else None
            next_url = link if isinstance(link, str) else None
        return out

    def _folder(self, path: str) -> dict:
        """The folder at ``path`` as last listed (listed again when unknown)."""
        found = self._folders.get(path)
        if found is None:
            self._list_folders()
            found = self._folders.get(path)
        if found is None:
            raise FolderNotFound(_("no folder '{path}' in the mailbox {email}").format(
                path=path, email=self.settings.email))
        return found

    def _live_folder(self, path: str) -> dict:
        """The folder at ``path`` as the server has it now: the known id checked with one
        GET, the folders listed again when it is gone or has another name."""
        known = self._folders.get(path)
        if known is not None:
            answer = self._http.get_json(
                f"{self.mailbox}/mailFolders/{segment(known['id'])}"
                + query(select="id,displayName,parentFolderId"), allow=(404,))
            if isinstance(answer, dict) and answer.get("id") and \
                    answer.get("displayName") == path.rsplit("/", 1)[-1] and \
                    answer.get("parentFolderId") == known.get("parentFolderId"):
                return known
        self._list_folders()
        return self._folder(path)

    def folder_size(self, folder: str) -> tuple[int, int]:
        """(messages, bytes) of ``folder`` summed from its messages' sizes, for a folder
        listed without its size property: pages of 1,000 messages, ids and sizes only."""
        with self._errors():
            found = self._folder(folder)
            url: str | None = (
                f"{self.mailbox}/mailFolders/{segment(found['id'])}/messages"
                + query(select="id", expand=SIZE_EXPAND, top=1000))
            count = total = 0
            while url:
                body = self._http.get_json(url)
                for message in (body.get("value") or []) if isinstance(body, dict) else []:
                    count += 1
                    total += size_of(message) or 0
                link = body.get("@odata.nextLink") if isinstance(body, dict) else None
                url = link if isinstance(link, str) else None
            return count, total

    def create_folder(self, path: str) -> None:
        """Create ``path`` and any missing parent (an undo into a folder deleted
        meanwhile)."""
        with self._errors():
            self._list_folders()
            parent: dict | None = None
            names = path.split("/")
            for depth, name in enumerate(names, start=1):
                here = "/".join(names[:depth])
                existing = self._folders.get(here)
                if existing is not None:
                    parent = existing
                    continue
                url = f"{self.mailbox}/mailFolders" if parent is None else \
                    f"{self.mailbox}/mailFolders/{segment(parent['id'])}/childFolders"
                # 409: made meanwhile by someone else, theirs is used.
                self._http.send("POST", url, json={"displayName": name}, idempotent=False,
                                allow=(409,))
                self._list_folders()
                parent = self._folder(here)
            self._list_folders()


def _folders_of(body: Any) -> list[dict]:
    values = body.get("value") if isinstance(body, dict) else None
    return [f for f in values or () if isinstance(f, dict) and isinstance(f.get("id"), str)]
