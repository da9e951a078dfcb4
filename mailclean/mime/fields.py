"""Single header fields: Date, Message-ID and thread keys, the mailing-list fields and how
a list can be left.
"""

from __future__ import annotations

import email.message
import email.utils
import re
from datetime import UTC, datetime


def parse_date(value: str | None) -> str | None:
    """Date header -> ``"YYYY-MM-DDTHH:MM:SS+00:00"`` in UTC, or None when absent or
    unreadable. Trailing comments (``+0100 (CET)``) are ignored, a date without a zone or
    with ``-0000`` is taken as UTC, an ISO 8601 date (sent by some scripts) is accepted,
    and years outside 1970..2100 give None."""
    if not value or not isinstance(value, str):
        return None
    try:
        dt = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError, AttributeError):
        try:
            dt = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    try:
        dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    if not 1970 <= dt.year <= 2100:
        return None
    return dt.isoformat(timespec="seconds")


_MSG_ID = re.compile(r"<([^<>]*)>")  # not <\s*(.*?)\s*>: cubic on "<" and 5,000 spaces


def normalize_message_id(value: str | None) -> str | None:
    """``"<abc@x>"`` -> ``"abc@x"``: the first id of the value, without brackets or
    surrounding spaces (case kept: ids are case-sensitive); the first word when there are
    no brackets; None when empty."""
    if not value or not isinstance(value, str):
        return None
    for m in _MSG_ID.finditer(value):
        ident = "".join(m.group(1).split())
        if ident:
            return ident
    words = value.replace("<", " ").replace(">", " ").split()
    return words[0] if words else None


def thread_key(
    message_id: str | None, in_reply_to: str | None, references: str | None
) -> str | None:
    """Thread root id: the first id of References, else the first id of In-Reply-To, else
    the message's own id (all normalized); None when there is none."""
    return (
        normalize_message_id(references)
        or normalize_message_id(in_reply_to)
        or normalize_message_id(message_id)
    )


def _unfolded(value: str | None) -> str | None:
    if value is None:
        return None
    if "\n" in value:
        value = " ".join(part.strip() for part in value.splitlines())
    return value.strip() or None


def list_headers(headers: dict[str, str]) -> dict[str, str | None]:
    """The mailing-list fields of a :func:`parse_header_block` result, normalized.

    ``list_id``: the id inside ``<>`` in lower case (``"Annonces <annonces.ville.fr>"`` ->
    ``"annonces.ville.fr"``), else the whole value stripped; ``precedence`` and
    ``auto_submitted``: lower case, stripped; ``list_unsubscribe`` and
    ``list_unsubscribe_post``: unfolded and stripped. None when absent or empty.
    """
    get = headers.get
    list_id = _unfolded(get("list-id"))
    if list_id:
        m = _MSG_ID.search(list_id)
        if m and m.group(1).strip():
            list_id = m.group(1).strip().lower()
    precedence = _unfolded(get("precedence"))
    auto = _unfolded(get("auto-submitted"))
    return {
        "list_id": list_id,
        "list_unsubscribe": _unfolded(get("list-unsubscribe")),
        "list_unsubscribe_post": _unfolded(get("list-unsubscribe-post")),
        "precedence": precedence.lower() if precedence else None,
        "auto_submitted": auto.lower() if auto else None,
    }


_URI = re.compile(r"<([^<>]*)>")  # the scheme is stripped below
_ONE_CLICK = re.compile(r"(?:^|[\s;,])list-unsubscribe\s*=\s*one-click(?:$|[\s;,])", re.I)


def unsubscribe_method(list_unsubscribe: str | None, list_unsubscribe_post: str | None) -> str:
    """How a list can be left: ``"one-click"`` (an https URI and ``List-Unsubscribe-Post:
    List-Unsubscribe=One-Click``, RFC 8058), ``"https"`` (an http or https URI),
    ``"mailto"``, or ``"none"``. URIs are read inside ``<>`` (RFC 2369), or as
    comma-separated words when a sender forgot the brackets."""
    if not list_unsubscribe or not isinstance(list_unsubscribe, str):
        return "none"
    uris = _URI.findall(list_unsubscribe) or [
        w.strip() for w in list_unsubscribe.split(",") if w.strip()
    ]
    schemes = {uri.split(":", 1)[0].strip().lower() for uri in uris if ":" in uri}
    if "https" in schemes and isinstance(list_unsubscribe_post, str) and _ONE_CLICK.search(
        list_unsubscribe_post.strip()
    ):
        return "one-click"
    if "https" in schemes or "http" in schemes:
        return "https"
    if "mailto" in schemes:
        return "mailto"
    return "none"
