"""The mailbox behind the loopback EWS server: folders, items, ids, change keys, sync states.

Everything here is what an Exchange mailbox database keeps, reduced to what mailclean's
tests need. The rules that matter to a client:

- **Ids.** Item and folder ids are opaque base64 strings of Exchange's length; an id that
  does not decode to this mailbox's format is *malformed*, one that does but names nothing
  is *not found*. Moving an item gives it a new id: the old one is gone.
- **Change keys** change with every modification of an item (flag, move, copy), except its
  read state: in Exchange (as in MAPI) marking an item read is not a change of the item,
  which is also why SyncFolderItems reports it apart, as a ReadFlagChange.
- **Sync states.** Every change in the mailbox takes the next number of one counter
  (``seq``). An item remembers when it was created, last modified and last marked read; a
  folder keeps a tombstone for every item that left it. A SyncFolderItems state is a folder
  and a watermark: the changes after it are items created after it (Create), items known
  before it and modified after (Update), read-state changes alone (ReadFlagChange), and
  tombstones of items known before it (Delete). A page stops after MaxChangesReturned
  changes; its new watermark is the sequence number of its last change.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from tests.ews.mime import ParsedMessage, parse_message

if TYPE_CHECKING:
    from mailclean.mailgen import GeneratedMessage

#: Folder classes of the folders that hold mail.
MAIL_CLASS = "IPF.Note"

#: Distinguished folders: id -> (parent distinguished id, folder class, English name, French name).
DISTINGUISHED: dict[str, tuple[str | None, str | None, str, str]] = {
    "root": (None, None, "Root", "Root"),
    "msgfolderroot": (
        "root",
        MAIL_CLASS,
        "Top of Information Store",
        "Partie supérieure de la banque d'informations",
    ),
    "inbox": ("msgfolderroot", MAIL_CLASS, "Inbox", "Boîte de réception"),
    "drafts": ("msgfolderroot", MAIL_CLASS, "Drafts", "Brouillons"),
    "sentitems": ("msgfolderroot", MAIL_CLASS, "Sent Items", "Éléments envoyés"),
    "deleteditems": ("msgfolderroot", MAIL_CLASS, "Deleted Items", "Éléments supprimés"),
    "junkemail": ("msgfolderroot", MAIL_CLASS, "Junk Email", "Courrier indésirable"),
    "outbox": ("msgfolderroot", MAIL_CLASS, "Outbox", "Boîte d'envoi"),
    "calendar": ("msgfolderroot", "IPF.Appointment", "Calendar", "Calendrier"),
    "contacts": ("msgfolderroot", "IPF.Contact", "Contacts", "Contacts"),
    "tasks": ("msgfolderroot", "IPF.Task", "Tasks", "Tâches"),
    "notes": ("msgfolderroot", "IPF.StickyNote", "Notes", "Notes"),
    "recoverableitemsroot": ("root", None, "Recoverable Items", "Recoverable Items"),
    "recoverableitemsdeletions": ("recoverableitemsroot", None, "Deletions", "Deletions"),
    "recoverableitemsversions": ("recoverableitemsroot", None, "Versions", "Versions"),
    "recoverableitemspurges": ("recoverableitemsroot", None, "Purges", "Purges"),
}

#: mailgen folder -> distinguished folder of the same role.
GENERATED_ROLES = {
    "INBOX": "inbox",
    "Sent": "sentitems",
    "Drafts": "drafts",
    "Trash": "deleteditems",
    "Junk": "junkemail",
}

FLAG_NOT_FLAGGED, FLAG_COMPLETE, FLAG_FLAGGED = 0, 1, 2

#: DeleteItem's DeleteType values.
HARD_DELETE, SOFT_DELETE, MOVE_TO_DELETED_ITEMS = "HardDelete", "SoftDelete", "MoveToDeletedItems"


class StoreError(Exception):
    """An EWS error for one id or one request: ``code`` is the ResponseCode."""

    def __init__(self, code: str, text: str, message_xml: str = "") -> None:
        super().__init__(text)
        self.code = code
        self.text = text
        self.message_xml = message_xml
        """Inner XML of the response's MessageXml element (e.g. the offending FieldURI)."""


