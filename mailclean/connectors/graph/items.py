"""Graph's JSON read into :class:`~mailclean.model.MessageMeta` and friends, and the query
pieces that ask for exactly what is read here.

The header fields mailclean indexes (list headers, References, Date...) come from
``internetMessageHeaders`` and are decoded by
:func:`mailclean.connectors.headers.meta_from_headers`, as for IMAP and EWS; a message that
never went through transport (a draft) has none, and its Graph properties say the same
things instead. The size is PR_MESSAGE_SIZE_EXTENDED (``Long 0x0E08``), which Graph
returns with its id re-cased (``Long 0xe08``): matched on its type and number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from mailclean import mime
from mailclean.connectors.headers import meta_from_headers
from mailclean.model import AttachmentMeta, MessageMeta

#: The size property, as asked for (PidTagMessageSizeExtended: 64-bit, exact past 2 GiB).
SIZE_PROPERTY = "Long 0x0E08"
SIZE_EXPAND = f"singleValueExtendedProperties($filter=id eq '{SIZE_PROPERTY}')"
#: What a delta page asks of each message: never the body nor attachment content.
MESSAGE_FIELDS = (
    "id,changeKey,parentFolderId,internetMessageId,subject,from,toRecipients,"
    "receivedDateTime,sentDateTime,isRead,flag,hasAttachments,isDraft,internetMessageHeaders"
)
#: What an identity check asks (verify, locate).
IDENTITY_FIELDS = "id,changeKey,parentFolderId,internetMessageId,flag"
ATTACHMENT_FIELDS = "id,name,size,contentType,isInline"
FOLDER_FIELDS = "id,displayName,parentFolderId,childFolderCount,totalItemCount,isHidden"

#: The header fields read from internetMessageHeaders (the rest is dropped unparsed).
HEADER_FIELDS = frozenset((
    "from", "to", "date", "subject", "message-id", "in-reply-to", "references", "list-id",
    "list-unsubscribe", "list-unsubscribe-post", "precedence", "auto-submitted",
    "feedback-id", "x-mailer",
))

_SAFE = "$,()'=@:/"
_FRACTION = re.compile(r"(\.\d+)")


def query(**params: str | int) -> str:
    """``?k=v&...`` with OData's ``$`` names (``select`` -> ``$select``), percent-encoded
    where a URL needs it (spaces in ``$filter``)."""
    parts = []
    for key, value in params.items():
        name = key if key in ("includeHiddenFolders",) else f"${key}"
        parts.append(f"{name}={quote(str(value), safe=_SAFE)}")
    return "?" + "&".join(parts)


def size_of(obj: dict) -> int | None:
    """The ``Long 0x0E08`` extended property of a message or folder, in bytes."""
    for prop in obj.get("singleValueExtendedProperties") or ():
        if not isinstance(prop, dict) or not _is_size(prop.get("id")):
            continue
        try:
            value = int(str(prop.get("value")))
        except ValueError:
            return None
        return value if 0 <= value < 2**63 else None
    return None


def _is_size(prop_id: object) -> bool:
    if not isinstance(prop_id, str):
        return False
    kind, _, tag = prop_id.strip().partition(" ")
    try:
        return kind.lower() == "long" and int(tag.strip(), 16) == 0x0E08
    except ValueError:
        return False


def utc_iso(value: object) -> str | None:
    """A Graph DateTimeOffset as UTC ISO-8601 to the second; None when unreadable."""
    if not isinstance(value, str) or not value:
        return None
    # Graph may give 7 fractional digits (.NET ticks); Python reads at most 6.
    text = _FRACTION.sub(lambda m: m.group(1)[:7], value.replace("Z", "+00:00"))
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).replace(microsecond=0).isoformat()


def is_flagged(obj: dict) -> bool:
    """Whether the message is flagged for follow-up (``flag.flagStatus``)."""
    flag = obj.get("flag")
    return isinstance(flag, dict) and flag.get("flagStatus") == "flagged"


def _address(recipient: object) -> tuple[str | None, str | None]:
    """``(name, lower-case address)`` of a Graph recipient."""
    email = recipient.get("emailAddress") if isinstance(recipient, dict) else None
    if not isinstance(email, dict):
        return None, None
    address = email.get("address")
    name = email.get("name")
    return (name if isinstance(name, str) and name else None,
            address.lower() if isinstance(address, str) and address else None)


def attachments_from_json(values: list[Any]) -> list[AttachmentMeta]:
    """Attachment metadata (never content) of an ``attachments`` listing, numbered 1, 2..."""
    out = []
    for n, a in enumerate((v for v in values if isinstance(v, dict)), start=1):
        size = a.get("size")
        size = size if isinstance(size, int) and not isinstance(size, bool) and \
            0 <= size < 2**63 else 0
        kind = str(a.get("@odata.type") or "")
        default = "message/rfc822" if kind.endswith("itemAttachment") else \
            "application/octet-stream"
        name = a.get("name")
        out.append(AttachmentMeta(
            part=str(n),
            filename=name if isinstance(name, str) else None,
            mime_type=str(a.get("contentType") or default).lower(),
            size=size,
            decoded_size=size,
            disposition="inline" if a.get("isInline") is True else "attachment",
            encoding=None,
        ))
    return out


def message_from_json(obj: dict, attachments: list[AttachmentMeta] | None = None) -> MessageMeta:
    """Build a :class:`MessageMeta` from a message of a delta page."""
    problems: list[str] = []
    size = size_of(obj)
    if size is None:
        problems.append("no item size")
        size = 0
    headers = obj.get("internetMessageHeaders")
    headers = [h for h in headers if isinstance(h, dict)] if isinstance(headers, list) else []
    block = "".join(
        f"{h.get('name')}: {h.get('value') or ''}\r\n" for h in headers
        if str(h.get("name") or "").lower() in HEADER_FIELDS
    )
    meta = meta_from_headers(
        block.encode("utf-8", "surrogatepass"),
        server_id=str(obj["id"]),
        size=size,
        received_at=utc_iso(obj.get("receivedDateTime")),
        seen=obj.get("isRead") is True,
        flagged=is_flagged(obj),
        attachments=attachments,
        problems=problems,
    )
    change_key = obj.get("changeKey")
    meta.change_key = change_key if isinstance(change_key, str) else None
    if not headers:
        # Messages that never went through transport (drafts, some sent items) have no
        # internet headers: their Graph properties say the same things.
        subject = obj.get("subject")
        meta.subject = subject if isinstance(subject, str) else None
        meta.sender_name, meta.sender = _address(obj.get("from") or obj.get("sender"))
        message_id = obj.get("internetMessageId")
        message_id = message_id if isinstance(message_id, str) else None
        meta.message_id = mime.normalize_message_id(message_id)
        meta.thread_key = mime.thread_key(message_id, None, None)
        meta.date = utc_iso(obj.get("sentDateTime"))
        to = [_address(r)[1] for r in obj.get("toRecipients") or ()]
        meta.recipients = ", ".join(dict.fromkeys(a for a in to if a)) or None
    return meta


@dataclass(frozen=True, slots=True)
class Identity:
    """What an identity check reads of a message."""

    id: str
    change_key: str | None
    parent: str | None
    message_id: str | None
    size: int | None
    flagged: bool


def identity_from_json(obj: dict) -> Identity:
    """The identity of a message as a GET of :data:`IDENTITY_FIELDS` answers it."""
    change_key, parent = obj.get("changeKey"), obj.get("parentFolderId")
    message_id = obj.get("internetMessageId")
    return Identity(
        id=str(obj.get("id")),
        change_key=change_key if isinstance(change_key, str) else None,
        parent=parent if isinstance(parent, str) else None,
        message_id=mime.normalize_message_id(message_id) if isinstance(message_id, str)
        else None,
        size=size_of(obj),
        flagged=is_flagged(obj),
    )
