"""The mailbox behind the loopback Microsoft Graph server: mail folders, messages, their ids
and change keys, and the change log that delta queries read.

What an Exchange Online mailbox keeps, reduced to what mailclean's tests need. The rules a
Graph client sees:

- **Folders** are the ``mailFolder`` resource
  (https://learn.microsoft.com/en-us/graph/api/resources/mailfolder): the well-known folders
  of a new mailbox sit under ``msgfolderroot`` (Top of Information Store), with the display
  names of the example in https://learn.microsoft.com/en-us/graph/api/user-list-mailfolders
  (Archive, Conversation History, Deleted Items, Drafts, Inbox, Junk Email, Outbox, Sent Items,
  and the hidden Clutter of its second example). Folder ids never change ("Container types
  (mailFolder, calendar, etc.) do not support immutable ID, but their regular IDs were already
  constant", https://learn.microsoft.com/en-us/graph/outlook-immutable-id).
- **Message ids.** A message has a regular REST id, which changes when the message moves
  ("This creates a new copy of the message in the destination folder and removes the original
  message", https://learn.microsoft.com/en-us/graph/api/message-move), and an immutable id,
  which "will NOT change if the item is moved to a different folder in the mailbox"
  (https://learn.microsoft.com/en-us/graph/outlook-immutable-id). Both are accepted on input;
  which one a response carries is the server's business (``Prefer: IdType``). Ids are
  case-sensitive, URL-safe base64; one that does not decode to this mailbox's format is
  malformed (400), one that does but names nothing is not found (404).
- **Change keys** (``changeKey``, the ``@odata.etag``) change with every modification of a
  message except its read state: the delta example of
  https://learn.microsoft.com/en-us/graph/delta-query-messages shows the message "marked as
  read" come back with the etag it had before, as Exchange (and MAPI) have it.
- **Sizes.** PR_MESSAGE_SIZE (``Long 0x0E08``) of a message is the length of its raw MIME with
  CRLF line ends, exactly (Exchange's figure is close to it; the contract suite compares
  exact numbers); a folder's is the sum of its messages'.
- **Delete.** DELETE puts the message in Recoverable Items (the ``recoverableitemsdeletions``
  well-known folder, https://learn.microsoft.com/en-us/graph/api/message-delete), outside the
  folder tree under ``msgfolderroot``; ``permanentDelete`` purges it
  (https://learn.microsoft.com/en-us/graph/api/message-permanentdelete).
- **Change log.** Every change takes the next number of one counter (``seq``). A message
  remembers when it arrived in its folder and when it last changed; a folder keeps a tombstone
  for every message that left it. A delta round (see :meth:`Store.delta_changes`) reads them.

The raw bytes are read once with the EWS fake's own MIME reader (:mod:`tests.ews.mime`), never
with mailclean's, so the tests compare two independent readings of the same bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import struct
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tests.ews.mime import ParsedMessage, parse_message

if TYPE_CHECKING:
    from mailclean.mailgen import GeneratedMessage

#: Well-known folder name -> (parent well-known name, English name, French name, hidden).
#: The names, the Clutter folder's isHidden and the list of names come from the mailFolder
#: resource page and the examples of https://learn.microsoft.com/en-us/graph/api/user-list-mailfolders.
WELL_KNOWN: dict[str, tuple[str | None, str, str, bool]] = {
    "msgfolderroot": (
        None,
        "Top of Information Store",
        "Partie supérieure de la banque d'informations",
        False,
    ),
    "archive": ("msgfolderroot", "Archive", "Archive", False),
    "clutter": ("msgfolderroot", "Clutter", "Courrier pêle-mêle", True),
    "conversationhistory": (
        "msgfolderroot",
        "Conversation History",
        "Historique des conversations",
        False,
    ),
    "deleteditems": ("msgfolderroot", "Deleted Items", "Éléments supprimés", False),
    "drafts": ("msgfolderroot", "Drafts", "Brouillons", False),
    "inbox": ("msgfolderroot", "Inbox", "Boîte de réception", False),
    "junkemail": ("msgfolderroot", "Junk Email", "Courrier indésirable", False),
    "outbox": ("msgfolderroot", "Outbox", "Boîte d'envoi", False),
    "sentitems": ("msgfolderroot", "Sent Items", "Éléments envoyés", False),
    # Outside the IPM subtree: not listed under msgfolderroot, reachable by its name.
    "recoverableitemsdeletions": (None, "Deletions", "Deletions", True),
}

#: mailgen folder -> well-known folder of the same role. The same table as the EWS fake's
#: (tests/ews/store.py GENERATED_ROLES), so a contract adapter maps both alike; mailgen's
#: "Archives" stays a folder of that name, as there (the well-known Archive is "Archive").
GENERATED_ROLES = {
    "INBOX": "inbox",
    "Sent": "sentitems",
    "Drafts": "drafts",
    "Trash": "deleteditems",
    "Junk": "junkemail",
    "Archive": "archive",
}

FLAG_NOT_FLAGGED, FLAG_FLAGGED, FLAG_COMPLETE = "notFlagged", "flagged", "complete"

#: Prefixes of the ids, as Exchange's REST ids start (folder "AQMk", message "AAMk",
#: immutable "AAkALg"); what follows is this fake's own encoding.
_FOLDER_PREFIX, _REGULAR_PREFIX, _IMMUTABLE_PREFIX = "AQMkAD", "AAMkAD", "AAkALg"



class GraphError(Exception):
    """A Graph error for one request: HTTP status, ``error.code`` and ``error.message``."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def item_not_found() -> GraphError:
    """404 ErrorItemNotFound, with Exchange's wording."""
    return GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")