def not_found(what: str = "item") -> StoreError:
    """ErrorItemNotFound / ErrorFolderNotFound with Exchange's wording."""
    if what == "folder":
        return StoreError(
            "ErrorFolderNotFound", "The specified folder could not be found in the store."
        )
    return StoreError("ErrorItemNotFound", "The specified object was not found in the store.")


def malformed() -> StoreError:
    """ErrorInvalidIdMalformed."""
    return StoreError("ErrorInvalidIdMalformed", "Id is malformed.")


@dataclass(eq=False)
class Folder:
    """A folder: its items in arrival order and the tombstones of the items that left it."""

    id: str
    serial: int
    name: str
    parent: Folder | None
    folder_class: str | None
    distinguished: str | None = None
    items: dict[str, Item] = field(default_factory=dict)
    tombstones: list[tuple[int, int, str]] = field(default_factory=list)
    """(seq of the departure, seq of the item's creation, item id)."""
    children: list[Folder] = field(default_factory=list)
    change_version: int = 0

    @property
    def size(self) -> int:
        """PidTagMessageSizeExtended: the sum of the item sizes."""
        return sum(item.size for item in self.items.values())

    @property
    def unread(self) -> int:
        """Items not read."""
        return sum(1 for item in self.items.values() if not item.is_read)


@dataclass(eq=False)
class Item:
    """A message item. ``msg`` is shared between copies of the same raw message."""

    id: str
    serial: int
    folder: Folder
    msg: ParsedMessage
    received: datetime
    is_read: bool = False
    flag_status: int = FLAG_NOT_FLAGGED
    created_seq: int = 0
    modified_seq: int = 0
    read_seq: int = 0
    version: int = 0
    has_internet_headers: bool = True
    """False for items that never went through transport (drafts written in Outlook)."""

    @property
    def size(self) -> int:
        """Item size in bytes."""
        return self.msg.size

    @property
    def change_key(self) -> str:
        """A new value after every modification (read state excepted)."""
        data = b"\x09\x00\x00\x00\x16\x00\x00\x00" + struct.pack(">QI", self.serial, self.version)
        return base64.b64encode(data + hashlib.sha1(data).digest()[:8]).decode()

    @property
    def is_draft(self) -> bool:
        """Items of the Drafts folder are unsent drafts."""
        return self.folder.distinguished == "drafts"


