"""Fetched exchangelib messages read into :class:`~mailclean.model.MessageMeta`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mailclean import mime
from mailclean.connectors.ews.properties import _FLAGGED, HEADER_FIELDS
from mailclean.connectors.headers import meta_from_headers
from mailclean.model import AttachmentMeta, MessageMeta


def _utc_iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return datetime.fromtimestamp(int(value.timestamp()), UTC).isoformat()


def message_from_item(item: Any) -> MessageMeta:
    """Build a :class:`MessageMeta` from a fetched exchangelib Message."""
    problems: list[str] = []
    size = item.size
    # exchangelib takes any integer the XML holds: Size is an xs:int, the index's 64-bit.
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size < 2**63:
        problems.append("no item size")
        size = 0
    attachments = [
        AttachmentMeta(
            part=str(n),
            filename=a.name,
            mime_type=(a.content_type or _default_type(a)).lower(),
            size=_attachment_size(a.size),
            decoded_size=_attachment_size(a.size),
            disposition="inline" if a.is_inline else "attachment",
            encoding=None,
        )
        for n, a in enumerate(item.attachments or [], start=1)
    ]
    headers = item.headers or []
    block = "".join(
        f"{h.name}: {h.value or ''}\r\n" for h in headers if (h.name or "").lower() in HEADER_FIELDS
    )
    meta = meta_from_headers(
        block.encode("utf-8", "surrogatepass"),
        server_id=item.id,
        size=size,
        received_at=_utc_iso(item.datetime_received),
        seen=bool(item.is_read),
        flagged=getattr(item, "mailclean_flag", None) == _FLAGGED,
        attachments=attachments,
        problems=problems,
    )
    meta.change_key = item.changekey
    if not headers:
        # Items that never went through transport (drafts, some sent items) have no
        # internet headers: their EWS properties say the same things.
        author = item.author
        meta.subject = item.subject
        meta.sender = author.email_address.lower() if author and author.email_address else None
        meta.sender_name = author.name if author else None
        meta.message_id = mime.normalize_message_id(item.message_id)
        meta.thread_key = mime.thread_key(item.message_id, item.in_reply_to, item.references)
        meta.date = _utc_iso(item.datetime_sent)
        meta.recipients = item.display_to or None
    return meta


def _attachment_size(size: object) -> int:
    """An attachment's Size (an xs:int) as stored: 0 when absent or out of range."""
    if isinstance(size, int) and not isinstance(size, bool) and 0 <= size < 2**32:
        return size
    return 0


def _default_type(attachment: Any) -> str:
    return (
        "message/rfc822"
        if type(attachment).__name__ == "ItemAttachment"
        else "application/octet-stream"
    )
