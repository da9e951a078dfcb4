"""The connector interface and the plain data that crosses it.

A connector knows its protocol and nothing of SQLite. :mod:`mailclean.sync` drives it
folder by folder and applies the changes it yields to the index, one transaction per
change, so that an interrupted sync resumes from the last change applied.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar

#: Folder roles understood by the rest of mailclean (RFC 6154 names, lower case).
ROLES = ("inbox", "sent", "drafts", "trash", "junk", "archive", "all", "flagged")
#: Roles of virtual folders (Gmail's All Mail and Starred, Dovecot virtual mailboxes) that
#: show messages stored in other folders: they are views, not copies. Counting them counts
#: those messages twice, and acting on them acts on the originals (trashing from Gmail's
#: All Mail trashes the message from every label).
VIRTUAL_ROLES = frozenset({"all", "flagged"})


SPECIAL_USE = {
    b"\\sent": "sent",
    b"\\drafts": "drafts",
    b"\\trash": "trash",
    b"\\junk": "junk",
    b"\\archive": "archive",
    b"\\all": "all",
    b"\\flagged": "flagged",
}
#: Last path component (lower case) -> role, for servers without SPECIAL-USE.
ROLE_NAMES = {
    "sent": "sent", "sent items": "sent", "sent messages": "sent", "sent mail": "sent",
    "éléments envoyés": "sent", "messages envoyés": "sent", "envoyés": "sent",
    "drafts": "drafts", "brouillons": "drafts",
    "trash": "trash", "deleted items": "trash", "deleted messages": "trash", "bin": "trash",
    "corbeille": "trash", "éléments supprimés": "trash",
    "junk": "junk", "spam": "junk", "junk e-mail": "junk", "junk email": "junk",
    "courrier indésirable": "junk", "indésirables": "junk", "pourriel": "junk",
    "pourriels": "junk",
    "archive": "archive", "archives": "archive",
}



def folder_role(path: str, delimiter: str | None, flags: tuple[bytes, ...]) -> str | None:
    """Role of a folder from its SPECIAL-USE flags, else from its name (English or French)."""
    for flag in flags:
        role = SPECIAL_USE.get(flag.lower())
        if role:
            return role
    if path.upper() == "INBOX":
        return "inbox"
    leaf = path.rsplit(delimiter, 1)[-1] if delimiter else path
    return ROLE_NAMES.get(leaf.strip().lower())



class ConnectorError(Exception):
    """A problem talking to a mail store, with a message fit for the user."""


class AuthenticationError(ConnectorError):
    """The server refused the credentials."""

    code: str | None = None
    """The server's reason as an RFC 5530 response code (``AUTHENTICATIONFAILED``...)."""


class ConnectionFailed(ConnectorError):
    """The server could not be reached, or the connection dropped and could not be restored."""


class TLSError(ConnectionFailed):
    """The TLS handshake failed (certificate not trusted, wrong name, protocol mismatch)."""


class FolderNotFound(ConnectorError):
    """A folder named by the user does not exist on the server."""


class NotSupported(ConnectorError):
    """The mail store cannot do what was asked (an action this connector does not have)."""


class UnsafeExpunge(ConnectorError):
    """Removing the chosen messages would also remove others the user had marked deleted.

    Without UIDPLUS, IMAP can only EXPUNGE every message marked ``\\Deleted`` in a folder;
    when some other program (or the user) marked messages that are not part of the
    selection, mailclean refuses rather than remove them too.
    """

    def __init__(self, folder: str, others: int, message: str) -> None:
        super().__init__(message)
        self.folder = folder
        self.others = others


@dataclass(frozen=True, slots=True)
class FolderInfo:
    """A folder as the server lists it, with its status counters where cheap to get."""

    path: str
    """Full path as shown to people (decoded from modified UTF-7), server separator kept."""
    delimiter: str = "/"
    role: str | None = None
    selectable: bool = True
    uidvalidity: int | None = None
    uidnext: int | None = None
    highestmodseq: int | None = None
    messages: int | None = None
    bytes: int | None = None
    """Total size from the server (STATUS SIZE) when it says so, else None."""


@dataclass(slots=True)
class FolderState:
    """What the index remembers of a folder between two syncs."""

    uidvalidity: int | None = None
    uidnext: int | None = None
    highestmodseq: int | None = None
    cursor: int = 0
    """Highest UID whose message is in the index (IMAP); chunks are committed in UID order."""
    sync_token: str | None = None
    """Opaque incremental-sync state for protocols that have one (EWS SyncFolderItems)."""
    indexed: int = 0
    """How many messages the index holds for the folder (computed, not stored)."""


