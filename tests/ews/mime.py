"""What an Exchange store derives from a raw RFC 5322 message: the item's properties.

The loopback server (:mod:`tests.ews.server`) stores generated messages as items; this
module reads their raw bytes once, the way Exchange's MIME conversion does, and keeps the
results: decoded subject and addresses, the internet headers (unfolded, as EWS lists them in
``InternetMessageHeaders``), the Date, and the attachments with their decoded sizes.

It deliberately does not use :mod:`mailclean.mime`, so that tests compare two independent
readings of the same bytes. The MIME walk splits multiparts on their boundaries itself,
because exact decoded sizes need the exact part bytes; Python's :mod:`email` package only
parses each part's header fields (RFC 2231 parameters, encoded words).

Simplifications, stated once: an attachment without a file name keeps no name (Exchange
would invent one, such as the forwarded message's subject); a ``text/calendar`` part stays a
file (Exchange would turn the message into a meeting request); TNEF is not unpacked.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.header
import email.policy
import email.utils
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

_HEAD_END = re.compile(rb"\r?\n\r?\n")
_NOT_B64 = re.compile(rb"[^A-Za-z0-9+/]")
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True, slots=True)
class Attachment:
    """One attachment as Exchange lists it: never more than its metadata and content."""

    name: str | None
    content_type: str
    size: int
    """Decoded size in bytes (what the store keeps)."""
    content: bytes
    content_id: str | None = None
    is_inline: bool = False
    is_item: bool = False
    """A forwarded message (``message/rfc822``): an ItemAttachment, not a FileAttachment."""


@dataclass(frozen=True, slots=True)
class Mailbox:
    """A name and an SMTP address."""

    name: str | None
    address: str | None


@dataclass(slots=True)
class ParsedMessage:
    """The properties of a message item, computed once from its raw bytes."""

    raw: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)
    subject: str | None = None
    sender: Mailbox | None = None
    to: list[Mailbox] = field(default_factory=list)
    cc: list[Mailbox] = field(default_factory=list)
    message_id: str | None = None
    in_reply_to: str | None = None
    references: str | None = None
    date: datetime | None = None
    attachments: list[Attachment] = field(default_factory=list)
    declared_size: int | None = None
    """A size to report instead of the raw length (tests of folders over 2 GiB)."""

    @property
    def size(self) -> int:
        """Item size: the length of the raw message."""
        return self.declared_size if self.declared_size is not None else len(self.raw)

    def header(self, name: str) -> str | None:
        """First value of a header field (case-insensitive), or None."""
        lower = name.lower()
        for key, value in self.headers:
            if key.lower() == lower:
                return value
        return None


def xml_text(value: str) -> str:
    """Drop the characters XML 1.0 cannot carry (control characters from broken headers)."""
    return _XML_ILLEGAL.sub("", value)


def _line_text(line: bytes) -> str:
    # Exchange converts 8-bit header bytes to Unicode; UTF-8 when valid, else Latin-1.
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("latin-1")


def split_head(raw: bytes) -> tuple[bytes, bytes]:
    """(header block, body) of a message or MIME part."""
    if raw.startswith((b"\r\n", b"\n")):
        return b"", raw[2:] if raw.startswith(b"\r\n") else raw[1:]
    m = _HEAD_END.search(raw)
    if m is None:
        return raw, b""
    return raw[: m.start()], raw[m.end() :]


def header_fields(head: bytes) -> list[tuple[str, str]]:
    """Header fields in order, unfolded (CRLF before white space removed, RFC 5322 2.2.3)."""
    fields: list[tuple[str, str]] = []
    for line in re.split(rb"\r?\n(?![ \t])", head):
        if not line:
            continue
        text = _line_text(re.sub(rb"\r?\n(?=[ \t])", b"", line))
        name, sep, value = text.partition(":")
        if not sep or not name or " " in name.strip():
            continue
        fields.append((name.strip(), value.strip()))
    return fields


def decode_header_text(value: str | None) -> str | None:
    """RFC 2047 decoding; unknown charsets read as UTF-8 when valid, else Latin-1."""
    if value is None:
        return None
    if "=?" not in value:
        return " ".join(value.split()) or None
    try:
        chunks = email.header.decode_header(value)
    except (ValueError, binascii.Error):
        return value
    out: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            out.append(chunk)
            continue
        text = None
        if charset:
            try:
                text = chunk.decode(charset)
            except (LookupError, UnicodeDecodeError):
                text = None
        out.append(text if text is not None else _line_text(chunk))
    return " ".join("".join(out).split()) or None


def _mailboxes(value: str | None) -> list[Mailbox]:
    if not value:
        return []
    out = []
    for name, address in email.utils.getaddresses([value]):
        if not address and not name:
            continue
        out.append(Mailbox(decode_header_text(name) if name else None, address.lower() or None))
    return out


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_message(raw: bytes) -> ParsedMessage:
    """Read ``raw`` into the properties Exchange stores for a message item."""
    head, _body = split_head(raw)
    msg = ParsedMessage(raw=raw, headers=header_fields(head))
    msg.subject = decode_header_text(msg.header("Subject"))
    senders = _mailboxes(msg.header("From"))
    msg.sender = senders[0] if senders else None
    msg.to = _mailboxes(msg.header("To"))
    msg.cc = _mailboxes(msg.header("Cc"))
    msg.message_id = msg.header("Message-ID")
    msg.in_reply_to = msg.header("In-Reply-To")
    msg.references = msg.header("References")
    msg.date = _date(msg.header("Date"))
    msg.attachments = list(_walk(raw))
    return msg


# -- the MIME walk -------------------------------------------------------------------------


def _part_info(head: bytes) -> email.message.Message:
    return email.message_from_bytes(head + b"\r\n\r\n", policy=email.policy.compat32)


def _split_multipart(body: bytes, boundary: str) -> list[bytes]:
    """The parts between the delimiters of ``boundary`` (without their CRLFs); a missing
    close delimiter leaves the last part running to the end of ``body``."""
    dash = b"--" + boundary.encode("latin-1", "replace")
    parts: list[bytes] = []
    start: int | None = None
    pos = 0
    while True:
        at = body.find(dash, pos)
        if at < 0:
            break
        pos = at + len(dash)
        # A delimiter starts a line and ends it, after an optional "--" and white space.
        if at > 0 and body[at - 1 : at] != b"\n":
            continue
        line_end = body.find(b"\n", pos)
        rest = body[pos : line_end if line_end >= 0 else len(body)]
        closing = rest.startswith(b"--")
        if rest[2 if closing else 0 :].strip(b" \t\r"):
            continue  # "--boundary-more": another, longer boundary
        if start is not None:
            cut = at - 1 if at > 0 else 0
            cut -= 1 if cut > 0 and body[cut - 1 : cut] == b"\r" else 0
            parts.append(body[start:cut] if at > 0 else b"")
        if closing:
            return parts
        start = line_end + 1 if line_end >= 0 else len(body)
        pos = start
    if start is not None:
        parts.append(body[start:])
    return parts


def _decoded_size(content: bytes, encoding: str) -> tuple[int, bytes]:
    if encoding == "base64":
        try:
            decoded = binascii.a2b_base64(content)
        except binascii.Error:
            pass  # truncated: fall back to trimming what cannot be decoded
        else:
            return len(decoded), decoded
        data = _NOT_B64.sub(b"", content)
        data = data[: len(data) - len(data) % 4] if len(data) % 4 == 1 else data
        decoded = base64.b64decode(data + b"=" * (-len(data) % 4))
        return len(decoded), decoded
    if encoding == "quoted-printable":
        decoded = binascii.a2b_qp(content)
        return len(decoded), decoded
    return len(content), content


def _filename(info: email.message.Message) -> str | None:
    name = info.get_filename()
    if name is None:
        return None
    name = str(name)
    if "=?" in name:
        name = decode_header_text(name) or name
    return name


def _walk(raw: bytes) -> Iterator[Attachment]:
    head, body = split_head(raw)
    info = _part_info(head)
    if info.get_content_maintype() == "multipart":
        # A multipart is never an attachment; one whose boundary never occurs has no parts.
        boundary = info.get_param("boundary")
        if isinstance(boundary, str) and boundary:
            for part in _split_multipart(body, boundary):
                yield from _walk(part)
        return
    yield from _leaf(info, info.get_content_type(), body)


def _leaf(info: email.message.Message, ctype: str, body: bytes) -> Iterator[Attachment]:
    name = _filename(info)
    disposition = info.get_content_disposition()
    if ctype in ("text/plain", "text/html") and name is None and disposition != "attachment":
        return
    encoding = str(info.get("Content-Transfer-Encoding", "7bit")).strip().lower()
    size, content = _decoded_size(body, encoding)
    cid = info.get("Content-ID")
    content_id = str(cid).strip().strip("<>") if cid else None
    yield Attachment(
        name=name,
        content_type=ctype,
        size=size,
        content=content,
        content_id=content_id,
        is_inline=disposition == "inline" or (disposition is None and content_id is not None),
        is_item=ctype == "message/rfc822",
    )
