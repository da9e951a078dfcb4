"""The plain data every layer shares: folder roles, folders, messages, attachments, quotas.

Below everything: the connectors fill these types, the index stores them, the rules and
the app read them. Nothing here imports another mailclean module, so importing the model
loads nothing else (no connector, no config).
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