class Store:
    """One mailbox. Every public method takes the store's lock: the HTTP server is threaded."""

    def __init__(self, email: str, *, locale: str = "en") -> None:
        self.email = email.lower()
        self.locale = locale
        self.lock = threading.RLock()
        self.seq = 0
        self.generation = 1
        """Bumped by :meth:`invalidate_sync_states`: older sync states become invalid."""
        self._serial = 0
        digest = hashlib.sha256(self.email.encode()).digest()
        self._item_prefix = b"\x00\x00\x00\x00" + (digest * 4)[:96]
        self._folder_prefix = b"\x00\x01\x00\x00" + digest[:30]
        self.folders: dict[str, Folder] = {}
        self.items: dict[str, Item] = {}
        self.by_distinguished: dict[str, Folder] = {}
        self.quota_kb: int | None = None
        """ProhibitSendReceive quota in KiB (PidTagProhibitReceiveQuota on the root), or None."""
        for name, (parent, folder_class, english, french) in DISTINGUISHED.items():
            folder = self._new_folder(
                french if locale == "fr" else english,
                self.by_distinguished[parent] if parent else None,
                folder_class,
            )
            folder.distinguished = name
            self.by_distinguished[name] = folder

    # -- ids --------------------------------------------------------------------------------

    def _next(self) -> int:
        self._serial += 1
        return self._serial

    def tick(self) -> int:
        """The next change sequence number."""
        self.seq += 1
        return self.seq

    def _item_id(self, serial: int) -> str:
        return base64.b64encode(self._item_prefix + struct.pack(">QI", serial, 0)).decode()

    def _folder_id(self, serial: int) -> str:
        return base64.b64encode(self._folder_prefix + struct.pack(">Q", serial)).decode()

    def _check_id(self, value: str, prefix: bytes, length: int) -> None:
        try:
            raw = base64.b64decode(value, validate=True)
        except (ValueError, binascii.Error):
            raise malformed() from None
        if len(raw) != length or not raw.startswith(prefix):
            raise malformed()

    # -- folders ----------------------------------------------------------------------------

    def _new_folder(self, name: str, parent: Folder | None, folder_class: str | None) -> Folder:
        serial = self._next()
        folder = Folder(self._folder_id(serial), serial, name, parent, folder_class)
        self.folders[folder.id] = folder
        if parent is not None:
            parent.children.append(folder)
            parent.change_version += 1
        return folder

    @property
    def root(self) -> Folder:
        """The root of the mailbox (distinguished id ``root``)."""
        return self.by_distinguished["root"]

    @property
    def msgfolderroot(self) -> Folder:
        """Top of Information Store: the parent of every mail folder."""
        return self.by_distinguished["msgfolderroot"]

    def folder_by_id(self, folder_id: str) -> Folder:
        """The folder with this id; ErrorInvalidIdMalformed / ErrorFolderNotFound."""
        with self.lock:
            folder = self.folders.get(folder_id)
            if folder is None:
                self._check_id(folder_id, self._folder_prefix, len(self._folder_prefix) + 8)
                raise not_found("folder")
            return folder

    def distinguished(self, name: str) -> Folder:
        """A distinguished folder; ErrorFolderNotFound for a name this mailbox lacks."""
        folder = self.by_distinguished.get(name)
        if folder is None:
            raise not_found("folder")
        return folder

    def path(self, folder: Folder) -> str:
        """Display names from the folder under Top of Information Store down, "/"-joined."""
        names = []
        node: Folder | None = folder
        while node is not None and node is not self.msgfolderroot:
            names.append(node.name)
            node = node.parent
        if node is None:
            raise ValueError(f"{folder.name!r} is not under Top of Information Store")
        return "/".join(reversed(names))

    def folder(self, path: str) -> Folder:
        """The folder at ``path`` (display names under Top of Information Store)."""
        with self.lock:
            node = self.msgfolderroot
            for name in path.split("/"):
                matches = [f for f in node.children if f.name == name]
                if not matches:
                    raise KeyError(path)
                node = matches[0]
            return node

    def mail_folders(self) -> list[Folder]:
        """Every folder holding mail under Top of Information Store."""
        with self.lock:
            out = []
            stack = list(self.msgfolderroot.children)
            while stack:
                folder = stack.pop()
                if folder.folder_class == MAIL_CLASS:
                    out.append(folder)
                stack.extend(folder.children)
            return out

    def descendants(self, folder: Folder) -> list[Folder]:
        """Every folder below ``folder``, depth first, parents before children."""
        out: list[Folder] = []

        def visit(node: Folder) -> None:
            for child in node.children:
                out.append(child)
                visit(child)

        visit(folder)
        return out

    def create_folder(self, path: str, folder_class: str = MAIL_CLASS) -> Folder:
        """Create ``path`` and its missing parents under Top of Information Store."""
        with self.lock:
            node = self.msgfolderroot
            for name in path.split("/"):
                matches = [f for f in node.children if f.name == name]
                node = matches[0] if matches else self._new_folder(name, node, folder_class)
            return node

    def create_child(self, parent: Folder, name: str, folder_class: str | None) -> Folder:
        """CreateFolder: a new folder under ``parent``; ErrorFolderExists when ``parent``
        already has a child of that name (compared without case, as Exchange does)."""
        with self.lock:
            if any(f.name.casefold() == name.casefold() for f in parent.children):
                raise StoreError(
                    "ErrorFolderExists", "A folder with the specified name already exists."
                )
            return self._new_folder(name, parent, folder_class)

    def rename_folder(self, path: str, name: str) -> Folder:
        """Rename a folder; its id, items and their ids stay."""
        with self.lock:
            folder = self.folder(path)
            folder.name = name
            folder.change_version += 1
            return folder

    def delete_folder(self, path: str) -> None:
        """Delete a folder and everything below it (a hard delete)."""
        with self.lock:
            folder = self.folder(path)
            if folder.parent is not None:
                folder.parent.children.remove(folder)
            for gone in [folder, *self.descendants(folder)]:
                for item_id in list(gone.items):
                    del self.items[item_id]
                del self.folders[gone.id]

    # -- items ------------------------------------------------------------------------------

    def item(self, item_id: str) -> Item:
        """The item with this id; ErrorInvalidIdMalformed / ErrorItemNotFound."""
        with self.lock:
            item = self.items.get(item_id)
            if item is None:
                self._check_id(item_id, self._item_prefix, len(self._item_prefix) + 12)
                raise not_found()
            return item

    def add(
        self,
        raw: bytes | ParsedMessage,
        folder: Folder | str,
        *,
        read: bool = False,
        flagged: bool = False,
        received: datetime | None = None,
        size: int | None = None,
    ) -> Item:
        """Deliver a message into ``folder`` (a Folder or a path); returns the new item.
        ``size`` overrides the reported size (the raw bytes stay what they are)."""
        with self.lock:
            if isinstance(folder, str):
                folder = self.create_folder(folder)
            msg = raw if isinstance(raw, ParsedMessage) else parse_message(raw)
            if size is not None:
                msg = replace(msg, declared_size=size)
            return self._place(
                msg,
                folder,
                received or datetime.now(UTC).replace(microsecond=0),
                read=read,
                flag_status=FLAG_FLAGGED if flagged else FLAG_NOT_FLAGGED,
            )

    def _place(
        self,
        msg: ParsedMessage,
        folder: Folder,
        received: datetime,
        *,
        read: bool,
        flag_status: int,
        version: int = 0,
    ) -> Item:
        serial = self._next()
        seq = self.tick()
        item = Item(
            id=self._item_id(serial),
            serial=serial,
            folder=folder,
            msg=msg,
            received=received,
            is_read=read,
            flag_status=flag_status,
            created_seq=seq,
            modified_seq=seq,
            read_seq=seq,
            version=version,
            has_internet_headers=folder.distinguished != "drafts",
        )
        folder.items[item.id] = item
        self.items[item.id] = item
        return item

    def _remove(self, item: Item) -> None:
        seq = self.tick()
        del item.folder.items[item.id]
        del self.items[item.id]
        item.folder.tombstones.append((seq, item.created_seq, item.id))

    def mark_read(self, item_id: str, read: bool = True) -> Item:
        """Change the read state (the change key stays, as in Exchange)."""
        with self.lock:
            item = self.item(item_id)
            if item.is_read != read:
                item.is_read = read
                item.read_seq = self.tick()
            return item

    def set_flag(self, item_id: str, status: int = FLAG_FLAGGED) -> Item:
        """Set the follow-up flag (PidTagFlagStatus): a modification, so a new change key."""
        with self.lock:
            item = self.item(item_id)
            item.flag_status = status
            item.version += 1
            item.modified_seq = self.tick()
            return item

    def move(self, item_id: str, destination: Folder) -> Item:
        """Move an item: a new item (new id) in ``destination``, a tombstone at the source."""
        with self.lock:
            item = self.item(item_id)
            self._remove(item)
            return self._place(
                item.msg,
                destination,
                item.received,
                read=item.is_read,
                flag_status=item.flag_status,
                version=item.version + 1,
            )

    def copy(self, item_id: str, destination: Folder) -> Item:
        """Copy an item into ``destination``: the copy has its own id."""
        with self.lock:
            item = self.item(item_id)
            return self._place(
                item.msg,
                destination,
                item.received,
                read=item.is_read,
                flag_status=item.flag_status,
            )

    def delete(self, item_id: str, how: str = HARD_DELETE) -> Item | None:
        """DeleteItem: HardDelete purges, SoftDelete moves to Recoverable Items/Deletions,
        MoveToDeletedItems moves to Deleted Items (from Deleted Items: a soft delete)."""
        with self.lock:
            item = self.item(item_id)
            if how == MOVE_TO_DELETED_ITEMS and item.folder.distinguished != "deleteditems":
                return self.move(item_id, self.by_distinguished["deleteditems"])
            if how in (SOFT_DELETE, MOVE_TO_DELETED_ITEMS):
                return self.move(item_id, self.by_distinguished["recoverableitemsdeletions"])
            if how == HARD_DELETE:
                self._remove(item)
                return None
            raise StoreError("ErrorInvalidRequest", f"Unknown DeleteType {how!r}.")

    # -- sync states ------------------------------------------------------------------------

    def sync_state(self, folder: Folder, watermark: int) -> str:
        """An opaque SyncState for ``folder`` as of ``watermark``."""
        data = b"MCEWS" + struct.pack(">QIQ", folder.serial, self.generation, watermark)
        return base64.b64encode(data + hashlib.sha1(data).digest()[:4]).decode()

    def read_sync_state(self, folder: Folder, state: str | None) -> int:
        """The watermark in ``state`` (0 without one); ErrorInvalidSyncStateData when the
        state is damaged, belongs to another folder or predates an invalidation."""
        if not state:
            return 0
        invalid = StoreError(
            "ErrorInvalidSyncStateData",
            "Synchronization state data is corrupt or otherwise invalid.",
        )
        try:
            raw = base64.b64decode(state, validate=True)
        except ValueError:
            raise invalid from None
        if (
            len(raw) != 29
            or not raw.startswith(b"MCEWS")
            or hashlib.sha1(raw[:25]).digest()[:4] != raw[25:]
        ):
            raise invalid
        serial, generation, watermark = struct.unpack(">QIQ", raw[5:25])
        if serial != folder.serial or generation != self.generation or watermark > self.seq:
            raise invalid
        return int(watermark)

    def changes(
        self,
        folder: Folder,
        watermark: int,
        ignore: set[str] = frozenset(),  # type: ignore[assignment]
    ) -> Iterator[tuple[int, str, Item | str]]:
        """Every change of ``folder`` after ``watermark`` as (seq, kind, item or id), in
        sequence order; kind is "Create", "Update", "ReadFlagChange" or "Delete"."""
        out: list[tuple[int, str, Item | str]] = []
        for item in folder.items.values():
            if item.id in ignore:
                continue
            if item.created_seq > watermark:
                out.append((item.created_seq, "Create", item))
            elif item.modified_seq > watermark:
                out.append((item.modified_seq, "Update", item))
            elif item.read_seq > watermark:
                out.append((item.read_seq, "ReadFlagChange", item))
        for seq, created, item_id in folder.tombstones:
            if seq > watermark and created <= watermark and item_id not in ignore:
                out.append((seq, "Delete", item_id))
        out.sort(key=lambda change: change[0])
        return iter(out)

    def invalidate_sync_states(self) -> None:
        """Make every sync state handed out so far invalid (as after a mailbox move)."""
        with self.lock:
            self.generation += 1

    # -- seeding ----------------------------------------------------------------------------

    def path_for(self, generated_folder: str) -> str:
        """Where a mailgen folder lives in this mailbox ("Trash" -> "Deleted Items")."""
        role = GENERATED_ROLES.get(generated_folder)
        if role is None:
            return generated_folder
        return self.by_distinguished[role].name

    def folder_for(self, generated_folder: str) -> Folder:
        """The folder of a mailgen folder, created if needed."""
        role = GENERATED_ROLES.get(generated_folder)
        if role is not None:
            return self.by_distinguished[role]
        return self.create_folder(generated_folder)

    def seed(
        self,
        messages: Iterable[GeneratedMessage],
        cache: dict[bytes, ParsedMessage] | None = None,
    ) -> dict[str, int]:
        """Deliver generated messages (flags, arrival time, folder kept); {path: count}.

        ``cache`` keeps parsed messages by raw bytes between stores (a test module seeds
        the same corpus many times); duplicates share one parse in any case.
        """
        counts: dict[str, int] = {}
        parsed = cache if cache is not None else {}
        with self.lock:
            for message in messages:
                folder = self.folder_for(message.folder)
                msg = parsed.get(message.raw)
                if msg is None:
                    msg = parsed[message.raw] = parse_message(message.raw)
                self._place(
                    msg,
                    folder,
                    message.internal_date.astimezone(UTC).replace(microsecond=0),
                    read="\\Seen" in message.flags,
                    flag_status=FLAG_FLAGGED if "\\Flagged" in message.flags else FLAG_NOT_FLAGGED,
                )
                path = self.path(folder)
                counts[path] = counts.get(path, 0) + 1
        return counts

    def truth(self) -> dict[str, tuple[int, int]]:
        """{path: (items, bytes)} for every mail folder: the oracle tests compare with."""
        with self.lock:
            return {self.path(f): (len(f.items), f.size) for f in self.mail_folders()}