@dataclass(frozen=True, slots=True)
class AttachmentMeta:
    """An attachment as seen in the MIME structure: never its content."""

    part: str
    """MIME part number as IMAP numbers it ("2", "2.1")."""
    filename: str | None
    mime_type: str
    size: int
    """Encoded size in bytes, as stored in the message."""
    decoded_size: int
    """Estimated size once decoded (base64 makes 4 bytes of 3)."""
    disposition: str | None = None
    encoding: str | None = None


@dataclass(slots=True)
class MessageMeta:
    """Headers, size, flags and attachment metadata of one message. Never its body."""

    server_id: str
    size: int
    uid: int | None = None
    change_key: str | None = None
    received_at: str | None = None
    """Server arrival time (INTERNALDATE), UTC ISO-8601."""
    date: str | None = None
    """Date header in UTC ISO-8601, None when absent or unparseable."""
    seen: bool = False
    flagged: bool = False
    message_id: str | None = None
    thread_key: str | None = None
    subject: str | None = None
    sender: str | None = None
    sender_name: str | None = None
    recipients: str | None = None
    list_id: str | None = None
    list_unsubscribe: str | None = None
    list_unsubscribe_post: str | None = None
    precedence: str | None = None
    auto_submitted: str | None = None
    feedback_id: str | None = None
    """Feedback-ID header: set by bulk-mail platforms (Gmail's sender feedback loop)."""
    mailer: str | None = None
    """X-Mailer header: names mailing platforms (Sendinblue, Mailchimp...)."""
    attachments: list[AttachmentMeta] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """What could not be parsed; the message is kept with its size all the same."""


@dataclass(frozen=True, slots=True)
class Quota:
    """Server storage quota in bytes; limit None when unlimited."""

    used: int
    limit: int | None
    root: str = ""


@dataclass(frozen=True, slots=True)
class ItemRef:
    """A message as the index knew it when an action was planned.

    Before acting, a connector checks that the server still holds exactly this message
    under ``server_id``: same size and Message-ID (IMAP, Maildir), same change key (EWS).
    """

    server_id: str
    size: int
    message_id: str | None = None
    change_key: str | None = None
    flagged: bool = False
    """Whether the message was flagged (starred) when planned: only a message the person
    picked knowingly may be; one flagged since is protected and left alone."""


#: Why a message cannot be acted on (values of :meth:`Connector.verify`'s answer).
VANISHED = "vanished"
"""No message with that server id any more (deleted or moved by someone else)."""
CHANGED = "changed"
"""A message is there but it is not the one the index knew (other size or Message-ID)."""
RESET = "reset"
"""The folder's identity changed (UIDVALIDITY): every server id of it is meaningless."""
FLAGGED = "flagged"
"""The message is flagged (starred) on the server now, and was not when planned: it is
protected, as flagged messages always are."""


@dataclass(slots=True)
class MoveResult:
    """What a move did: source server id -> its id in the target (None when unknown)."""

    moved: dict[str, str | None]
    target_validity: int | None = None
    floor_after: str | None = None
    """The target's next id after the move when the server said (saves asking)."""
    change_keys: dict[str, str] = field(default_factory=dict)
    """Source server id -> the moved item's new change key (EWS), where the server says."""


# Changes a connector yields while syncing one folder. Each is applied in its own
# transaction together with the state it carries, which is what makes resumption exact.


@dataclass(slots=True)
class FolderReset:
    """The folder's identity changed (UIDVALIDITY): every indexed row of it is stale."""

    state: FolderState


@dataclass(slots=True)
class MessagesAdded:
    """New (or replaced) messages; ``state`` is the folder state once they are stored."""

    messages: list[MessageMeta]
    state: FolderState


@dataclass(slots=True)
class MessagesRemoved:
    """Messages no longer on the server."""

    server_ids: list[str]


@dataclass(slots=True)
class FlagsChanged:
    """New flag values: ``(server_id, seen, flagged)``."""

    flags: list[tuple[str, bool, bool]]


@dataclass(slots=True)
class FolderSynced:
    """The folder is up to date; ``state`` is what to remember until next time."""

    state: FolderState
    messages: int | None = None
    bytes: int | None = None


Change = FolderReset | MessagesAdded | MessagesRemoved | FlagsChanged | FolderSynced


