"""Turning a raw header block into :class:`MessageMeta`, the same way for every connector."""

from __future__ import annotations

from mailclean import mime
from mailclean.model import AttachmentMeta, MessageMeta


def meta_from_headers(
    raw_headers: bytes,
    *,
    server_id: str,
    size: int,
    uid: int | None = None,
    received_at: str | None = None,
    seen: bool = False,
    flagged: bool = False,
    attachments: list[AttachmentMeta] | None = None,
    problems: list[str] | None = None,
) -> MessageMeta:
    """Decode the header fields mailclean indexes and assemble the message's metadata."""
    problems = list(problems or [])
    headers = mime.parse_header_block(raw_headers)
    name, address = mime.parse_address(headers.get("from"))
    date = mime.parse_date(headers.get("date"))
    if headers.get("date") and date is None:
        problems.append("unreadable Date header")
    lists = mime.list_headers(headers)
    recipients = mime.parse_address_list(headers.get("to"))
    return MessageMeta(
        server_id=server_id,
        uid=uid,
        size=size,
        received_at=received_at,
        date=date,
        seen=seen,
        flagged=flagged,
        message_id=mime.normalize_message_id(headers.get("message-id")),
        thread_key=mime.thread_key(
            headers.get("message-id"), headers.get("in-reply-to"), headers.get("references")
        ),
        subject=mime.decode_words(headers.get("subject")),
        sender=address,
        sender_name=name,
        recipients=", ".join(recipients) or None,
        list_id=lists["list_id"],
        list_unsubscribe=lists["list_unsubscribe"],
        list_unsubscribe_post=lists["list_unsubscribe_post"],
        precedence=lists["precedence"],
        auto_submitted=lists["auto_submitted"],
        feedback_id=headers.get("feedback-id"),
        mailer=headers.get("x-mailer"),
        attachments=attachments or [],
        problems=problems,
    )
