"""A raw header block split into fields, and RFC 2047 encoded-words decoded."""

from __future__ import annotations

import binascii
import re

from mailclean.mime.charsets import _decode_bytes, _fallback, _text


def parse_header_block(raw: bytes) -> dict[str, str]:
    """Parse a block of header lines into ``{lower-case name: unfolded value}``.

    The block is what IMAP returns for ``BODY[HEADER.FIELDS (...)]`` (or the head of a
    message file): CRLF or LF line ends, possibly closed by a blank line, where parsing
    stops. Folded lines (starting with a space or a tab) are joined to the field with one
    space. The first occurrence of a field wins: the fields mailclean reads (From, Date,
    Subject, Message-ID, List-*...) appear once in a well-formed message, and when a relay
    prepends a copy, the original is usually first in what the server returns. Lines
    without a colon, or whose name holds spaces, are ignored with their continuations.
    Bytes are read as UTF-8, or as cp1252 per field when that field is not valid UTF-8.
    """
    if not raw:
        return {}
    if isinstance(raw, str):
        text, mixed = raw, False
    elif not isinstance(raw, (bytes, bytearray, memoryview)):
        return {}
    else:
        data = bytes(raw)
        try:
            text, mixed = data.decode("utf-8"), False
        except UnicodeDecodeError:
            # Latin-1 maps each byte to one character, so each field's bytes can be
            # recovered and decoded on its own below.
            text, mixed = data.decode("latin-1"), True
    fields: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.split("\n"):
        if line[-1:] == "\r":
            line = line[:-1]
        if not line:
            break
        first = line[0]
        if first == " " or first == "\t":
            if current is not None:
                line = line.strip(" \t\r")
                if line:
                    current.append(line)
            continue
        name, sep, value = line.partition(":")
        name = name.rstrip(" \t").lower()
        if not sep or not name or " " in name or "\t" in name or name in fields:
            current = None
            continue
        current = [value.strip(" \t\r")]
        fields[name] = current
    out: dict[str, str] = {}
    for name, parts in fields.items():
        value = parts[0] if len(parts) == 1 else " ".join(p for p in parts if p)
        if mixed and not value.isascii():
            value = _fallback(value.encode("latin-1"))
        out[name] = value
    return out


_ENCODED_WORD = re.compile(r"=\?([^?\s]*)\?([bBqQ])\?(.*?)\?=")
_WS = re.compile(r"[ \t\r\n]+")
_NOT_B64 = re.compile(r"[^A-Za-z0-9+/]+")


def _word_bytes(encoding: str, text: str) -> bytes:
    if encoding in "bB":
        clean = _NOT_B64.sub("", text)
        if len(clean) % 4 == 1:
            clean = clean[:-1]  # a lone trailing sextet carries no whole byte
        try:
            return binascii.a2b_base64(clean + "=" * (-len(clean) % 4))
        except (binascii.Error, ValueError):
            return b""
    try:
        return binascii.a2b_qp(text.encode("utf-8", "replace"), header=True)
    except (binascii.Error, ValueError):
        return text.encode("utf-8", "replace")


def decode_words(value: str | None) -> str | None:
    """Decode the RFC 2047 encoded-words of a header value, collapse whitespace, strip.

    B and Q encodings in either case, words glued to plain text, bad base64 padding. Runs
    of adjacent encoded-words separated only by whitespace are joined without it (RFC 2047
    §6.2), and consecutive words in the same charset are decoded together, since mailers
    split multi-byte characters across words. A charset Python does not know (x-unknown)
    reads as UTF-8 when valid, else cp1252; invalid bytes in a known charset become
    U+FFFD. Only ASCII whitespace is collapsed: no-break spaces (French punctuation) stay.
    Returns None for None.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        value = _text(value) or ""
    if "=?" not in value:
        return _WS.sub(" ", value).strip(" ")
    out: list[str] = []
    pending = bytearray()
    pending_charset = ""
    last = 0
    after_word = False
    # No word can start after the last "?=": searching there would rescan the rest of the
    # value from every "=?" (quadratic on a long run of unclosed words).
    for m in _ENCODED_WORD.finditer(value, 0, value.rfind("?=") + 2):
        gap = value[last:m.start()]
        charset = m.group(1).lower()
        if gap and not (after_word and gap.isspace()):
            if pending:
                out.append(_decode_bytes(bytes(pending), pending_charset))
                pending.clear()
            out.append(gap)
        elif pending and charset != pending_charset:
            out.append(_decode_bytes(bytes(pending), pending_charset))
            pending.clear()
        pending_charset = charset
        pending += _word_bytes(m.group(2), m.group(3))
        last = m.end()
        after_word = True
    if pending:
        out.append(_decode_bytes(bytes(pending), pending_charset))
    out.append(value[last:])
    return _WS.sub(" ", "".join(out)).strip(" ")