class Connector(ABC):
    """A mail store mailclean can read (and, in later versions, act on).

    Implementations raise :class:`ConnectorError` subclasses with messages meant for
    people; anything else escaping a connector is a bug.
    """

    kind: ClassVar[str]
    delete_mode: str = "permanent"
    """What :meth:`delete` does; Exchange's connector says "soft" or "hard"."""
    quota_is_measured: ClassVar[bool] = False
    """Whether :meth:`quota` is the server's own measurement (IMAP QUOTA), taken before
    and after each action to say what it did to the quota; not a sum mailclean makes."""
    sizes_are_mime: ClassVar[bool] = True
    """Whether a message's size is the length of its MIME text (IMAP, Maildir); Exchange
    counts stored properties too, so an export cannot compare the two."""

    @property
    def labels_are_folders(self) -> bool:
        """Whether the server shows one stored message in every folder it is labelled
        with (Gmail): the same message in two folders is then no duplicate, and trashing
        it from one folder trashes it from all. Known once connected."""
        return False

    @abstractmethod
    def connect(self) -> None:
        """Open the connection and log in. Raises AuthenticationError, ConnectionFailed."""

    @abstractmethod
    def close(self) -> None:
        """Log out and release the connection; never raises."""

    @abstractmethod
    def list_folders(self) -> list[FolderInfo]:
        """Every folder of the mailbox with its role and cheap status counters."""

    @abstractmethod
    def sync_folder(
        self,
        folder: FolderInfo,
        state: FolderState,
        known_ids: Callable[[], set[str]],
    ) -> Iterator[Change]:
        """Yield the changes that bring the index of ``folder`` up to date.

        ``state`` is what the index remembered; ``known_ids`` returns the server ids the
        index holds for this folder (called only when a diff is needed). The last change
        yielded is a :class:`FolderSynced`. Raises FolderNotFound, ConnectionFailed.
        """

    def quota(self) -> Quota | None:
        """Storage quota of the mailbox, or None where the store has none."""
        return None

    # -- actions: every method acts on exactly the refs given, never on anything else ----

    def folder_validity(self, folder: str) -> int | None:
        """The folder's current identity (IMAP UIDVALIDITY), None where ids never reset.

        Raises FolderNotFound.
        """
        raise NotSupported(self._unsupported("actions"))

    def next_id(self, folder: str) -> str | None:
        """A mark such that messages arriving in ``folder`` from now on have ids at or
        above it (IMAP UIDNEXT); None where ids are not ordered. Used to recognise our own
        copies after an interruption."""
        return None

    def verify(self, folder: str, validity: int | None, refs: list[ItemRef]) -> dict[str, str]:
        """Check that ``folder`` still holds each ref as the index knew it.

        Returns ``{server_id: VANISHED | CHANGED | RESET}`` for the refs that must not be
        touched; a ref absent from the answer is verified.
        """
        raise NotSupported(self._unsupported("actions"))

    def move(self, folder: str, refs: list[ItemRef], target: str) -> MoveResult:
        """Move exactly ``refs`` (already verified) from ``folder`` to ``target``.

        Raises UnsafeExpunge, before anything is moved, when the move cannot be done
        without removing other messages.
        """
        raise NotSupported(self._unsupported("move"))

    def delete(self, folder: str, refs: list[ItemRef]) -> list[str]:
        """Remove exactly ``refs`` from ``folder`` for good; the server ids removed.

        Raises UnsafeExpunge before anything is removed when that would remove others.
        """
        raise NotSupported(self._unsupported("delete"))

    def fetch(self, folder: str, refs: list[ItemRef]) -> Iterator[tuple[str, bytes]]:
        """``(server_id, whole message)`` for each ref still present, in order."""
        raise NotSupported(self._unsupported("export"))

    def locate(self, folder: str, refs: list[ItemRef], floor: str | None) -> dict[str, str]:
        """Find in ``folder`` a message with each ref's Message-ID and size, with an id at
        or above ``floor`` when given; ``{ref server_id: id found}``. Each id found answers
        one ref only."""
        raise NotSupported(self._unsupported("undo"))

    def create_folder(self, path: str) -> None:
        """Create ``path`` (an undo whose original folder was deleted meanwhile)."""
        raise NotSupported(self._unsupported("create folder"))

    def _unsupported(self, what: str) -> str:
        return f"the {self.kind} connector cannot {what}"

    def __enter__(self) -> Connector:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
