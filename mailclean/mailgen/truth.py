"""What a generated message is, and the facts its truth is stated in (see the package's
docstring for the rules).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

REFERENCE_DATE = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)

OWNER_ADDRESS = "agent@mairie-exemple.fr"
OWNER_NAME = "Camille Moreau"
DOMAIN = "mairie-exemple.fr"

SEEN, FLAGGED, ANSWERED = "\\Seen", "\\Flagged", "\\Answered"

KINDS = (
    "personal", "thread-reply", "newsletter", "notification", "attachment",
    "duplicate", "sent", "spam", "malformed",
)
MALFORMED_KINDS = (
    "unknown-charset", "missing-boundary", "unclosed-boundary", "no-date", "bad-header-encoding",
)
#: Folders write_maildir always creates, even when no message goes there.
STANDARD_FOLDERS = ("Sent", "Drafts", "Trash", "Junk", "Archives")
#: generate() needs room for its fixed feature set.
MIN_MESSAGES = 120


@dataclass(frozen=True)
class AttachmentTruth:
    """What a reader of the message should find about one attachment."""

    filename: str | None
    mime_type: str
    decoded_size: int
    encoding: str


@dataclass(frozen=True)
class GeneratedMessage:
    """One message of the corpus: its raw bytes, where it lives, and the truth about it."""

    folder: str
    raw: bytes
    flags: frozenset[str]
    internal_date: datetime
    kind: str
    message_id: str | None
    subject: str | None
    sender: str | None
    sender_name: str | None
    date: datetime | None
    thread_root: str | None
    list_id: str | None
    list_unsubscribe: str | None
    list_unsubscribe_post: str | None
    precedence: str | None
    auto_submitted: str | None
    attachments: tuple[AttachmentTruth, ...]
    malformed: str | None

    @property
    def size(self) -> int:
        """RFC822.SIZE: the length of the raw message with CRLF line ends."""
        return len(self.raw)

    def as_dict(self) -> dict[str, object]:
        """The truth as JSON-ready values (no raw bytes; dates in ISO 8601)."""
        return {
            "folder": self.folder,
            "size": self.size,
            "flags": sorted(self.flags),
            "internal_date": self.internal_date.isoformat(),
            "kind": self.kind,
            "message_id": self.message_id,
            "subject": self.subject,
            "sender": self.sender,
            "sender_name": self.sender_name,
            "date": self.date.isoformat() if self.date else None,
            "thread_root": self.thread_root,
            "list_id": self.list_id,
            "list_unsubscribe": self.list_unsubscribe,
            "list_unsubscribe_post": self.list_unsubscribe_post,
            "precedence": self.precedence,
            "auto_submitted": self.auto_submitted,
            "attachments": [
                {"filename": a.filename, "mime_type": a.mime_type,
                 "decoded_size": a.decoded_size, "encoding": a.encoding}
                for a in self.attachments
            ],
            "malformed": self.malformed,
        }