def id_malformed() -> GraphError:
    """400 ErrorInvalidIdMalformed."""
    return GraphError(400, "ErrorInvalidIdMalformed", "Id is malformed.")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def _unb64(value: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(value.encode("ascii"))
    except (ValueError, binascii.Error, UnicodeEncodeError):
        raise id_malformed() from None


def crlf(raw: bytes) -> bytes:
    """``raw`` with every bare LF made CRLF (Exchange keeps MIME with CRLF line ends)."""
    if raw.count(b"\n") == raw.count(b"\r\n"):
        return raw
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@dataclass(eq=False)
class Folder:
    """A mail folder: its messages (by serial), child folders and tombstones."""

    id: str
    serial: int
    name: str
    parent: Folder | None
    well_known: str | None = None
    hidden: bool = False
    messages: dict[int, Message] = field(default_factory=dict)
    children: list[Folder] = field(default_factory=list)
    tombstones: list[Tombstone] = field(default_factory=list)

    @property
    def size(self) -> int:
        """PR_MESSAGE_SIZE_EXTENDED of the folder: the sum of its messages' sizes."""
        return sum(m.size for m in self.messages.values())

    @property
    def unread(self) -> int:
        """Messages not read."""
        return sum(1 for m in self.messages.values() if not m.is_read)


@dataclass(frozen=True)
class Tombstone:
    """A message that left a folder: when, when it had arrived, and the ids it had there."""

    seq: int
    arrived_seq: int
    regular_id: str
    immutable_id: str


@dataclass(eq=False)
class Message:
    """A message item. ``msg`` is the parsed raw MIME (shared between copies of one corpus)."""

    serial: int
    folder: Folder
    msg: ParsedMessage
    received: datetime
    is_read: bool = False
    flag_status: str = FLAG_NOT_FLAGGED
    categories: list[str] = field(default_factory=list)
    generation: int = 0
    """Bumped by every move: part of the regular id, so the old regular id stops resolving."""
    version: int = 0
    """Bumped by every modification but the read state: part of the change key."""
    arrived_seq: int = 0
    modified_seq: int = 0
    last_modified: datetime = field(default_factory=lambda: datetime.now(UTC))
    deleted_from: str | None = None
    """For messages in Recoverable Items: the path of the folder DELETE took them from."""

    @property
    def raw(self) -> bytes:
        """The raw MIME, CRLF line ends."""
        return self.msg.raw

    @property
    def size(self) -> int:
        """PR_MESSAGE_SIZE: the CRLF length of the raw MIME."""
        return self.msg.size

    @property
    def is_draft(self) -> bool:
        """Messages of Drafts are unsent drafts."""
        return self.folder.well_known == "drafts"


@dataclass(frozen=True)
class MessageInfo:
    """What tests read about one message (``Store.messages``, ``Store.recoverable``)."""

    id: str
    immutable_id: str
    change_key: str
    raw: bytes
    is_read: bool
    flagged: bool
    internet_message_id: str | None
    size: int
    received: datetime
    path: str | None
    deleted_from: str | None = None


@dataclass
class DeltaState:
    """What a delta state token stands for. ``pending`` is set for a round in progress
    (a ``$skiptoken``): the changes not yet sent, and the watermark the round ends at."""

    folder_id: str
    watermark: int
    options: dict[str, Any]
    pending: list[tuple[str, Any]] | None = None
    round_end: int = 0


class Store:
    """One mailbox. Every public method takes the store's lock: the HTTP server is threaded."""

    def __init__(self, email: str, *, locale: str = "en", display_name: str | None = None) -> None:
        self.email = email.lower()
        self.locale = locale
        self.display_name = display_name or self.email.split("@")[0].replace(".", " ").title()
        #: The user's object id (a GUID), as in /users/{id}.
        self.user_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"mailbox:{self.email}"))
        self.lock = threading.RLock()
        self.seq = 0
        self._serial = 0
        self._prefix = hashlib.sha256(self.email.encode()).digest()[:8]
        self.by_id: dict[str, Folder] = {}
        self.by_well_known: dict[str, Folder] = {}
        self.by_serial: dict[int, Message] = {}
        self.purged: list[MessageInfo] = []
        """What permanentDelete took (the Purges folder, which no client reads)."""
        self._delta: dict[str, DeltaState] = {}
        for name, (parent, english, french, hidden) in WELL_KNOWN.items():
            folder = self._new_folder(
                french if locale == "fr" else english,
                self.by_well_known[parent] if parent else None,
                hidden=hidden,
            )
            folder.well_known = name
            self.by_well_known[name] = folder

    # -- ids --------------------------------------------------------------------------------

    def _next(self) -> int:
        self._serial += 1
        return self._serial

    def tick(self) -> int:
        """The next change sequence number."""
        self.seq += 1
        return self.seq

    def regular_id(self, m: Message) -> str:
        """The message's REST id (changes with every move)."""
        return _REGULAR_PREFIX + _b64(
            b"M" + self._prefix + struct.pack(">QI", m.serial, m.generation)
        )

    def immutable_id(self, m: Message) -> str:
        """The message's immutable id."""
        return _IMMUTABLE_PREFIX + _b64(b"I" + self._prefix + struct.pack(">Q", m.serial))

    def message_id(self, m: Message, immutable: bool) -> str:
        """The id in the format a request asked for."""
        return self.immutable_id(m) if immutable else self.regular_id(m)

    def attachment_id(self, m: Message, index: int, immutable: bool) -> str:
        """An attachment's id: it embeds its message's id, so it follows the same format."""
        if immutable:
            data = b"B" + self._prefix + struct.pack(">QH", m.serial, index)
            return _IMMUTABLE_PREFIX + _b64(data)
        data = b"A" + self._prefix + struct.pack(">QIH", m.serial, m.generation, index)
        return _REGULAR_PREFIX + _b64(data)

    @staticmethod
    def change_key(m: Message) -> str:
        """A new value after every modification (read state excepted)."""
        data = b"\x09\x00\x00\x00\x16\x00\x00\x00" + struct.pack(">QI", m.serial, m.version)
        return base64.b64encode(data + hashlib.sha1(data).digest()[:6]).decode()

    def _decode(self, value: str, kinds: dict[bytes, str]) -> tuple[str, tuple[int, ...]]:
        """(kind, fields) of an id of this mailbox; 400 malformed, 404 another mailbox's."""
        for prefix in (_REGULAR_PREFIX, _IMMUTABLE_PREFIX, _FOLDER_PREFIX):
            if value.startswith(prefix):
                raw = _unb64(value[len(prefix) :])
                break
        else:
            raise id_malformed()
        formats = {b"M": ">QI", b"I": ">Q", b"A": ">QIH", b"B": ">QH", b"F": ">I"}
        tag = raw[:1]
        fmt = formats.get(tag)
        if fmt is None or len(raw) != 9 + struct.calcsize(fmt):
            raise id_malformed()
        if raw[1:9] != self._prefix:
            raise item_not_found()
        kind = kinds.get(tag)
        if kind is None:
            raise id_malformed()
        return kind, struct.unpack(fmt, raw[9:])

    # -- folders ----------------------------------------------------------------------------

    def _new_folder(self, name: str, parent: Folder | None, *, hidden: bool = False) -> Folder:
        serial = self._next()
        folder_id = _FOLDER_PREFIX + _b64(b"F" + self._prefix + struct.pack(">I", serial))
        folder = Folder(folder_id, serial, name, parent, hidden=hidden)
        self.by_id[folder.id] = folder
        if parent is not None:
            parent.children.append(folder)
        return folder

    @property
    def msgfolderroot(self) -> Folder:
        """Top of Information Store: the parent of every listed mail folder."""
        return self.by_well_known["msgfolderroot"]

    def folder_ref(self, ref: str) -> Folder:
        """The folder named by an id or a well-known name (case-insensitive, as the docs
        write them both "Inbox" and "inbox"); 404 / 400 as Graph answers."""
        with self.lock:
            folder = self.by_id.get(ref) or self.by_well_known.get(ref.lower())
            if folder is not None:
                return folder
            if not ref.startswith(_FOLDER_PREFIX):
                # Neither an id of ours nor a well-known name: Graph calls it malformed.
                raise id_malformed()
            self._decode(ref, {b"F": "folder"})
            raise item_not_found()

    def path(self, folder: Folder) -> str:
        """Display names from under Top of Information Store down, "/"-joined."""
        names = []
        node: Folder | None = folder
        while node is not None and node is not self.msgfolderroot:
            names.append(node.name)
            node = node.parent
        if node is None:
            raise ValueError(f"{folder.name!r} is not under Top of Information Store")
        return "/".join(reversed(names))

    def path_or_none(self, folder: Folder) -> str | None:
        """:meth:`path`, or None for a folder outside the IPM subtree (Recoverable Items)."""
        try:
            return self.path(folder)
        except ValueError:
            return None

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

    def folders(self) -> list[Folder]:
        """Every folder under Top of Information Store, depth first, parents first."""
        with self.lock:
            out: list[Folder] = []

            def visit(node: Folder) -> None:
                for child in node.children:
                    out.append(child)
                    visit(child)

            visit(self.msgfolderroot)
            return out

    def create_folder(self, path: str, *, hidden: bool = False) -> Folder:
        """Create ``path`` and its missing parents under Top of Information Store; ``hidden``
        applies to the folders created."""
        with self.lock:
            node = self.msgfolderroot
            for name in path.split("/"):
                matches = [f for f in node.children if f.name == name]
                node = matches[0] if matches else self._new_folder(name, node, hidden=hidden)
            return node

    def create_child(self, parent: Folder, name: str, *, hidden: bool = False) -> Folder:
        """POST childFolders: 409 ErrorFolderExists when ``parent`` has a child of that name
        (compared without case, as Exchange does)."""
        with self.lock:
            if any(f.name.casefold() == name.casefold() for f in parent.children):
                raise GraphError(
                    409, "ErrorFolderExists", "A folder with the specified name already exists."
                )
            return self._new_folder(name, parent, hidden=hidden)

    def recreate_folder(self, path: str) -> Folder:
        """The folder at ``path`` gets a new id (same name, same place, same messages, which
        get new regular ids): whatever a client kept of the old folder is now stale, and
        the old folder id answers 404."""
        with self.lock:
            old = self.folder(path)
            parent = old.parent
            assert parent is not None
            index = parent.children.index(old)
            parent.children.remove(old)
            del self.by_id[old.id]
            new = self._new_folder(old.name, parent, hidden=old.hidden)
            parent.children.remove(new)
            parent.children.insert(index, new)
            new.children = old.children
            for child in new.children:
                child.parent = new
            for m in list(old.messages.values()):
                m.folder = new
                m.generation += 1
                m.arrived_seq = self.tick()
                new.messages[m.serial] = m
            return new

    # -- messages ---------------------------------------------------------------------------

    def message_ref(self, ref: str) -> Message:
        """The message named by a regular or immutable id; 400 malformed / 404 not found
        (a regular id from before a move is not found)."""
        with self.lock:
            kind, fields = self._decode(ref, {b"M": "regular", b"I": "immutable"})
            m = self.by_serial.get(fields[0])
            if m is None or (kind == "regular" and fields[1] != m.generation):
                raise item_not_found()
            return m

    def attachment_ref(self, m: Message, ref: str) -> int:
        """The index of the attachment ``ref`` of ``m``."""
        kind, fields = self._decode(ref, {b"A": "regular", b"B": "immutable"})
        if fields[0] != m.serial or (kind == "regular" and fields[1] != m.generation):
            raise item_not_found()
        index = fields[-1]
        if index >= len(m.msg.attachments):
            raise item_not_found()
        return index

    def add_message(
        self,
        folder: Folder,
        raw: bytes | ParsedMessage,
        *,
        is_read: bool = False,
        flag_status: str = FLAG_NOT_FLAGGED,
        received: datetime | None = None,
    ) -> Message:
        """Deliver a message into ``folder``."""
        with self.lock:
            msg = raw if isinstance(raw, ParsedMessage) else parse_message(crlf(raw))
            when = (received or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
            seq = self.tick()
            m = Message(
                serial=self._next(),
                folder=folder,
                msg=msg,
                received=when,
                is_read=is_read,
                flag_status=flag_status,
                arrived_seq=seq,
                modified_seq=seq,
                last_modified=when,
            )
            folder.messages[m.serial] = m
            self.by_serial[m.serial] = m
            return m

    def add(
        self,
        path: str,
        raw: bytes,
        *,
        is_read: bool = False,
        flagged: bool = False,
        received: datetime | None = None,
    ) -> str:
        """Deliver raw bytes into the folder at ``path`` (created if needed); the new id."""
        with self.lock:
            m = self.add_message(
                self.create_folder(path),
                raw,
                is_read=is_read,
                flag_status=FLAG_FLAGGED if flagged else FLAG_NOT_FLAGGED,
                received=received,
            )
            return self.regular_id(m)

    def _leave(self, m: Message) -> None:
        """Take ``m`` out of its folder, leaving a tombstone there."""
        folder = m.folder
        del folder.messages[m.serial]
        folder.tombstones.append(
            Tombstone(self.tick(), m.arrived_seq, self.regular_id(m), self.immutable_id(m))
        )

    def move_message(self, m: Message, destination: Folder) -> Message:
        """Move: a new regular id and change key, the same immutable id, a tombstone left."""
        with self.lock:
            self._leave(m)
            m.folder = destination
            m.generation += 1
            m.version += 1
            m.arrived_seq = m.modified_seq = self.tick()
            m.last_modified = datetime.now(UTC).replace(microsecond=0)
            destination.messages[m.serial] = m
            return m

    def move(self, message_id: str, dest_path: str) -> str:
        """Move the message to the folder at ``dest_path`` (a path or a well-known name); its
        new regular id."""
        with self.lock:
            m = self.message_ref(message_id)
            try:
                destination = self.folder(dest_path)
            except KeyError:
                destination = self.folder_ref(dest_path)
            return self.regular_id(self.move_message(m, destination))

    def delete_message(self, m: Message) -> Message:
        """DELETE: the message goes to Recoverable Items (Deletions)."""
        with self.lock:
            origin = self.path_or_none(m.folder)
            self.move_message(m, self.by_well_known["recoverableitemsdeletions"])
            m.deleted_from = origin
            return m

    def delete(self, message_id: str) -> None:
        """DELETE a message, as another client would (to Recoverable Items)."""
        with self.lock:
            self.delete_message(self.message_ref(message_id))

    def permanent_delete_message(self, m: Message) -> None:
        """permanentDelete: gone for every client (kept in :attr:`purged` for tests)."""
        with self.lock:
            info = self._info(m)
            self._leave(m)
            del self.by_serial[m.serial]
            self.purged.append(info)

    def permanent_delete(self, message_id: str) -> None:
        """permanentDelete a message, as another client would."""
        with self.lock:
            self.permanent_delete_message(self.message_ref(message_id))

    def update_message(
        self,
        m: Message,
        *,
        is_read: bool | None = None,
        flag_status: str | None = None,
        categories: list[str] | None = None,
    ) -> Message:
        """PATCH: a change for delta queries; a new change key unless only the read state
        changed."""
        with self.lock:
            changed = False
            modified = False
            if is_read is not None and is_read != m.is_read:
                m.is_read = is_read
                changed = True
            if flag_status is not None and flag_status != m.flag_status:
                m.flag_status = flag_status
                changed = modified = True
            if categories is not None and categories != m.categories:
                m.categories = list(categories)
                changed = modified = True
            if changed:
                m.modified_seq = self.tick()
                m.last_modified = datetime.now(UTC).replace(microsecond=0)
            if modified:
                m.version += 1
            return m

    def set_flags(
        self, message_id: str, is_read: bool | None = None, flagged: bool | None = None
    ) -> None:
        """Change the read state and/or the follow-up flag, as another client would."""
        with self.lock:
            status = None if flagged is None else (FLAG_FLAGGED if flagged else FLAG_NOT_FLAGGED)
            self.update_message(self.message_ref(message_id), is_read=is_read, flag_status=status)

    def _info(self, m: Message) -> MessageInfo:
        return MessageInfo(
            id=self.regular_id(m),
            immutable_id=self.immutable_id(m),
            change_key=self.change_key(m),
            raw=m.raw,
            is_read=m.is_read,
            flagged=m.flag_status == FLAG_FLAGGED,
            internet_message_id=m.msg.message_id,
            size=m.size,
            received=m.received,
            path=self.path_or_none(m.folder),
            deleted_from=m.deleted_from,
        )

    def messages(self, path: str) -> list[MessageInfo]:
        """The messages of the folder at ``path``, in arrival order."""
        with self.lock:
            folder = self.folder(path)
            return [self._info(m) for m in folder.messages.values()]

    def recoverable(self, path: str | None = None) -> list[MessageInfo]:
        """What DELETE sent to Recoverable Items (only what came from ``path`` if given)."""
        with self.lock:
            deletions = self.by_well_known["recoverableitemsdeletions"]
            return [
                self._info(m)
                for m in deletions.messages.values()
                if path is None or m.deleted_from == path
            ]

    def status(self) -> dict[str, tuple[int, int]]:
        """{path: (messages, bytes)} for every folder under Top of Information Store."""
        with self.lock:
            return {self.path(f): (len(f.messages), f.size) for f in self.folders()}

    def truth(self) -> dict[str, tuple[int, int]]:
        """The oracle tests compare with: the same as :meth:`status`."""
        return self.status()

    # -- seeding ----------------------------------------------------------------------------

    def path_for(self, generated_folder: str) -> str:
        """Where a mailgen folder lives in this mailbox ("Trash" -> "Deleted Items")."""
        role = GENERATED_ROLES.get(generated_folder)
        if role is None:
            return generated_folder
        return self.by_well_known[role].name

    def folder_for(self, generated_folder: str) -> Folder:
        """The folder of a mailgen folder, created if needed."""
        role = GENERATED_ROLES.get(generated_folder)
        if role is not None:
            return self.by_well_known[role]
        return self.create_folder(generated_folder)

    def seed(
        self,
        messages: Iterable[GeneratedMessage],
        cache: dict[bytes, ParsedMessage] | None = None,
    ) -> dict[str, int]:
        """Deliver generated messages (flags, arrival time, folder kept); {path: count}.
        ``cache`` keeps parsed messages by raw bytes between stores."""
        counts: dict[str, int] = {}
        parsed = cache if cache is not None else {}
        with self.lock:
            for message in messages:
                folder = self.folder_for(message.folder)
                msg = parsed.get(message.raw)
                if msg is None:
                    msg = parsed[message.raw] = parse_message(crlf(message.raw))
                self.add_message(
                    folder,
                    msg,
                    is_read="\\Seen" in message.flags,
                    flag_status=FLAG_FLAGGED if "\\Flagged" in message.flags else FLAG_NOT_FLAGGED,
                    received=message.internal_date,
                )
                path = self.path(folder)
                counts[path] = counts.get(path, 0) + 1
        return counts

    # -- delta ------------------------------------------------------------------------------

    def delta_changes(
        self, folder: Folder, watermark: int, change_type: str | None
    ) -> list[tuple[str, Any]]:
        """The changes of ``folder`` after ``watermark``, in sequence order: ("message",
        serial) for messages that arrived or changed, ("removed", Tombstone) for messages
        known at ``watermark`` that left since. ``change_type`` is the ``changeType`` custom
        option (created, updated, deleted) of https://learn.microsoft.com/en-us/graph/api/message-delta.

        The initial round (watermark 0) gives what exists now: "Resources that have been
        created and deleted prior to the initial delta query won't be returned"
        (https://learn.microsoft.com/en-us/graph/delta-query-overview)."""
        with self.lock:
            out: list[tuple[int, str, Any]] = []
            for m in folder.messages.values():
                created = m.arrived_seq > watermark
                updated = not created and m.modified_seq > watermark
                if (created and change_type in (None, "created")) or (
                    updated and change_type in (None, "updated")
                ):
                    out.append((max(m.arrived_seq, m.modified_seq), "message", m.serial))
            if watermark and change_type in (None, "deleted"):
                for stone in folder.tombstones:
                    if stone.seq > watermark and stone.arrived_seq <= watermark:
                        out.append((stone.seq, "removed", stone))
            out.sort(key=lambda change: change[0])
            return [(kind, what) for _seq, kind, what in out]

    def new_delta_token(self, state: DeltaState) -> str:
        """Keep ``state`` under a new opaque token."""
        with self.lock:
            token = secrets.token_urlsafe(24)
            self._delta[token] = state
            return token

    def delta_state(self, token: str) -> DeltaState | None:
        """The state behind a token, or None (never issued, or expired)."""
        with self.lock:
            return self._delta.get(token)

    def expire_delta_tokens(self) -> None:
        """Forget every state token: deltaLinks and nextLinks handed out answer 410."""
        with self.lock:
            self._delta.clear()
