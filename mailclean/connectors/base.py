"""The connector interface: the ABC, the changes a sync yields, and the errors.

The plain data that crosses it (folders, messages, quotas) is in :mod:`mailclean.model`.

A connector knows its protocol and nothing of SQLite. :mod:`mailclean.sync` drives it
folder by folder and applies the changes it yields to the index, one transaction per
change, so that an interrupted sync resumes from the last change applied.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from mailclean.model import (  # the data that crosses the interface
    FolderInfo,
    FolderState,
    ItemRef,
    MessageMeta,
    Quota,
)
from mailclean.retry import NETWORK


@dataclass
class Credentials:
    """How secrets reach a connector: it never reads the config or the keyring itself.

    ``password`` is called only when the protocol needs one (the password, or an
    application's client secret). ``load_token`` and ``save_token`` keep an OAuth2 token
    between runs (in the system keyring, for the built-in accounts).
    """

    password: Callable[[], str]
    source: str = ""
    """Where the password comes from, in words, for a refused login."""
    load_token: Callable[[], dict | None] = lambda: None
    save_token: Callable[[dict], None] = lambda token: None


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


class MailboxNotFound(ConnectorError):
    """The server has no such mailbox (an admin opening a mailbox by its address): trying
    again will not help."""


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
    quota_is_measured: ClassVar[bool] = False
    """Whether :meth:`quota` is the server's own measurement (IMAP QUOTA), taken before
    and after each action to say what it did to the quota; not a sum mailclean makes."""
    sizes_are_mime: ClassVar[bool] = True
    """Whether a message's size is the length of its MIME text (IMAP, Maildir); Exchange
    counts stored properties too, so an export cannot compare the two."""
    uses_password: ClassVar[bool] = False
    """Whether accounts of this kind log in with a password (the config then checks where
    it comes from: ``password`` and ``password_env``)."""

    @property
    def delete_mode(self) -> str:
        """What :meth:`delete` does; Exchange's connector says "soft" or "hard"."""
        return "permanent"

    @property
    def labels_are_folders(self) -> bool:
        """Whether the server shows one stored message in every folder it is labelled
        with (Gmail): the same message in two folders is then no duplicate, and trashing
        it from one folder trashes it from all. Known once connected."""
        return False

    @classmethod
    def from_account(cls, account: Any, credentials: Credentials) -> Connector:
        """Build a connector from an ``[accounts]`` entry of this kind: ``account`` has the
        entry's settings as attributes (``name``, ``kind``, ``host``...), secrets come
        through ``credentials``. Raises ConnectorError for settings it cannot use."""
        raise NotSupported(f"{cls.__name__} cannot be built from an account entry")

    @classmethod
    def account_problems(cls, account: Any, where: str) -> list[str]:
        """Every mistake in an ``[accounts]`` entry of this kind, one translated line each
        beginning with ``where`` (e.g. "account 'work': 'host' is missing"). The config
        checks only what every kind shares; a setting's value that may be a secret (a URL
        with a login) is never repeated."""
        return []

    @property
    def read_timeout(self) -> float:
        """Seconds one read may wait for the server before the connection counts as dead
        (the ``[settings]`` timeout unless the connector was given its own)."""
        return NETWORK.timeout

    def abort(self) -> None:
        """Stop, from another thread, a call blocked on the server: it returns soon with
        ConnectionFailed. The default does nothing (each request has its own timeout)."""
        return

    def folder_size(self, folder: str) -> tuple[int, int]:
        """(messages, bytes) of ``folder`` counted on the server, for stores whose listing
        gives no size; NotSupported where the listing always has them."""
        raise NotSupported(f"{type(self).__name__} lists every folder's size")

    def foreign_prefixes(self) -> tuple[str, ...]:
        """Path prefixes of folders the mailbox sees but that belong to others (other
        users' and shared namespaces): someone else's volume. None by default."""
        return ()

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
